"""`flintcloud demo OUT_DIR`: generate the built-in demo GCBM project from a seed."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import check_output
from flintcloud.demo import SIZE_PRESETS, generate_demo_project


@click.command("demo")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=42, show_default=True, type=int,
              help="Random seed; the same seed gives byte-identical files.")
@click.option("--size", default="small", show_default=True,
              help=f"Landscape size: a preset ({', '.join(f'{k}={v}x{v}' for k, v in SIZE_PRESETS.items())} "
                   "pixels), pixels per side (e.g. 500), or a total pixel count (e.g. 1e6px); past 4000 "
                   "pixels per side (1e8px = 10000) the layers span several 1-degree tiles.")
@click.option("--tiles", default=None, type=int,
              help="1-degree tiles per side of the layers (default: the fewest that hold the landscape).")
@click.option("--start-year", default=2010, show_default=True, type=int, help="First year with disturbances.")
@click.option("--end-year", default=2020, show_default=True, type=int, help="Last year with disturbances.")
@click.option("--growth-curves", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Growth curves CSV for the db (default: data/demo/growth_curves.csv).")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists.")
def command(out_dir: Path, seed: int, size: str, start_year: int, end_year: int,
            growth_curves: Path | None, overwrite: bool, tiles: int | None) -> None:
    """Write the demo project (layers/tiled/*.tiff + .json, study_area.json, input_database/gcbm_input.db)."""
    check_output(out_dir, inputs=[growth_curves], what="demo project folder")
    path = generate_demo_project(out_dir, seed=seed, size=size, start_year=start_year, end_year=end_year,
                                 growth_curves=growth_curves, overwrite=overwrite, tiles=tiles)
    click.echo(f"wrote demo project to {path}")
