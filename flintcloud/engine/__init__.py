"""Simulation engines: embedded libcbm, and GCBM in its container."""
