"""Write the built-in demo GCBM project: tiled layers + sidecars, study_area.json, gcbm_input.db.

Layout of OUT_DIR (what GCBM's tiler and Recliner2GCBM would have produced):

    layers/tiled/<layer>.tiff + <layer>.json   one 1x1 degree tile, EPSG:4326, 0.00025 deg cells
                                               (or one GeoTIFF per layer spanning n x n tiles, below)
    layers/tiled/study_area.json               tiles, pixel size, layers with their type and tags
    input_database/gcbm_input.db               build-db from data/demo/growth_curves.csv

Layers: LeadingSpecies, SiteClass (classifiers), initial_age, mean_annual_temperature,
admin_boundary, eco_boundary, disturbances_<year> (one per year; wildfire and clearcut).

Multi-tile landscapes (more than 4000 pixels per side, or `tiles=n`): each layer is one GeoTIFF
covering n x n 1-degree tiles (top-left tile at 106 W, 55 N; study_area.json lists every tile), the
landscape centred in it. It is generated in square panels of at most one tile's pixels, each from its
own seed (SeedSequence([seed, row, col])) and written into its window before the next one is made, so
memory is that of one panel whatever the landscape's size; stands and fires end at the panel edges.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from flintcloud.atomic import atomic_dir
from flintcloud.demo.landscape import (
    CLEARCUT,
    EVENT_CODES,
    NODATA_AGE,
    NODATA_BYTE,
    NODATA_TEMPERATURE,
    SITE_CLASSES,
    SPECIES,
    WILDFIRE,
    DemoLandscape,
    generate_landscape,
)
from flintcloud.errors import ProjectError
from flintcloud.inputdb.builder import Transition, build_gcbm_input_db

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GROWTH_CURVES = REPO_ROOT / "data" / "demo" / "growth_curves.csv"

CLASSIFIERS = ("LeadingSpecies", "SiteClass")  # layer names = classifier names in the db
ADMIN_BOUNDARY = "Saskatchewan"
ECO_BOUNDARY = "Boreal Plains"
TILE_X, TILE_Y = -106, 55  # top-left corner of the 1-degree tile (lon, lat)
CELL = 0.00025  # degrees
TILE_PIXELS = 4000  # 1 degree / CELL
MAX_TILES = 4  # tiles per side of the largest mosaic
MAX_SIDE = MAX_TILES * TILE_PIXELS  # 16000 pixels per side, 2.56e8 pixels
BLOCK_SIZE = 0.1
# Pixels per side of the square landscape for each preset (total: 4e4, 1e6, 1e7 pixels).
SIZE_PRESETS = {"small": 200, "medium": 1000, "large": 3163}
TRANSITION_ID = 1  # the db's one transition: back to age 0, classifiers kept

_STRIP = 256  # rows written at a time (= the GeoTIFF block height)


def side_for(size: int | str) -> int:
    """Pixels per side for a preset name, a number of pixels per side (int or numeric string), or
    a total pixel count written as '<n>px' (e.g. '1e7px' or '1000000px')."""
    if isinstance(size, str):
        text = size.strip().lower()
        if text in SIZE_PRESETS:
            return SIZE_PRESETS[text]
        try:
            if text.endswith("px"):
                side = math.isqrt(int(float(text[:-2])))
                side += int(side * side < int(float(text[:-2])))
            else:
                side = int(text)
        except ValueError:
            raise ProjectError(
                f"demo size {size!r} is not a preset ({', '.join(SIZE_PRESETS)}), a number of pixels per "
                "side, or a total like '1e6px'"
            ) from None
    else:
        side = int(size)
    if not 32 <= side <= MAX_SIDE:
        raise ProjectError(f"demo size {size!r} gives {side} pixels per side; expected 32..{MAX_SIDE} "
                           f"(at most {MAX_TILES} x {MAX_TILES} tiles of {TILE_PIXELS} pixels)")
    return side


def tiles_per_side(side: int, tiles: int | None = None) -> int:
    """Tiles per side of the mosaic holding a `side`-pixel landscape: the fewest that fit it, or
    `tiles` (which must fit it and be at most MAX_TILES)."""
    need = -(-side // TILE_PIXELS)
    if tiles is None:
        return need
    tiles = int(tiles)
    if not need <= tiles <= MAX_TILES:
        raise ProjectError(f"demo tiles {tiles} per side cannot hold {side} pixels per side; expected "
                           f"{need}..{MAX_TILES} ({TILE_PIXELS} pixels per tile)")
    return tiles


def tile_index(x: int, y: int) -> int:
    """GCBM's tile index of the 1-degree tile whose top-left corner is (x, y)."""
    return (90 - y) * 360 + (x + 180)


