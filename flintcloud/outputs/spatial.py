"""Spatial outputs: GCBM's WriteVariableGeotiff indicators as ``<data_name>_<year>.tif`` maps.

Two sources give the same files:

- the embedded engine: ``MapWriter`` is a reporter that turns every StepOutput into one map per
  configured item on the input grid (``indicator_per_stand`` computes the per-stand value);
- real GCBM: ``mosaic_gcbm_blocks`` merges WriteVariableGeotiff's per-block files
  ``<Indicator>/<tile>/<Indicator>_<tile>_<block>_<timestep>.tif`` into ``<Indicator>_<year>.tif``
  (year = start_year + timestep - 1), as the standalone template's create_tiffs.py does.

Values follow moja's WriteVariableGeotiff (moja.modules.gdal): per hectare (tC/ha for pools, tC/ha/yr
for fluxes; age in years); ``pool_name`` items sum pools; ``flux`` items sum, over one or more
``{from, to, flux_source, subtract}`` specs, the fluxes whose source is in ``from`` and sink in ``to``
(an empty list means any pool; the diagonal is ignored), counting annual processes, disturbances or
both (no ``flux_source``), negated where ``subtract`` is true. The value is cast to the item's
``variable_data_type`` the way C++ does (float32 rounding, integer truncation); nodata is GCBM's:
the lowest value of integer types (0 for unsigned ones), -1e38 for float, -1e308 for double.
Maps are only written for OutputStep items, from step 1 (GCBM writes no map for the spinup state).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.merge import merge
from rasterio.windows import Window

from flintcloud.atomic import atomic_path
from flintcloud.engine.step import ANNUAL_PROCESS, DISTURBANCE, StepOutput
from flintcloud.errors import ConfigError, LayerError, OutputError

# variable_data_type -> (numpy dtype, GCBM's default nodata). GCBM maps Int64/UInt64 to 32 bits.
GCBM_DATA_TYPES: dict[str, tuple[str, float]] = {
    "UInt8": ("uint8", 0),
    "UInt16": ("uint16", 0),
    "Int16": ("int16", -32768),
    "UInt32": ("uint32", 0),
    "Int32": ("int32", -(2**31)),
    "UInt64": ("uint32", 0),
    "Int64": ("int32", -(2**31)),
    "float": ("float32", float(np.float32(-1e38))),
    "double": ("float64", -1e308),
}
MAP_STRIP_ROWS = 256  # MapWriter writes maps by strips of this many rows (the GeoTIFF block height)
VARIABLES = ("age",)  # WriteVariableGeotiff variable_name items the embedded engine can map


@dataclass(frozen=True)
class FluxSpec:
    sources: tuple[str, ...]  # empty: any pool
    sinks: tuple[str, ...]
    flux_source: str | None  # None = annual processes and disturbances
    subtract: bool = False


@dataclass(frozen=True)
class OutputItem:
    """One WriteVariableGeotiff item."""

    data_name: str
    data_type: str
    dtype: str
    nodata: float
    variable_name: str | None = None
    pools: tuple[str, ...] = ()
    fluxes: tuple[FluxSpec, ...] = field(default_factory=tuple)
    on_notification: str = "OutputStep"


def parse_output_item(item: dict) -> OutputItem:
    """Check one WriteVariableGeotiff item (a dict as in modules_output.json)."""
    if not isinstance(item, dict) or not item.get("data_name"):
        raise ConfigError(f"WriteVariableGeotiff item {item!r} has no data_name")
    name = str(item["data_name"])
    data_type = str(item.get("variable_data_type", ""))
    if data_type not in GCBM_DATA_TYPES:
        raise ConfigError(
            f"WriteVariableGeotiff item {name!r}: variable_data_type {data_type!r} is not one of "
            f"{sorted(GCBM_DATA_TYPES)}"
        )
    dtype, nodata = GCBM_DATA_TYPES[data_type]
    if "nodata_value" in item:
        nodata = float(np.asarray(item["nodata_value"]).astype(dtype))
    notification = str(item.get("on_notification", "TimingInit"))
    common = dict(data_name=name, data_type=data_type, dtype=dtype, nodata=nodata, on_notification=notification)
    for key in ("apply_area_adjustment", "subtract_previous_value", "is_array", "property_name"):
        if item.get(key):
            raise ConfigError(f"WriteVariableGeotiff item {name!r}: {key!r} is not supported by flintcloud's maps")
    if "pool_name" in item:
        pools = item["pool_name"]
        pools = (pools,) if isinstance(pools, str) else tuple(str(p) for p in pools)
        return OutputItem(pools=pools, **common)
    if "flux" in item:
        specs = item["flux"] if isinstance(item["flux"], list) else [item["flux"]]
        return OutputItem(fluxes=tuple(_parse_flux(name, s) for s in specs), **common)
    if "variable_name" in item:
        variable = str(item["variable_name"])
        if variable not in VARIABLES:
            raise ConfigError(
                f"WriteVariableGeotiff item {name!r}: variable_name {variable!r} cannot be mapped "
                f"(supported: {list(VARIABLES)})"
            )
        return OutputItem(variable_name=variable, **common)
    raise ConfigError(f"WriteVariableGeotiff item {name!r} needs one of variable_name, pool_name or flux")


def _parse_flux(name: str, spec) -> FluxSpec:
    if not isinstance(spec, dict) or "from" not in spec or "to" not in spec:
        raise ConfigError(f"WriteVariableGeotiff item {name!r}: flux {spec!r} needs 'from' and 'to' pool lists")
    source = spec.get("flux_source")
    if source is not None:
        source = str(source).lower()
        if source not in (ANNUAL_PROCESS, DISTURBANCE):
            raise ConfigError(
                f"WriteVariableGeotiff item {name!r}: flux_source {spec['flux_source']!r}; expected "
                f"{ANNUAL_PROCESS!r} or {DISTURBANCE!r}"
            )
    return FluxSpec(tuple(spec["from"]), tuple(spec["to"]), source, bool(spec.get("subtract", False)))


def map_items(items: Iterable[dict]) -> list[OutputItem]:
    """The enabled OutputStep items of a WriteVariableGeotiff configuration, parsed."""
    parsed = [parse_output_item(i) for i in items if i.get("enabled", True)]
    return [i for i in parsed if i.on_notification == "OutputStep"]


def flux_weights(step: StepOutput, item: OutputItem) -> np.ndarray:
    """Pure: weight (+1, -1, 0 or a sum of them) of each of `step.flux_keys` in a flux item."""
    weights = np.zeros(len(step.flux_keys))
    for spec in item.fluxes:
        for j, key in enumerate(step.flux_keys):
            if key.source == key.sink:
                continue
            if spec.sources and key.source not in spec.sources:
                continue
            if spec.sinks and key.sink not in spec.sinks:
                continue
            if spec.flux_source == DISTURBANCE and key.flux_source != DISTURBANCE:
                continue
            if spec.flux_source == ANNUAL_PROCESS and key.flux_source == DISTURBANCE:
                continue
            weights[j] += -1.0 if spec.subtract else 1.0
    return weights


def indicator_per_stand(step: StepOutput, item: dict | OutputItem, weights: np.ndarray | None = None) -> np.ndarray:
    """Pure: an item's per-hectare value for every stand (float64, before the cast to its data type).

    `weights`: the item's ``flux_weights(step, item)`` when the caller already has them (MapWriter
    computes them once per run: every step has the same flux keys).
    """
    if not isinstance(item, OutputItem):
        item = parse_output_item(item)
    if item.variable_name == "age":
        return np.asarray(step.age, dtype=np.float64)
    if item.pools:
        index = {p: i for i, p in enumerate(step.pool_names)}
        missing = [p for p in item.pools if p not in index]
        if missing:
            raise ConfigError(f"WriteVariableGeotiff item {item.data_name!r}: pool(s) {missing} are not simulated pools")
        return np.asarray(step.pools, dtype=np.float64)[:, [index[p] for p in item.pools]].sum(axis=1)
    if item.fluxes:
        known = set(step.pool_names)
        missing = sorted({p for s in item.fluxes for p in s.sources + s.sinks} - known)
        if missing:
            raise ConfigError(f"WriteVariableGeotiff item {item.data_name!r}: flux pool(s) {missing} are not simulated pools")
        return np.asarray(step.fluxes, dtype=np.float64) @ (flux_weights(step, item) if weights is None else weights)
    raise ConfigError(f"WriteVariableGeotiff item {item.data_name!r} maps nothing")


def cast_values(values: np.ndarray, item: OutputItem) -> np.ndarray:
    """GCBM's T(sum): float types round, integer types truncate toward zero."""
    values = np.asarray(values, dtype=np.float64)
    if np.dtype(item.dtype).kind in "iu":
        info = np.iinfo(item.dtype)
        values = np.clip(np.trunc(values), info.min, info.max)
    return values.astype(item.dtype)


