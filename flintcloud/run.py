"""Run a GCBM project end to end: config -> landscape -> stands -> engine -> outputs.

    run_project(config_dir, out_dir, engine="libcbm", map_years=None, overwrite=False)

Everything is written under a temporary sibling of `out_dir` and moved into
place only when the whole run succeeded (flintcloud.atomic.atomic_dir): a
failed or interrupted run leaves `out_dir` exactly as it was. A non-empty
`out_dir` is only replaced with `overwrite=True`.

Output layout (docs/architecture.md): gcbm_output.db, compiled_gcbm_output.db,
spatial/<Indicator>_<year>.tif, run_summary.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from flintcloud.atomic import atomic_dir
from flintcloud.errors import ConfigError, DatabaseError, LayerError, OutputError, SimulationError
from flintcloud.gcbm.config import GcbmConfig, read_gcbm_config
from flintcloud.memory import check_pixel_index
from flintcloud.outpaths import check_output
from flintcloud.params import ENGINE_NAMES, OUTPUT_LAYOUT

ENGINES = ENGINE_NAMES  # the registry: flintcloud.params.ENGINES
# Output layout (flintcloud.params.OUTPUT_LAYOUT), kept as names for existing callers.
RAW_DB = OUTPUT_LAYOUT.raw_db
COMPILED_DB = OUTPUT_LAYOUT.compiled_db
SPATIAL_DIR = OUTPUT_LAYOUT.spatial_dir
SUMMARY_FILE = OUTPUT_LAYOUT.summary_file
# Above this many cell-years, map_years=None maps only some years (first, last, every 10th).
LARGE_CELL_YEARS = 10**9
MAP_THREADS = 2  # GeoTIFF writer threads beside the engine (flintcloud.outputs.spatial.MapWriter)


def resolve_map_years(map_years, config: GcbmConfig, n_cells: int) -> list[int]:
    """The years that get maps. Pure.

    None: every simulated year, unless the landscape is large (grid cells x
    years > LARGE_CELL_YEARS): then the first year, every 10th year and the
    last. "all": every year. A list: those years (each must be simulated).
    """
    years = config.years
    if map_years is None:
        if n_cells * len(years) <= LARGE_CELL_YEARS:
            return years
        return sorted({years[0], years[-1], *(y for y in years if (y - years[0]) % 10 == 0)})
    if isinstance(map_years, str):
        if map_years.strip().lower() == "all":
            return years
        map_years = [p for p in map_years.replace(",", " ").split() if p]
    if isinstance(map_years, int):
        map_years = [map_years]
    if not isinstance(map_years, Iterable):
        raise ConfigError(f"map years {map_years!r}: expected 'all', a year or a list of years")
    out = []
    for y in map_years:
        try:
            year = int(y)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"map year {y!r} is not a year") from err
        if year not in years:
            raise ConfigError(
                f"map year {year} is outside the simulation ({config.start_year}-{config.end_year}, "
                f"from {str(config.config_dir / 'localdomain.json')!r})"
            )
        out.append(year)
    return sorted(set(out))


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace a non-empty output folder unless asked to."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output path {str(out_dir)!r} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(
            f"output folder {str(out_dir)!r} is not empty; pass overwrite=True (--overwrite) to replace it"
        )


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, desc: str, unit: str):
    """A tqdm bar on stderr (a no-op callback when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, leave=False) as bar:
        yield bar.update


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While running, SIGTERM unwinds like Ctrl-C, so atomic_dir removes the half-written temp dir.

    (The default SIGTERM action kills the process on the spot and would leave `.OUT.tmp-*` behind.)
    Only possible from the main thread; elsewhere the handler is left alone.
    """

    def handler(signum, frame):
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class PreparedRun:
    """Everything the engine needs, read the one way every caller (run, tests, service) reads it."""

    config: GcbmConfig
    inputs: Any  # flintcloud.inputdb.reader.InputDb
    landscape: Any  # flintcloud.landscape.raster.Landscape
    stands: Any  # flintcloud.landscape.stands.StandSet


def prepare_run(config: GcbmConfig | str | os.PathLike, *, progress: bool = False,
                temperature_range: tuple[float, float] | None = None) -> PreparedRun:
    """Config -> gcbm_input.db -> landscape -> stands, with spatial units, disturbance type names
    and codes resolved through the db (a sidecar's `disturbance_type_id` is a disturbance_type.code),
    then `preflight`. `temperature_range`: params.yaml's `simulation.temperature_range` (None: its
    registered default, -60..60 deg C).

    Raises LayerError when no pixel can be simulated.
    """
    from flintcloud.inputdb.reader import read_input_db
    from flintcloud.landscape.raster import read_landscape
    from flintcloud.landscape.stands import group_stands

    if not isinstance(config, GcbmConfig):
        config = read_gcbm_config(config)
    inputs = read_input_db(config.db_path)
    landscape = read_landscape(config)
    # the pixel -> stand index must fit in memory: refuse with the figure and the limit before grouping
    check_pixel_index(landscape.grid.width, landscape.grid.height, str(config.config_dir))
    with _progress_bar(progress, landscape.grid.n_cells, "grouping pixels", "px") as tick:
        stands = group_stands(
            landscape, inputs.spatial_unit_id, inputs.disturbance_type_ids(), inputs.disturbance_type_codes(),
            progress=tick,
        )
    if stands.n_stands == 0:
        raise LayerError(
            f"{str(config.config_dir)!r}: no pixel can be simulated (every pixel lacks a classifier, an initial "
            f"age or a temperature; counts by reason: {stands.excluded})"
        )
    preflight(config, inputs, stands, temperature_range=temperature_range)
    return PreparedRun(config=config, inputs=inputs, landscape=landscape, stands=stands)


def preflight(config: GcbmConfig, inputs, stands, *, temperature_range: tuple[float, float] | None = None) -> None:
    """Refuse, before any simulation, what `flintcloud validate` rejects on the same inputs (one
    message per problem, the same sentences: flintcloud.landscape.checks): negative ages, ages past
    the growth curves (from the age layer or a scalar initial_age), missing temperatures and ones
    outside `temperature_range` (a layer's or the scalar mean_annual_temperature; None: the registered
    default of simulation.temperature_range), classifier sets without a growth curve.
    Cheap: it looks at the unique stands, not at pixels."""
    from flintcloud.inputdb.reader import growth_curve_problems, match_growth_curves
    from flintcloud.landscape.checks import (
        scalar_age_messages,
        scalar_temperature_messages,
        stand_problems,
        temperature_bounds,
    )

    comps = inputs.growth_curve_components
    max_curve_age = int(comps["age"].max()) if not comps.empty else None
    age_layer, temp_layer = config.age_layer, config.temperature_layer
    problems = stand_problems(
        stands, max_curve_age=max_curve_age,
        age_where=f"age layer {age_layer!r}" if age_layer else None,
        age_path=str(config.layers.get(age_layer, "")) if age_layer else "",
        temperature_where=f"temperature layer {temp_layer!r}" if temp_layer else None,
        temperature_path=str(config.layers.get(temp_layer, "")) if temp_layer else "",
        bounds=temperature_bounds(temperature_range),
    )
    if age_layer is None:  # one initial_age for every pixel (Belize's 0): the same check, once
        problems += scalar_age_messages(config.age_value, max_curve_age)
    if temp_layer is None:  # one mean_annual_temperature for every pixel
        problems += scalar_temperature_messages(config.temperature_value, temperature_bounds(temperature_range))
    volumes = growth_curve_problems(inputs)
    if volumes:
        raise DatabaseError("; ".join(volumes))
    if problems:
        raise LayerError("; ".join(problems))
    match_growth_curves(inputs, stands.stands[stands.classifier_names])  # SimulationError naming the set
    spinup_problems = spinup_matrix_problems(config, inputs, sorted(set(stands.stands["spatial_unit_id"].astype(int))))
    if spinup_problems:
        raise SimulationError("; ".join(spinup_problems))


def spinup_matrix_problems(config: GcbmConfig, inputs, spus: list[int]) -> list[str]:
    """Spinup's historic and last-pass disturbance types need a matrix in every spatial unit simulated."""
    if not config.spinup.enabled or not spus or (spus and min(spus) < 0):
        return []
    from flintcloud.engine.libcbm_engine import spinup_parameters

    params = spinup_parameters(config, inputs, spus)
    dma = inputs.disturbance_matrix_associations
    have = {(int(s), int(t)) for s, t in zip(dma["spatial_unit_id"], dma["disturbance_type_id"])}
    names = {int(i): str(n) for i, n in zip(inputs.disturbance_types["id"], inputs.disturbance_types["name"])}
    out = []
    for spu, row in params.iterrows():
        for what in ("historic_id", "last_pass_id"):
            type_id = int(row[what])
            if (int(spu), type_id) not in have:
                kind = "historic" if what == "historic_id" else "last-pass"
                message = (f"spinup's {kind} disturbance type {names.get(type_id, type_id)!r} has no disturbance "
                           f"matrix in spatial unit {int(spu)} (table disturbance_matrix_association of "
                           f"{str(inputs.path)!r}): spinup cannot run there")
                if message not in out:
                    out.append(message)
    return out


