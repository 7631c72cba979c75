"""Write GCBM configuration sets and read them back."""