def raster_profile(grid, item: OutputItem) -> dict:
    """GeoTIFF profile on `grid` (transform, CRS, size) with the item's dtype and GCBM's nodata."""
    return {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": item.dtype,
        "nodata": item.nodata,
        "crs": grid.crs,
        "transform": grid.transform,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }


def write_raster(path: Path, array: np.ndarray, profile: dict) -> Path:
    """Write one band atomically (temp file, then moved into place)."""
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
    return path


class MapWriter:
    """Reporter writing ``<out_dir>/<data_name>_<year>.tif`` for every OutputStep item.

    `items`: WriteVariableGeotiff items (dicts as in modules_output.json, or OutputItems);
    `years`: the years to map (None: every simulated year); `stands`: the StandSet whose
    ``pixel_stand`` (-1 = not simulated) and ``grid`` place the stands on the input grid.

    `threads` > 0: the GeoTIFFs are written by that many writer threads, off the simulation's
    critical path (GDAL releases the GIL while it creates, compresses and closes a file); the
    reporter call only computes each item's per-stand values. Every file is still written by one
    thread with the same calls in the same order, so its bytes do not depend on `threads`. Use the
    writer as a context manager (or call ``close()``): leaving it waits for the last files and
    raises the first writer error. `atomic`: write each file under a temp name and move it into
    place (False when the caller already writes into a temp folder, as ``run_project`` does).
    """

    def __init__(self, out_dir: str | os.PathLike, items, years: Iterable[int] | None, stands, *,
                 threads: int = 0, atomic: bool = True):
        self.out_dir = Path(out_dir)
        self.items: list[OutputItem] = []
        for item in items:
            self.items.extend([item] if isinstance(item, OutputItem) else map_items([item]))
        self.years = None if years is None else {int(y) for y in years}
        self.pixel_stand = np.asarray(stands.pixel_stand)
        self.grid = stands.grid
        if self.pixel_stand.shape != (self.grid.height, self.grid.width):
            raise OutputError(
                f"pixel_stand has shape {self.pixel_stand.shape}, the grid is {self.grid.height}x{self.grid.width}"
            )
        self.written: list[Path] = []
        self.atomic = atomic
        self._profiles = [raster_profile(self.grid, item) for item in self.items]
        self._flux_keys = None  # the flux keys the items' weights below were computed for
        self._weights: list = []
        self._pool = None
        self._pending: list = []
        # seconds in reporter calls and in close() (together: what the run waits for), and in the writers
        self.seconds = 0.0
        self.close_seconds = 0.0
        self.writer_seconds = 0.0
        if threads > 0:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=int(threads), thread_name_prefix="flintcloud-maps")
        # The simulated pixels' bounding window (rows, cols) and largest stand index, found once by
        # strips: maps write only this window; GDAL fills the blocks outside it with nodata on close.
        self._max_stand = -1
        rows, cols = [], np.zeros(self.grid.width, dtype=bool)
        for row in range(0, self.grid.height, MAP_STRIP_ROWS):
            strip = self.pixel_stand[row:row + MAP_STRIP_ROWS]
            if strip.size:
                self._max_stand = max(self._max_stand, int(strip.max()))
            valid = strip >= 0
            hit = np.flatnonzero(valid.any(axis=1))
            if hit.size:
                rows += [row + int(hit[0]), row + int(hit[-1]) + 1]
                cols |= valid.any(axis=0)
        hit_cols = np.flatnonzero(cols)
        if rows:  # starts aligned to the 256-pixel GeoTIFF blocks, so no block is written in two parts
            row0, col0 = min(rows) - min(rows) % MAP_STRIP_ROWS, int(hit_cols[0]) - int(hit_cols[0]) % MAP_STRIP_ROWS
            self._window = (row0, max(rows), col0, int(hit_cols[-1]) + 1)
        else:
            self._window = (0, 0, 0, 0)

    def __call__(self, step: StepOutput) -> None:
        if step.step == 0 or (self.years is not None and step.year not in self.years):
            return
        started = time.perf_counter()
        try:
            self._report(step)
        finally:
            self.seconds += time.perf_counter() - started

    def _report(self, step: StepOutput) -> None:
        if self._max_stand >= step.n_stands:
            raise OutputError(
                f"pixel_stand refers to stand {self._max_stand} but step {step.step} has {step.n_stands} stands"
            )
        self._raise_failed()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self._flux_keys is not step.flux_keys and self._flux_keys != list(step.flux_keys):
            self._weights = [flux_weights(step, item) if item.fluxes else None for item in self.items]
        self._flux_keys = step.flux_keys
        for item, profile, weights in zip(self.items, self._profiles, self._weights):
            # index -1 -> nodata: per item one value per stand, never one per pixel
            values = indicator_per_stand(step, item, weights)
            lookup = np.append(cast_values(values, item), np.asarray(item.nodata).astype(item.dtype))
            path = self.out_dir / f"{item.data_name}_{step.year}.tif"
            if self._pool is None:
                self._write(path, lookup, profile)
            else:
                self._pending.append(self._pool.submit(self._write, path, lookup, profile))
            self.written.append(path)
        if self._pool is not None and len(self._pending) > 4 * max(len(self.items), 1):
            # keep at most a few years' lookups queued; waiting here also surfaces writer errors early
            done, self._pending = self._pending[:len(self.items)], self._pending[len(self.items):]
            for future in done:
                future.result()

    def _write(self, path: Path, lookup: np.ndarray, profile: dict) -> None:
        """One map: row strips of the simulated window (memory per map is one strip, not the grid)."""
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            target = stack.enter_context(atomic_path(path)) if self.atomic else path
            dst = stack.enter_context(rasterio.open(target, "w", **profile))
            row0, row1, col0, col1 = self._window
            for row in range(row0, row1, MAP_STRIP_ROWS):
                rows = min(MAP_STRIP_ROWS, row1 - row)
                strip = self.pixel_stand[row:row + rows, col0:col1]
                dst.write(lookup[strip], 1, window=Window(col0, row, col1 - col0, rows))
        self.writer_seconds += time.perf_counter() - started  # (a float += under the GIL: no lost update matters here)

    def _raise_failed(self) -> None:
        for future in self._pending:
            if future.done() and future.exception() is not None:
                self.close(wait=False)
                raise future.exception()

    def close(self, wait: bool = True) -> None:
        """Wait for the writer threads (raising the first error); ``wait=False`` cancels queued files."""
        if self._pool is None:
            return
        pending, self._pending = self._pending, []
        started = time.perf_counter()
        try:
            if wait:
                for future in pending:
                    future.result()
        finally:
            for future in pending:
                future.cancel()
            self._pool.shutdown(wait=True)  # no thread may still write once the caller moves on
            self._pool = None
            self.close_seconds += time.perf_counter() - started

    def __enter__(self) -> "MapWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)