def engine_version(engine: str) -> str:
    if engine == "libcbm":
        try:
            return f"libcbm {metadata.version('libcbm')}"
        except metadata.PackageNotFoundError:  # pragma: no cover - libcbm is a dependency
            return "libcbm (version unknown)"
    return engine


def run_project(
    config_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    engine: str = "libcbm",
    map_years=None,
    overwrite: bool = False,
    *,
    image: str | None = None,
    progress: bool = False,
    executor=None,
    temperature_range: tuple[float, float] | None = None,
):
    """Simulate the GCBM project in `config_dir`; write its outputs into `out_dir` atomically.

    engine: "libcbm" (embedded) or "gcbm-container" (real GCBM in Docker; needs `image`,
    pinned by digest). `executor` (libcbm only): "local" (default), "dask" or a mapping
    (flintcloud.engine.executor.parse_executor: kind, address, n_workers, chunks, ...).
    `temperature_range`: params.yaml's simulation.temperature_range, checked before simulating.
    Returns the engine's RunSummary (flintcloud.engine.step).
    """
    out_dir = Path(out_dir)
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    started = time.perf_counter()
    check_output(out_dir, inputs=[config_dir], what="run output folder")  # before any work; never an input
    check_out_dir(out_dir, overwrite)
    config = read_gcbm_config(config_dir)
    # Before either engine and any pixel read: the output may not be (or hold) the db or a layer either
    # (--overwrite replaces the whole folder; the container engine's run would have deleted them too).
    check_output(out_dir, inputs=[config.db_path, *config.layers.values()], what="run output folder")
    if engine == "gcbm-container":
        from flintcloud.engine.container import PLACEHOLDER_IMAGE, run_gcbm_container

        def prepare(config: GcbmConfig) -> PreparedRun:  # the one reading path, preflight and memory check included
            return prepare_run(config, progress=progress, temperature_range=temperature_range)

        return run_gcbm_container(config_dir, out_dir, image or PLACEHOLDER_IMAGE, prepare=prepare, overwrite=overwrite)

    from flintcloud.engine.executor import parse_executor, simulate_with_executor
    from flintcloud.landscape.checks import unmatched_disturbances
    from flintcloud.outputs.compile import compile_results
    from flintcloud.outputs.raw_db import RawOutputWriter
    from flintcloud.outputs.spatial import MapWriter

    executor = parse_executor(executor)
    prepared = prepare_run(config, progress=progress, temperature_range=temperature_range)
    config, inputs, landscape, stands = prepared.config, prepared.inputs, prepared.landscape, prepared.stands
    years = resolve_map_years(map_years, config, landscape.grid.n_cells)
    grouped_seconds = time.perf_counter() - started

    with _sigterm_as_interrupt(), atomic_dir(out_dir) as tmp:
        # Maps are written by threads beside the simulation, straight into the temp folder (atomic_dir
        # moves the whole folder). The raw writer builds its db beside its target and moves it there on
        # success; on failure it discards it, and atomic_dir discards everything else.
        with MapWriter(
            tmp / SPATIAL_DIR, config.output_items, years, stands, threads=MAP_THREADS, atomic=False
        ) as maps, RawOutputWriter(
            tmp / RAW_DB, stands.classifier_names, config.age_class_range, config.age_maximum
        ) as raw:
            summary = simulate_with_executor(config, stands, inputs, [raw, maps], executor, progress=progress)
        simulated_seconds = time.perf_counter() - started
        compile_results(tmp / RAW_DB, tmp / COMPILED_DB)
        summary.seconds = time.perf_counter() - started
        summary.timings = {
            **(summary.timings or {}),  # the engine's own split (libcbm: setup, spinup, steps)
            "grouping_seconds": round(float(grouped_seconds), 3),
            # engine + raw db + maps (the reporters run inside the engine's loop)
            "simulation_seconds": round(float(simulated_seconds - grouped_seconds), 3),
            # what the run waits for: the writers' calls inside the engine's steps, then their close
            # (maps: queueing, then waiting for the writer threads), and the map threads' own time
            "reporters_in_steps_seconds": round(float(raw.seconds + maps.seconds), 3),
            "raw_db_seconds": round(float(raw.seconds + raw.close_seconds), 3),
            "maps_seconds": round(float(maps.seconds + maps.close_seconds), 3),
            "map_writer_thread_seconds": round(float(maps.writer_seconds), 3),
            "compile_seconds": round(float(summary.seconds - simulated_seconds), 3),
        }
        record = {
            "pixels": int(stands.n_pixels),
            "unique_stands": int(stands.n_stands),
            "spinup_groups": int(getattr(summary, "n_spinup_groups", 0)),
            "years": int(config.n_years),
            "start_year": int(config.start_year),
            "end_year": int(config.end_year),
            "area_ha": float(stands.area_ha),
            # No wall-clock times here: the same inputs must give byte-identical outputs (DVC hashes
            # build/output). Timings are on the returned RunSummary and in the CLI's summary line.
            "engine": engine,
            "engine_version": engine_version(engine),
            "map_years": years,
            "excluded_pixels": {k: int(v) for k, v in stands.excluded.items()},
        }
        skipped = unmatched_disturbances(stands, inputs.disturbance_matrix_associations)
        if skipped:  # only then, so a run without skipped events writes the same bytes as before
            record["skipped_disturbance_events"] = skipped
        (tmp / SUMMARY_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return summary