def _sidecar(layer_data: str, nodata, attributes: dict | None = None) -> dict:
    doc = {
        "layer_type": "GridLayer",
        "layer_data": layer_data,
        "nodata": nodata,
        "tileLatSize": 1.0,
        "tileLonSize": 1.0,
        "blockLatSize": BLOCK_SIZE,
        "blockLonSize": BLOCK_SIZE,
        "cellLatSize": CELL,
        "cellLonSize": CELL,
    }
    if attributes is not None:
        doc["attributes"] = attributes
    return doc


def _write_json(path: Path, doc: dict) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(doc, fh, indent=4, ensure_ascii=False)
        fh.write("\n")


def _write_tile(path: Path, window_data: np.ndarray, offset: int, nodata, dtype: str) -> None:
    """Write a full 1-degree tile GeoTIFF holding `window_data` at (offset, offset), nodata elsewhere.

    Only the landscape window is written; GDAL fills the blocks never written with the nodata value.
    """
    profile = {
        "driver": "GTiff", "dtype": dtype, "count": 1, "width": TILE_PIXELS, "height": TILE_PIXELS,
        "crs": "EPSG:4326", "transform": Affine(CELL, 0.0, TILE_X, 0.0, -CELL, TILE_Y), "nodata": nodata,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }
    side = window_data.shape[0]
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, side, _STRIP):
            r1 = min(r0 + _STRIP, side)
            dst.write(window_data[r0:r1].astype(dtype, copy=False), 1,
                      window=Window(offset, offset + r0, side, r1 - r0))


def _present(values: np.ndarray, nodata: int) -> list[int]:
    counts = np.bincount(values.ravel(), minlength=256)
    return [v for v in np.flatnonzero(counts).tolist() if v != nodata]


def write_demo_layers(landscape: DemoLandscape, layers_dir: Path) -> list[dict]:
    """Write every layer + sidecar of `landscape` into `layers_dir`; return study_area layer entries."""
    side = landscape.species.shape[0]
    offset = (TILE_PIXELS - side) // 2
    entries: list[dict] = []
    forest = landscape.forest

    def categorical(name: str, data: np.ndarray, labels: dict[int, object], tags: list[str], kind: str) -> None:
        present = _present(data, NODATA_BYTE)
        attributes = {str(v): labels[v] for v in present}
        _write_tile(layers_dir / f"{name}.tiff", data, offset, NODATA_BYTE, "uint8")
        _write_json(layers_dir / f"{name}.json", _sidecar("Byte", NODATA_BYTE, attributes))
        entries.append({"name": name, "type": kind, "tags": tags})

    # classifier values: pixel value = index + 1 (0 is never used, as in the tiler's output)
    for name, data, values in ((CLASSIFIERS[0], landscape.species, SPECIES),
                               (CLASSIFIERS[1], landscape.site_class, SITE_CLASSES)):
        coded = np.where(forest, data + 1, NODATA_BYTE).astype(np.uint8)
        categorical(name, coded, {i + 1: v for i, v in enumerate(values)}, ["classifier"], "VectorLayer")

    _write_tile(layers_dir / "initial_age.tiff", landscape.age, offset, NODATA_AGE, "int16")
    _write_json(layers_dir / "initial_age.json", _sidecar("Int16", NODATA_AGE))
    entries.append({"name": "initial_age", "type": "VectorLayer", "tags": ["age"]})

    _write_tile(layers_dir / "mean_annual_temperature.tiff", landscape.temperature, offset,
                NODATA_TEMPERATURE, "float32")
    _write_json(layers_dir / "mean_annual_temperature.json", _sidecar("Float32", 3.4e38))
    entries.append({"name": "mean_annual_temperature", "type": "RasterLayer", "tags": ["temperature"]})

    inside = np.where(forest, 1, NODATA_BYTE).astype(np.uint8)
    categorical("admin_boundary", inside, {1: ADMIN_BOUNDARY}, ["admin_boundary"], "VectorLayer")
    categorical("eco_boundary", inside, {1: ECO_BOUNDARY}, ["eco_boundary"], "VectorLayer")

    names = {code: name for name, code in EVENT_CODES.items()}
    for year, events in sorted(landscape.disturbances.items()):
        labels = {code: {"year": year, "disturbance_type": names[code], "transition": TRANSITION_ID}
                  for code in names}
        if not _present(events, NODATA_BYTE):
            continue  # a year without events has no layer (a sidecar must not list absent values)
        categorical(f"disturbances_{year}", events, labels, ["disturbance"], "DisturbanceLayer")
    return entries


