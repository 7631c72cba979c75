"""`flintcloud mosaic GCBM_OUTPUT_DIR --out SPATIAL_DIR`: GCBM's per-block maps -> <Indicator>_<year>.tif."""

from __future__ import annotations

import click

from flintcloud.outpaths import check_output
from flintcloud.outputs.spatial import mosaic_gcbm_blocks


@click.command("mosaic")
@click.argument("gcbm_output_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the maps.")
@click.option(
    "--start-year", type=int, required=True, help="First simulated year (timestep 1); year = start + timestep - 1."
)
def command(gcbm_output_dir: str, out_dir: str, start_year: int) -> None:
    """Merge WriteVariableGeotiff's <Indicator>/<tile>/<Indicator>_<tile>_<block>_<timestep>.tif blocks."""
    check_output(out_dir, inputs=[gcbm_output_dir], what="maps folder")
    written = mosaic_gcbm_blocks(gcbm_output_dir, out_dir, start_year=start_year)
    click.echo(f"wrote {len(written)} maps to {out_dir}")
