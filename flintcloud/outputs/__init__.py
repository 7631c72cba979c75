"""Simulation outputs: raw gcbm_output.db, compiled tables, maps, diffs."""
