"""Group pixels into unique stands.

Results in CBM are per hectare and stands are independent, so every pixel
with the same classifiers, spatial unit, initial age, mean annual temperature
and *whole* disturbance sequence evolves identically: simulate each group
once and scale by its area.

Memory is bounded by design: the landscape is read one block at a time;
each block's valid pixels are grouped on an integer key matrix (category
codes, age, temperature bits, one disturbance code per layer), and a block's
unique keys are merged into the global stand table through a dict keyed by
the key row's bytes. Only the pixel -> stand index (`pixel_stand`, int64 per
cell) grows with the number of pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from flintcloud.errors import LayerError
from flintcloud.gcbm.sidecar import resolve_event_type
from flintcloud.landscape.grid import Grid, pixel_area_ha
from flintcloud.landscape.raster import Landscape, LandscapeBlock

EVENT_COLUMNS = ["stand_id", "year", "disturbance_type", "disturbance_type_id", "transition", "layer", "order"]

# (admin boundary name, eco boundary name) -> spatial_unit.id
SpatialUnitResolver = Mapping[tuple[str, str], int] | Callable[[str, str], int]


@dataclass
class StandSet:
    """Unique stands of a landscape and where they are.

    stands: one row per stand (index 0..n-1): one str column per classifier,
      spatial_unit_id, age, mean_annual_temperature, area_ha, n_pixels (plus
      admin_boundary, eco_boundary names).
    events: stand_id, year, disturbance_type, disturbance_type_id, transition
      (nullable Int64), layer, order (firing order within a stand-year:
      GCBM fires a year's events in CBMDisturbanceListener `vars` order).
    pixel_stand: int64 (rows, cols), -1 where nothing is simulated.
    """

    stands: pd.DataFrame
    events: pd.DataFrame
    pixel_stand: np.ndarray
    grid: Grid
    classifier_names: list[str]
    excluded: dict[str, int] = field(default_factory=dict)  # pixels not simulated, by reason

    @property
    def n_stands(self) -> int:
        return len(self.stands)

    @property
    def n_pixels(self) -> int:
        return int(self.stands["n_pixels"].sum()) if len(self.stands) else 0

    @property
    def area_ha(self) -> float:
        return float(self.stands["area_ha"].sum()) if len(self.stands) else 0.0

    def events_for(self, year: int) -> pd.DataFrame:
        return self.events[self.events["year"] == year]


def _resolve_spu(resolver: SpatialUnitResolver | None, admin: str | None, eco: str | None) -> int:
    if resolver is None:
        return -1
    if admin is None or eco is None:
        raise LayerError(
            f"cannot find a spatial unit: admin_boundary {admin!r} / eco_boundary {eco!r} "
            "(variables.json must give both, as names or layers)"
        )
    if callable(resolver):
        return int(resolver(admin, eco))
    try:
        return int(resolver[(admin, eco)])
    except KeyError:
        raise LayerError(
            f"no spatial unit for admin_boundary {admin!r} and eco_boundary {eco!r} in the spatial_unit table"
        ) from None


class _Merger:
    """Global stand table built from per-block unique keys."""

    def __init__(self, width: int):
        self.width = width
        self.ids: dict[bytes, int] = {}
        self.keys: list[np.ndarray] = []
        self.n_pixels = np.zeros(1024, dtype=np.int64)
        self.area = np.zeros(1024, dtype=np.float64)
        self.total = 0

    def add(self, uniq: np.ndarray, counts: np.ndarray, area: np.ndarray) -> np.ndarray:
        """Global ids of a block's unique key rows (new rows get new ids); accumulate pixels and area."""
        gid = np.empty(len(uniq), dtype=np.int64)
        new_rows = []
        for i, row in enumerate(uniq):
            b = row.tobytes()
            j = self.ids.get(b)
            if j is None:
                j = self.total
                self.ids[b] = j
                self.total += 1
                new_rows.append(i)
            gid[i] = j
        if new_rows:
            self.keys.append(uniq[new_rows])
        if self.total > len(self.n_pixels):
            cap = max(self.total, 2 * len(self.n_pixels))
            self.n_pixels = np.concatenate([self.n_pixels, np.zeros(cap - len(self.n_pixels), np.int64)])
            self.area = np.concatenate([self.area, np.zeros(cap - len(self.area), np.float64)])
        self.n_pixels[gid] += counts  # ids are distinct within a block
        self.area[gid] += area
        return gid

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = np.concatenate(self.keys) if self.keys else np.zeros((0, self.width), dtype=np.int64)
        return keys, self.n_pixels[: self.total].copy(), self.area[: self.total].copy()


def unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique rows, inverse, counts) of an int64 matrix, via 1-D sorts only.

    Columns are factorized one at a time (small-range columns by offset, others by
    a 1-D unique) and folded into a single int64 code (re-factorized whenever the
    next fold could overflow); one final 1-D sort replaces np.unique(axis=0)'s
    row-wise sort.
    """
    n, k = keys.shape
    if n == 0:
        return keys[:0], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)
    n_codes = 1
    for j in range(k):
        col = keys[:, j]
        lo, hi = int(col.min()), int(col.max())
        if hi - lo < 2**24:  # category codes, ages: offsets are already a dense code, no sort needed
            inv, n_values = col - lo, hi - lo + 1
        else:  # e.g. temperature bits
            values, inv = np.unique(col, return_inverse=True)
            inv, n_values = inv.reshape(-1), len(values)
        if n_codes * n_values >= 2**62:
            _, code = np.unique(code, return_inverse=True)
            code = code.reshape(-1)
            n_codes = int(code.max()) + 1
        code = code * n_values + inv
        n_codes *= n_values
    _, first, inverse, counts = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
    return keys[first], inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


def _live_codes(landscape: Landscape) -> dict[str, np.ndarray]:
    """Per disturbance layer: code -> code, or -1 when none of its events is inside the run's years."""
    cfg = landscape.config
    out = {}
    for layer in cfg.disturbance_layers:
        cats = landscape.disturbance_events(layer)
        out[layer] = np.array(
            [i if any(cfg.start_year <= ev.year <= cfg.end_year for ev in evs) else -1 for i, evs in enumerate(cats)],
            dtype=np.int64,
        )
    return out


