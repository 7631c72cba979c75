"""`flintcloud run CONFIG_DIR --out OUT_DIR`: simulate a GCBM project.

Same library call as the `simulate` stage (flintcloud.run.run_project). Ends
with one summary line: pixels, unique stands, years, seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from flintcloud.run import ENGINES, run_project


@click.command("run")
@click.argument("config_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder (gcbm_output.db, compiled_gcbm_output.db, spatial/, run_summary.json).")
@click.option("--engine", type=click.Choice(ENGINES), default="libcbm", show_default=True,
              help="libcbm: embedded engine; gcbm-container: real GCBM in Docker (needs --image).")
@click.option("--map-years", "map_years", default=None, metavar="all|Y1,Y2,…",
              help="Years that get GeoTIFF maps (default: every year; some years on very large landscapes).")
@click.option("--image", default=None, help="gcbm-container: the GCBM image pinned by digest (name@sha256:…).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty OUT_DIR.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="libcbm: run here, or chunks of stands on Dask workers (same outputs; docs/scaling.md).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (tcp://host:8786); implies --executor dask. Without it dask starts a LocalCluster.")
@click.option("--temperature-range", "temperature_range", type=(float, float), default=None, metavar="LOW HIGH",
              help="Plausible mean annual temperatures (deg C); others are refused, as validate refuses them "
                   "(params.yaml simulation.temperature_range; default -60 60).")
@click.option("--timings", "timings_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the run's wall-clock seconds by part (grouping, spinup, steps, maps, raw db, "
                   "compile) as JSON to this file (kept out of OUT_DIR, whose files depend only on the inputs).")
def command(config_dir: Path, out_dir: Path, engine: str, map_years: str | None, image: str | None,
            overwrite: bool, progress: bool, executor: str, scheduler: str | None,
            temperature_range: tuple[float, float] | None, timings_path: Path | None) -> None:
    """Simulate the GCBM project in CONFIG_DIR (the folder holding gcbm_config.cfg)."""
    settings = {"kind": "dask", "address": scheduler} if scheduler else executor
    if temperature_range is not None and not temperature_range[0] < temperature_range[1]:
        raise click.BadParameter(f"{temperature_range[0]:g} {temperature_range[1]:g}: LOW must be below HIGH",
                                 param_hint="--temperature-range")
    summary = run_project(config_dir, out_dir, engine=engine, map_years=map_years, overwrite=overwrite,
                          image=image, progress=progress, executor=settings, temperature_range=temperature_range)
    if timings_path is not None:
        record = {"seconds": round(float(summary.seconds), 3), "pixels": int(summary.n_pixels),
                  "unique_stands": int(summary.n_stands), "years": int(summary.years), "engine": summary.engine,
                  **(getattr(summary, "timings", None) or {})}
        timings_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"{out_dir}: {summary.n_pixels} pixels, {summary.n_stands} unique stands, "
        f"{summary.years} years, {summary.seconds:.1f} s ({summary.engine})"
    )
