"""The built-in demo GCBM project, generated from a seed."""