def _block_keys(
    block: LandscapeBlock, landscape: Landscape, in_window: dict[str, np.ndarray]
) -> tuple[np.ndarray, list[str]]:
    """(n_valid, k) int64 key matrix of a block's valid pixels, and its column names."""
    v = block.valid
    cols, names = [], []
    for cname in landscape.classifier_names:
        cols.append(block.classifiers[cname][v].astype(np.int64))
        names.append(f"c:{cname}")
    for role in ("admin_boundary", "eco_boundary"):
        codes = getattr(block, role)
        if codes is not None:
            cols.append(codes[v].astype(np.int64))
            names.append(role)
    cols.append(block.age[v].astype(np.int64))
    names.append("age")
    if block.temperature is not None:
        cols.append(np.ascontiguousarray(block.temperature[v], dtype=np.float64).view(np.int64))
        names.append("temperature")
    for layer in landscape.config.disturbance_layers:
        codes = block.disturbances[layer][v].astype(np.int64)
        live = in_window[layer]  # codes whose events all fall outside the run are no event at all
        cols.append(np.where(codes >= 0, live[np.maximum(codes, 0)] if len(live) else -1, -1))
        names.append(f"d:{layer}")
    n = int(v.sum())
    if not cols:
        return np.zeros((n, 0), dtype=np.int64), names
    return np.ascontiguousarray(np.column_stack(cols)), names