def mosaic_tiles(n: int) -> list[dict]:
    """The n x n 1-degree tiles of the mosaic, west to east then south to north (as GCBM's tiler)."""
    return [{"x": TILE_X + c, "y": TILE_Y - r, "index": tile_index(TILE_X + c, TILE_Y - r)}
            for c in range(n) for r in reversed(range(n))]


def _panels(side: int) -> tuple[int, int]:
    """(panels per side, panel side): square panels of at most one tile covering `side` pixels."""
    k = -(-side // TILE_PIXELS)
    return k, -(-side // k)


def write_demo_mosaic(seed: int, side: int, n_tiles: int, start_year: int, end_year: int,
                      layers_dir: Path) -> list[dict]:
    """Generate and write a `side`-pixel landscape centred in an n_tiles x n_tiles mosaic, panel by
    panel (module docstring); return the study_area layer entries (same layers as write_demo_layers)."""
    extent = n_tiles * TILE_PIXELS
    offset = (extent - side) // 2
    years = list(range(start_year, end_year + 1))
    event_names = {code: name for name, code in EVENT_CODES.items()}
    # name -> (dtype, nodata, sidecar data type, sidecar nodata, labels or None, tags, kind)
    specs: dict[str, tuple] = {
        CLASSIFIERS[0]: ("uint8", NODATA_BYTE, "Byte", NODATA_BYTE,
                         {i + 1: v for i, v in enumerate(SPECIES)}, ["classifier"], "VectorLayer"),
        CLASSIFIERS[1]: ("uint8", NODATA_BYTE, "Byte", NODATA_BYTE,
                         {i + 1: v for i, v in enumerate(SITE_CLASSES)}, ["classifier"], "VectorLayer"),
        "initial_age": ("int16", NODATA_AGE, "Int16", NODATA_AGE, None, ["age"], "VectorLayer"),
        "mean_annual_temperature": ("float32", NODATA_TEMPERATURE, "Float32", 3.4e38, None, ["temperature"],
                                    "RasterLayer"),
        "admin_boundary": ("uint8", NODATA_BYTE, "Byte", NODATA_BYTE, {1: ADMIN_BOUNDARY}, ["admin_boundary"],
                           "VectorLayer"),
        "eco_boundary": ("uint8", NODATA_BYTE, "Byte", NODATA_BYTE, {1: ECO_BOUNDARY}, ["eco_boundary"],
                         "VectorLayer"),
    }
    for year in years:
        labels = {code: {"year": year, "disturbance_type": event_names[code], "transition": TRANSITION_ID}
                  for code in event_names}
        specs[f"disturbances_{year}"] = ("uint8", NODATA_BYTE, "Byte", NODATA_BYTE, labels, ["disturbance"],
                                         "DisturbanceLayer")
    present: dict[str, set[int]] = {name: set() for name, spec in specs.items() if spec[4] is not None}
    transform = Affine(CELL, 0.0, TILE_X, 0.0, -CELL, TILE_Y)
    k, panel = _panels(side)
    with ExitStack() as stack:
        out = {name: stack.enter_context(rasterio.open(
            layers_dir / f"{name}.tiff", "w", driver="GTiff", dtype=spec[0], count=1, width=extent, height=extent,
            crs="EPSG:4326", transform=transform, nodata=spec[1], tiled=True, blockxsize=256, blockysize=256,
            compress="deflate", BIGTIFF="IF_SAFER")) for name, spec in specs.items()}
        for i in range(k):
            for j in range(k):
                h, w = min(panel, side - i * panel), min(panel, side - j * panel)
                child = int(np.random.SeedSequence([int(seed), i, j]).generate_state(1)[0])
                land = generate_landscape(child, panel, start_year, end_year)
                forest = land.forest[:h, :w]
                inside = np.where(forest, 1, NODATA_BYTE).astype(np.uint8)
                arrays = {
                    CLASSIFIERS[0]: np.where(forest, land.species[:h, :w] + 1, NODATA_BYTE).astype(np.uint8),
                    CLASSIFIERS[1]: np.where(forest, land.site_class[:h, :w] + 1, NODATA_BYTE).astype(np.uint8),
                    "initial_age": land.age[:h, :w], "mean_annual_temperature": land.temperature[:h, :w],
                    "admin_boundary": inside, "eco_boundary": inside,
                }
                arrays.update({f"disturbances_{y}": land.disturbances[y][:h, :w] for y in years})
                del land
                for name, data in arrays.items():
                    if name in present:
                        present[name].update(_present(data, NODATA_BYTE))
                    for r0 in range(0, h, _STRIP):
                        r1 = min(r0 + _STRIP, h)
                        out[name].write(data[r0:r1].astype(specs[name][0], copy=False), 1, window=Window(
                            offset + j * panel, offset + i * panel + r0, w, r1 - r0))
                del arrays
    entries: list[dict] = []
    for name, (_, _, data_type, sidecar_nodata, labels, tags, kind) in specs.items():
        if labels is not None and not present[name]:
            (layers_dir / f"{name}.tiff").unlink()  # a year without events has no layer
            continue
        attributes = None if labels is None else {str(v): labels[v] for v in sorted(present[name])}
        _write_json(layers_dir / f"{name}.json", _sidecar(data_type, sidecar_nodata, attributes))
        entries.append({"name": name, "type": kind, "tags": tags})
    return entries


def study_area(entries: list[dict], n_tiles: int = 1) -> dict:
    """The tiler's study_area.json for the demo's tile (or n_tiles x n_tiles tiles)."""
    return {
        "tile_size": 1.0,
        "block_size": BLOCK_SIZE,
        "tiles": mosaic_tiles(n_tiles),
        "pixel_size": CELL,
        "layers": entries,
    }


def generate_demo_project(
    out_dir: str | os.PathLike,
    *,
    seed: int = 42,
    size: int | str = "small",
    start_year: int = 2010,
    end_year: int = 2020,
    growth_curves: str | os.PathLike | None = None,
    overwrite: bool = False,
    tiles: int | None = None,
) -> Path:
    """Generate the demo GCBM project into `out_dir` (atomically; same seed -> byte-identical files).

    `size`: 'small' (200 x 200 pixels, a few hundred unique stands), 'medium' (1000 x 1000),
    'large' (3163 x 3163, ~1e7 pixels), a number of pixels per side, or a total like '1e6px'
    (up to MAX_SIDE pixels per side; past one tile's 4000 the layers span several tiles).
    `tiles`: tiles per side of the layers (default: the fewest that hold the landscape); more than one
    gives the multi-tile layout (module docstring), e.g. a small landscape across 2 x 2 tiles' corner.
    Disturbance layers cover start_year..end_year (one layer per year with events).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ProjectError(f"demo output folder {str(out_dir)!r} is a file, not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ProjectError(f"demo output folder {str(out_dir)!r} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    side = side_for(size)
    n_tiles = tiles_per_side(side, tiles)
    if int(end_year) < int(start_year):
        raise ProjectError(f"demo landscape: end year {end_year} is before start year {start_year}")
    curves = Path(growth_curves) if growth_curves is not None else DEFAULT_GROWTH_CURVES
    landscape = None
    if n_tiles == 1:  # one tile: the whole landscape at once (the original layout, byte for byte)
        try:
            landscape = generate_landscape(int(seed), side, int(start_year), int(end_year))
        except ValueError as err:
            raise ProjectError(f"demo landscape: {err}") from err
    with atomic_dir(out_dir) as tmp:
        layers_dir = tmp / "layers" / "tiled"
        layers_dir.mkdir(parents=True)
        if landscape is not None:
            entries = write_demo_layers(landscape, layers_dir)
        else:
            entries = write_demo_mosaic(int(seed), side, n_tiles, int(start_year), int(end_year), layers_dir)
        _write_json(layers_dir / "study_area.json", study_area(entries, n_tiles))
        db_dir = tmp / "input_database"
        db_dir.mkdir()
        build_gcbm_input_db(
            curves, db_dir / "gcbm_input.db", classifiers=list(CLASSIFIERS),
            transitions=[Transition(str(TRANSITION_ID), 0, 0, ("?",) * len(CLASSIFIERS))],
            admin_boundary=ADMIN_BOUNDARY, eco_boundary=ECO_BOUNDARY,
        )
    return out_dir


__all__ = ["generate_demo_project", "side_for", "tiles_per_side", "SIZE_PRESETS", "CLASSIFIERS", "ADMIN_BOUNDARY", "ECO_BOUNDARY",
           "WILDFIRE", "CLEARCUT"]
