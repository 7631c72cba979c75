"""Raster layers, sidecars, the grid, and pixels grouped into stands."""
