"""flintcloud: reproducible GCBM (CBM-CFS3) simulations.

Data flows one way: project (GCBM config set + layers + gcbm_input.db)
-> landscape (validated rasters, stands) -> simulation (engine)
-> outputs (raw gcbm_output.db, compiled tables, maps) -> report.
"""

__version__ = "0.1.0"
