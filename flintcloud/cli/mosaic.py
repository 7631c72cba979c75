"""`flintcloud mosaic GCBM_OUTPUT_DIR --out SPATIAL_DIR`: GCBM's per-block maps -> <Indicator>_<year>.tif."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import check_output
from flintcloud.outputs.spatial import mosaic_gcbm_blocks


@click.command("mosaic")
@click.argument("gcbm_output_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the maps.")
@click.option(
    "--start-year", type=int, required=True, help="First simulated year (timestep 1); year = start + timestep - 1."
)
@click.option(
    "--grid-from", "config_dir", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A GCBM config folder: put the maps on its input layers' grid, as `flintcloud run` writes them with "
         "either engine (default: the blocks' own extent).",
)
def command(gcbm_output_dir: str, out_dir: str, start_year: int, config_dir: Path | None) -> None:
    """Merge WriteVariableGeotiff's <Indicator>/<tile>/<Indicator>_<tile>_<block>_<timestep>.tif blocks."""
    check_output(out_dir, inputs=[gcbm_output_dir] + ([config_dir] if config_dir else []), what="maps folder")
    grid = None
    if config_dir is not None:
        from flintcloud.gcbm.config import read_gcbm_config
        from flintcloud.landscape.raster import read_landscape

        grid = read_landscape(read_gcbm_config(config_dir)).grid
    written = mosaic_gcbm_blocks(gcbm_output_dir, out_dir, start_year=start_year, grid=grid)
    click.echo(f"wrote {len(written)} maps to {out_dir}")