_BLOCK_NAME = re.compile(r"^(?P<block>\d+)_(?P<step>\d+)\.tiff?$")


def find_gcbm_blocks(gcbm_output_dir: str | os.PathLike) -> dict[tuple[str, int], list[Path]]:
    """WriteVariableGeotiff's block files under `gcbm_output_dir`, by (indicator, timestep)."""
    root = Path(gcbm_output_dir)
    if not root.is_dir():
        raise OutputError(f"GCBM output directory {str(root)!r} does not exist")
    found: dict[tuple[str, int], list[Path]] = {}
    for path in sorted(root.glob("*/*/*.tif*")):
        indicator, tile = path.parent.parent.name, path.parent.name
        prefix = f"{indicator}_{tile}_"
        if not path.name.startswith(prefix):
            continue
        match = _BLOCK_NAME.match(path.name[len(prefix):])
        if match:
            found.setdefault((indicator, int(match["step"])), []).append(path)
    return found


def block_window(grid, transform, crs, width: int, height: int, what: str) -> Window:
    """Pure: where a GCBM block (its transform, CRS, size) sits on `grid` (a landscape Grid).

    The block must share the grid's CRS and pixel size and sit on its pixel lattice, inside it
    (GCBM's blocks are windows of its input tiles); otherwise a LayerError naming `what`.
    """
    from flintcloud.landscape.grid import Grid

    g, b = grid.transform, transform
    px = max(abs(g.a), abs(g.e))
    problem = None
    # (two one-pixel grids that differ only in CRS: Grid.mismatch's CRS comparison, EPSG-aware)
    if grid.crs is not None and crs is not None and Grid(b, crs, 1, 1).mismatch(Grid(b, grid.crs, 1, 1)):
        problem = f"CRS {crs.to_string()}, the input grid's is {grid.crs.to_string()}"
    elif max(abs(b.a - g.a), abs(b.e - g.e), abs(b.b - g.b), abs(b.d - g.d)) > 1e-9 * px:
        problem = f"pixel size ({b.a!r}, {b.e!r}), the input grid's is ({g.a!r}, {g.e!r})"
    else:
        col, row = (b.c - g.c) / g.a, (b.f - g.f) / g.e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            problem = f"origin ({b.c!r}, {b.f!r}) is off the input grid's pixel lattice (column {col:.6f}, row {row:.6f})"
        else:
            col, row = int(round(col)), int(round(row))
            if col < 0 or row < 0 or col + width > grid.width or row + height > grid.height:
                problem = (f"columns {col}..{col + width - 1}, rows {row}..{row + height - 1} are outside the "
                           f"input grid's {grid.width} x {grid.height} pixels")
            else:
                return Window(col, row, width, height)
    raise LayerError(f"GCBM block {what}: {problem}")