def group_stands(
    landscape: Landscape,
    spatial_units: SpatialUnitResolver | None = None,
    disturbance_type_ids: Mapping[str, int] | None = None,
    disturbance_type_codes: Mapping[int, str] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> StandSet:
    """Group the landscape's simulated pixels into unique stands, block by block.

    `spatial_units` maps (admin boundary, eco boundary) names to spatial_unit.id
    (a dict or a function; flintcloud.inputdb gives one). Without it,
    spatial_unit_id is -1 (the engine resolves it).
    `disturbance_type_ids` maps disturbance_type.name to disturbance_type.id;
    a name missing from it raises LayerError naming the layer and pixel value.
    Without it, disturbance_type_id is left null for the engine to resolve.
    `disturbance_type_codes` maps disturbance_type.code to name: sidecar events may give
    `disturbance_type_id`, which GCBM reads as that code.
    Disturbance events outside [start_year, end_year] are dropped: GCBM never
    fires them.
    `progress(n_cells)` is called after each block with the number of cells it covered.
    """
    cfg = landscape.config
    grid = landscape.grid
    area_rows = pixel_area_ha(grid)
    pixel_stand = np.full(grid.shape, -1, dtype=np.int64)
    merger: _Merger | None = None
    names: list[str] = []
    excluded: dict[str, int] = {}
    in_window = _live_codes(landscape)

    for block in landscape.blocks():
        for k, n in block.excluded.items():
            excluded[k] = excluded.get(k, 0) + n
        keys, names = _block_keys(block, landscape, in_window)
        if merger is None:
            merger = _Merger(keys.shape[1])
        r0, c0 = block.row_off, block.col_off
        h, w = block.valid.shape
        if len(keys):
            uniq, inverse, counts = unique_rows(keys)
            rows = np.nonzero(block.valid)[0] + r0
            area = np.bincount(inverse, weights=area_rows[rows], minlength=len(uniq))
            gid = merger.add(uniq, counts, area)
            view = pixel_stand[r0 : r0 + h, c0 : c0 + w]
            view[block.valid] = gid[inverse]
        if progress is not None:
            progress(h * w)

    if merger is None:  # pragma: no cover - a grid always has at least one block
        merger = _Merger(0)
    keys, n_pixels, area = merger.finish()
    col = {name: i for i, name in enumerate(names)}

    # ---- stands table
    data: dict[str, object] = {}
    for cname in landscape.classifier_names:
        # code -1 is a null pixel (kept when initial_classifier_set allows nulls): None, never the last category
        # that a -1 index would pick
        cats = np.asarray([*landscape.classifier_categories(cname), None], dtype=object)
        data[cname] = cats[keys[:, col[f"c:{cname}"]]] if len(keys) else np.array([], dtype=object)
    bounds = {}
    for role, is_layer, value in (
        ("admin_boundary", cfg.admin_boundary_layer, cfg.admin_boundary),
        ("eco_boundary", cfg.eco_boundary_layer, cfg.eco_boundary),
    ):
        if is_layer:
            cats = np.asarray([str(c) for c in landscape.categories(value)], dtype=object)
            bounds[role] = cats[keys[:, col[role]]] if len(keys) else np.array([], dtype=object)
        else:
            bounds[role] = np.full(len(keys), value, dtype=object)
    spu_cache: dict[tuple, int] = {}
    spu = np.empty(len(keys), dtype=np.int64)
    for i, pair in enumerate(zip(bounds["admin_boundary"], bounds["eco_boundary"])):
        if pair not in spu_cache:
            spu_cache[pair] = _resolve_spu(spatial_units, *pair)
        spu[i] = spu_cache[pair]
    data["spatial_unit_id"] = spu
    data["age"] = keys[:, col["age"]] if len(keys) else np.array([], dtype=np.int64)
    if "temperature" in col:
        data["mean_annual_temperature"] = np.ascontiguousarray(keys[:, col["temperature"]]).view(np.float64)
    else:
        t = cfg.temperature_value if cfg.temperature_value is not None else np.nan
        data["mean_annual_temperature"] = np.full(len(keys), t, dtype=np.float64)
    data["area_ha"] = area
    data["n_pixels"] = n_pixels
    data["admin_boundary"] = bounds["admin_boundary"]
    data["eco_boundary"] = bounds["eco_boundary"]
    stands = pd.DataFrame(data)
    for cname in landscape.classifier_names:
        stands[cname] = stands[cname].astype(str)

    events = _events(landscape, keys, col, disturbance_type_ids, disturbance_type_codes)
    return StandSet(
        stands=stands,
        events=events,
        pixel_stand=pixel_stand,
        grid=grid,
        classifier_names=list(landscape.classifier_names),
        excluded=excluded,
    )


def _events(
    landscape: Landscape,
    keys: np.ndarray,
    col: dict[str, int],
    type_ids: Mapping[str, int] | None,
    type_codes: Mapping[int, str] | None,
) -> pd.DataFrame:
    cfg = landscape.config
    rows = []
    for order_layer, layer in enumerate(cfg.disturbance_layers):
        codes = keys[:, col[f"d:{layer}"]] if len(keys) else np.zeros(0, dtype=np.int64)
        cats = landscape.disturbance_events(layer)
        info = landscape.layers[layer]
        for code in np.unique(codes[codes >= 0]):
            stand_ids = np.nonzero(codes == code)[0]
            where = f"disturbance layer {layer!r}: pixel value {int(info.keys[code])}"
            for sub, ev in enumerate(cats[int(code)]):
                if not (cfg.start_year <= ev.year <= cfg.end_year):
                    continue
                name, type_id = resolve_event_type(ev, where, str(cfg.db_path), type_ids, type_codes)
                for sid in stand_ids:
                    rows.append((int(sid), ev.year, name, type_id, ev.transition, layer, order_layer * 1000 + sub))
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    events = events.astype(
        {
            "stand_id": "int64",
            "year": "int64",
            "disturbance_type": "object",
            "disturbance_type_id": "Int64",
            "transition": "Int64",
            "layer": "object",
            "order": "int64",
        }
    )
    events = events.sort_values(["stand_id", "year", "order"], kind="stable").reset_index(drop=True)
    # order: 0.. within each stand-year, in firing order
    events["order"] = events.groupby(["stand_id", "year"]).cumcount().astype("int64")
    return events