def mosaic_gcbm_blocks(gcbm_output_dir: str | os.PathLike, out_dir: str | os.PathLike, start_year: int,
                       grid=None) -> list[Path]:
    """Merge GCBM's per-block GeoTIFFs into ``<out_dir>/<Indicator>_<year>.tif``; returns the files written.

    `grid` (a landscape Grid: the input layers' transform, CRS and size): every map covers that grid,
    as the embedded engine's maps do (docs/engine-outputs.md), with the blocks in their windows and
    the item's nodata elsewhere; a block off the grid is a LayerError. Without `grid`: the blocks'
    own extent (their union, as GCBM's create_tiffs.py merges them).
    """
    blocks = find_gcbm_blocks(gcbm_output_dir)
    if not blocks:
        raise OutputError(
            f"no WriteVariableGeotiff blocks (<Indicator>/<tile>/<Indicator>_<tile>_<block>_<timestep>.tif) "
            f"under {str(gcbm_output_dir)!r}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (indicator, timestep), paths in sorted(blocks.items()):
        year = int(start_year) + timestep - 1
        target = out_dir / f"{indicator}_{year}.tif"
        try:
            with contextlib.ExitStack() as stack:
                sources = [stack.enter_context(rasterio.open(p)) for p in paths]
                first = sources[0]
                kinds = {(s.dtypes[0], s.nodata, s.crs) for s in sources}
                if len(kinds) > 1:
                    raise LayerError(f"blocks of {indicator} timestep {timestep} differ in dtype/nodata/CRS: {paths}")
                if grid is not None:
                    windows = [block_window(grid, s.transform, s.crs, s.width, s.height, repr(str(p)))
                               for s, p in zip(sources, paths)]
                    profile = raster_profile(grid, OutputItem(indicator, "", first.dtypes[0], first.nodata))
                    with atomic_path(target) as tmp, rasterio.open(tmp, "w", **profile) as dst:
                        for src, window in zip(sources, windows):
                            dst.write(src.read(1), 1, window=window)
                    written.append(target)
                    continue
                array, transform = merge(sources, nodata=first.nodata)
                profile = {
                    "driver": "GTiff",
                    "width": array.shape[2],
                    "height": array.shape[1],
                    "count": 1,
                    "dtype": first.dtypes[0],
                    "nodata": first.nodata,
                    "crs": first.crs,
                    "transform": transform,
                    "compress": "deflate",
                    "tiled": True,
                    "blockxsize": 256,
                    "blockysize": 256,
                    "BIGTIFF": "IF_SAFER",
                }
        except rasterio.errors.RasterioIOError as err:
            raise LayerError(f"cannot read GCBM block GeoTIFF(s) of {indicator} timestep {timestep}: {err}") from err
        written.append(write_raster(target, array[0], profile))
    return written
