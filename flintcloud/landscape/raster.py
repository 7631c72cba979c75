"""Read a project's raster layers, block by block, decoded through their sidecars.

`read_landscape(config)` opens every layer the config uses once, checks that
they share one grid and CRS and that each has a sidecar, and returns a
`Landscape`. Pixel data is read lazily, one window at a time
(`Landscape.blocks()` / `Landscape.read_block(window)`), so memory does not
grow with the size of the landscape; `Landscape.read()` reads the whole grid
as a single block (small landscapes, tests).

Decoding: categorical layers (classifiers, admin/eco boundary layers,
disturbance layers) become int32 *codes* that index the layer's category list
(`Landscape.categories[layer]`), -1 where the pixel is null. Categories come
from the sidecar, so codes mean the same thing in every block. A pixel value
that is neither nodata nor a key of the sidecar's `attributes` is an error.

Which pixels are simulated follows GCBM's CBMBuildLandUnitModule: the
initial classifier set must be non-empty (every classifier layer has a value;
with `allow_nulls`, at least one), every `mask_vars` layer must have a value;
and, because GCBM's spinup and decay need them, the initial age and — when
they come from layers — the temperature and the admin/eco boundary must have
values too. Pixels failing those are counted per reason in
`LandscapeBlock.excluded`. Those rules read `LandscapeRoles` (which layer plays
which part), built from the config by `LandscapeRoles.of_config`.

Collecting mode (`Landscape.collect_blocks()`, what `flintcloud validate` reads):
the same decoding, but a pixel value missing from a sidecar or an age that is not
a whole number is counted (`LandscapeBlock.unknown`, `.problems`) and the pixel
left out instead of raising at the first; each block also carries the pixels each
rule left out (`.dropped`) and where the numeric layers hold their nodata value
(`.nodata`), so validate words its messages without deciding itself which pixels
are simulated.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from flintcloud.errors import LayerError
from flintcloud.gcbm.config import GcbmConfig
from flintcloud.landscape.grid import Grid
from flintcloud.gcbm.sidecar import DisturbanceEvent, LayerSidecar, layer_data_mismatch, read_sidecar

GDAL_CACHE_MB = 64
DEFAULT_BLOCK_PIXELS = 1 << 18  # ~260 k pixels per block: ~40 MB of temporaries


@dataclass(frozen=True)
class LayerInfo:
    """One layer the simulation reads."""

    name: str
    path: Path
    role: str  # classifier | age | temperature | admin_boundary | eco_boundary | disturbance | mask
    sidecar: LayerSidecar
    dtype: str
    nodata: float | None  # the GeoTIFF's nodata, else the sidecar's
    keys: np.ndarray | None  # sorted int64 pixel values with attributes (categorical layers)
    categories: list  # decoded value for each code (same order as keys)


@dataclass
class LandscapeBlock:
    """Decoded pixels of one window."""

    window: Window
    valid: np.ndarray  # bool (rows, cols): pixels GCBM simulates
    classifiers: dict[str, np.ndarray]  # classifier name -> int32 codes (-1 null), or a scalar category
    age: np.ndarray  # int64 (rows, cols); meaningless where not valid
    temperature: np.ndarray | None  # float64 (rows, cols) or None when not a layer
    admin_boundary: np.ndarray | None  # int32 codes when a layer, else None
    eco_boundary: np.ndarray | None
    disturbances: dict[str, np.ndarray]  # disturbance layer -> int32 codes (-1 no event)
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> pixel count
    # Collecting mode only (Landscape.collect_blocks): what validate reports instead of the first error.
    dropped: dict[str, np.ndarray] = field(default_factory=dict)  # reason -> bool mask behind `excluded`
    unknown: dict[str, dict] = field(default_factory=dict)  # layer -> pixel value not in its sidecar -> count
    nodata: dict[str, np.ndarray] = field(default_factory=dict)  # age/temperature layer -> pixels == its nodata
    problems: list[str] = field(default_factory=list)  # other decoding errors (an age that is not whole)

    @property
    def row_off(self) -> int:
        return int(self.window.row_off)

    @property
    def col_off(self) -> int:
        return int(self.window.col_off)


@dataclass(frozen=True)
class LandscapeRoles:
    """Which layer plays which part when pixels are decoded: the part of a GcbmConfig the
    decoder reads (classifier set, mask_vars, age, temperature, boundaries, disturbances).

    Why not the GcbmConfig itself: validate decodes projects whose configuration it cannot
    build (a project folder with a broken layer, a config set that does not parse), leaving
    out the layers it already reported (`without`). The run builds it with `of_config`.
    """

    classifier_layer: Mapping[str, str | None]  # classifier name -> layer (None: a scalar value), in order
    allow_nulls: bool = False  # initial_classifier_set allow_nulls: one classifier with a value is enough
    mask_layers: tuple[str, ...] = ()  # CBMBuildLandUnitModule mask_vars that are layers
    age_layer: str | None = None
    age_value: int | None = None  # scalar initial_age (no age layer)
    temperature_layer: str | None = None
    admin_boundary_layer: str | None = None
    eco_boundary_layer: str | None = None
    disturbance_layers: tuple[str, ...] = ()

    @classmethod
    def of_config(cls, config: GcbmConfig) -> LandscapeRoles:
        layers = iter(config.classifier_layers)
        names = config.classifier_names or list(config.classifier_layers)
        return cls(
            classifier_layer={n: None if n in config.classifier_values else next(layers) for n in names},
            allow_nulls=config.classifier_allow_nulls,
            mask_layers=tuple(config.mask_layers),
            age_layer=config.age_layer,
            age_value=config.age_value,
            temperature_layer=config.temperature_layer,
            admin_boundary_layer=config.admin_boundary if config.admin_boundary_layer else None,
            eco_boundary_layer=config.eco_boundary if config.eco_boundary_layer else None,
            disturbance_layers=tuple(config.disturbance_layers),
        )

    @classmethod
    def of_layer_roles(cls, roles: Mapping[str, str], *, age_value: int | None = None) -> LandscapeRoles:
        """From layer name -> role (classifier, age, temperature, admin_boundary, eco_boundary,
        disturbance, mask), as `configure` writes a project folder's configuration: the classifiers
        in the given order, no allow_nulls, the first layer of each single role."""
        def first(role: str) -> str | None:
            return next((n for n, r in roles.items() if r == role), None)

        return cls(
            classifier_layer={n: n for n, r in roles.items() if r == "classifier"},
            mask_layers=tuple(n for n, r in roles.items() if r == "mask"),
            age_layer=first("age"),
            age_value=age_value,
            temperature_layer=first("temperature"),
            admin_boundary_layer=first("admin_boundary"),
            eco_boundary_layer=first("eco_boundary"),
            disturbance_layers=tuple(n for n, r in roles.items() if r == "disturbance"),
        )

    def layer_names(self) -> set[str]:
        """Every layer the decoder reads."""
        names = {*self.classifier_layer.values(), self.age_layer, self.temperature_layer, self.admin_boundary_layer,
                 self.eco_boundary_layer, *self.disturbance_layers, *self.mask_layers}
        return {n for n in names if n is not None}

    def without(self, layers: Collection[str]) -> LandscapeRoles:
        """The same roles with `layers` left out (a classifier read from one of them is dropped)."""
        gone = set(layers)

        def keep(layer: str | None) -> str | None:
            return None if layer in gone else layer

        return LandscapeRoles(
            classifier_layer={n: x for n, x in self.classifier_layer.items() if x is None or x not in gone},
            allow_nulls=self.allow_nulls,
            mask_layers=tuple(x for x in self.mask_layers if x not in gone),
            age_layer=keep(self.age_layer),
            age_value=self.age_value,
            temperature_layer=keep(self.temperature_layer),
            admin_boundary_layer=keep(self.admin_boundary_layer),
            eco_boundary_layer=keep(self.eco_boundary_layer),
            disturbance_layers=tuple(x for x in self.disturbance_layers if x not in gone),
        )


@dataclass
class Landscape:
    """The layers of a project, on one grid; pixel data read per block."""

    config: GcbmConfig | None  # None: built by validate from roles alone (it never groups stands)
    grid: Grid
    layers: dict[str, LayerInfo]  # layer name -> info
    roles: LandscapeRoles
    block_rows: int
    block_cols: int

    @property
    def classifier_names(self) -> list[str]:
        return list(self.roles.classifier_layer)

    @property
    def classifier_layer(self) -> Mapping[str, str | None]:  # classifier name -> layer (None: scalar value)
        return self.roles.classifier_layer

    def categories(self, layer: str) -> list:
        return self.layers[layer].categories

    def classifier_categories(self, classifier: str) -> list[str]:
        layer = self.classifier_layer[classifier]
        if layer is None:
            return [self.config.classifier_values[classifier]]
        return self.layers[layer].categories

    def disturbance_events(self, layer: str) -> list[tuple[DisturbanceEvent, ...]]:
        return self.layers[layer].categories

    def windows(self) -> Iterator[Window]:
        return self.grid.windows(self.block_rows, self.block_cols)

    def blocks(self) -> Iterator[LandscapeBlock]:
        """Decoded blocks in row-major order; datasets stay open while iterating."""
        with _OpenLayers(self.layers) as datasets:
            for window in self.windows():
                yield self._decode(datasets, window)

    def collect_blocks(self) -> Iterator[LandscapeBlock]:
        """`blocks()` in collecting mode: the same pixels are simulated (`valid`), but a pixel value
        missing from its sidecar or an age that is not a whole number is counted in the block
        (`unknown`, `problems`) and the pixel left out instead of raising; `dropped` and `nodata`
        are filled in. What validate reads: it lists every problem the run would stop at."""
        with _OpenLayers(self.layers) as datasets:
            for window in self.windows():
                yield self._decode(datasets, window, collect=True)

    def read_block(self, window: Window) -> LandscapeBlock:
        with _OpenLayers(self.layers) as datasets:
            return self._decode(datasets, window)

    def read(self) -> LandscapeBlock:
        """The whole grid as one block (small landscapes only)."""
        return self.read_block(Window(0, 0, self.grid.width, self.grid.height))

    # ------------------------------------------------------------------ decoding

    def _decode(self, datasets: dict, window: Window, *, collect: bool = False) -> LandscapeBlock:
        roles = self.roles
        shape = (int(window.height), int(window.width))
        raw = {name: _read(ds, self.layers[name], window) for name, ds in datasets.items()}
        unknown: dict[str, dict] | None = {} if collect else None  # None: raise at the first unknown value
        problems: list[str] = []
        dropped: dict[str, np.ndarray] = {}
        nodata: dict[str, np.ndarray] = {}

        def codes_of(layer: str) -> np.ndarray:
            return _codes(raw[layer], self.layers[layer], window, unknown)

        valid = np.ones(shape, dtype=bool)
        excluded: dict[str, int] = {}

        def leave_out(reason: str, ok: np.ndarray) -> None:
            """GCBM does not simulate the valid pixels that fail `ok`: count them under `reason`."""
            drop = valid & ~ok
            excluded[reason] = int(drop.sum())
            if collect:
                dropped[reason] = drop
            valid[:] &= ok

        classifiers: dict[str, np.ndarray] = {}
        null_counts = []
        for cname, layer in roles.classifier_layer.items():
            if layer is None:
                classifiers[cname] = np.zeros(shape, dtype=np.int32)
            else:
                classifiers[cname] = codes_of(layer)
                null_counts.append(classifiers[cname] < 0)
        if null_counts:
            nulls = np.stack(null_counts)
            cset_ok = ~nulls.any(axis=0) if not roles.allow_nulls else ~nulls.all(axis=0)
        else:
            cset_ok = np.ones(shape, dtype=bool)
        leave_out("no_classifier_set", cset_ok)

        for layer in roles.mask_layers:
            leave_out(f"mask:{layer}", ~_null(raw[layer], self.layers[layer]))

        if roles.age_layer is not None:
            info = self.layers[roles.age_layer]
            age_raw = raw[roles.age_layer]
            ok = ~_null(age_raw, info)
            if collect:
                nodata[roles.age_layer] = _nodata_pixels(age_raw, info)
            if info.keys is not None:
                codes = codes_of(roles.age_layer)
                ok &= codes >= 0
                age = _decode_numeric(codes, info, ok)
            else:
                age = np.where(ok, age_raw, 0)
            if np.issubdtype(np.asarray(age).dtype, np.floating):
                bad = ok & ~(np.isfinite(age) & (np.asarray(age) == np.round(age)))
                if bad.any():
                    value = np.asarray(age)[bad][0].item()
                    message = (f"layer {roles.age_layer!r} ({str(info.path)!r}): age {value!r} is not a whole "
                               "number of years")
                    if not collect:
                        raise LayerError(message)
                    problems.append(message)
                    ok &= ~bad
                    age = np.where(ok, age, 0)
            age = np.asarray(age).astype(np.int64)
            leave_out("initial_age_null", ok)
        else:
            age = np.full(shape, int(roles.age_value or 0), dtype=np.int64)

        temperature = None
        if roles.temperature_layer is not None:
            info = self.layers[roles.temperature_layer]
            t_raw = raw[roles.temperature_layer]
            ok = ~_null(t_raw, info)
            if collect:
                nodata[roles.temperature_layer] = _nodata_pixels(t_raw, info)
            if info.keys is not None:
                codes = codes_of(roles.temperature_layer)
                ok &= codes >= 0
                temperature = np.asarray(_decode_numeric(codes, info, ok), dtype=np.float64)
            else:
                temperature = np.where(ok, t_raw.astype(np.float64), np.nan)
            ok &= np.isfinite(temperature)
            leave_out("mean_annual_temperature_null", ok)

        bounds = {}
        for role, layer in (("admin_boundary", roles.admin_boundary_layer),
                            ("eco_boundary", roles.eco_boundary_layer)):
            if layer is not None:
                codes = codes_of(layer)
                leave_out(f"{role}_null", codes >= 0)
                bounds[role] = codes
            else:
                bounds[role] = None

        disturbances = {layer: codes_of(layer) for layer in roles.disturbance_layers}
        return LandscapeBlock(
            window=window,
            valid=valid,
            classifiers=classifiers,
            age=age,
            temperature=temperature,
            admin_boundary=bounds["admin_boundary"],
            eco_boundary=bounds["eco_boundary"],
            disturbances=disturbances,
            excluded={k: v for k, v in excluded.items() if v},
            dropped=dropped,
            unknown=unknown or {},
            nodata=nodata,
            problems=problems,
        )


class _OpenLayers:
    """Open every layer once; close all on exit."""

    def __init__(self, layers: dict[str, LayerInfo]):
        self.layers = layers
        self.datasets: dict = {}

    def __enter__(self) -> dict:
        # Each window is read once, so GDAL's block cache (default: 5 % of RAM) buys
        # nothing here; keep it small so memory stays bounded.
        self.env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024)
        self.env.__enter__()
        try:
            for name, info in self.layers.items():
                self.datasets[name] = rasterio.open(info.path)
        except (RasterioError, OSError) as err:
            self.__exit__(None, None, None)
            raise LayerError(f"layer {name!r}: cannot open {str(info.path)!r}: {err}") from err
        return self.datasets

    def __exit__(self, *exc) -> None:
        for ds in self.datasets.values():
            ds.close()
        self.datasets = {}
        if getattr(self, "env", None) is not None:
            self.env.__exit__(*exc)
            self.env = None


def _read(ds, info: LayerInfo, window: Window) -> np.ndarray:
    try:
        return ds.read(1, window=window)
    except (RasterioError, OSError) as err:
        raise LayerError(f"layer {info.name!r}: cannot read {str(info.path)!r} in window {window}: {err}") from err


def _null(arr: np.ndarray, info: LayerInfo) -> np.ndarray:
    return null_mask(arr, info.nodata)


def null_mask(arr: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where a pixel is null: NaN, or exactly the nodata value in the raster's dtype. Pure.

    The one nodata rule (the run and validate both use it): a float nodata matches a pixel
    when it equals it after conversion to the raster's dtype, as GDAL compares them.
    """
    null = np.zeros(arr.shape, dtype=bool)
    if np.issubdtype(arr.dtype, np.floating):
        null |= np.isnan(arr)
    if nodata is not None:
        nd = nodata
        if isinstance(nd, float) and math.isnan(nd):
            return null
        if np.issubdtype(arr.dtype, np.integer):
            lim = np.iinfo(arr.dtype)
            if lim.min <= nd <= lim.max and float(nd) == int(nd):
                null |= arr == arr.dtype.type(int(nd))
        else:
            null |= arr == np.asarray(nd).astype(arr.dtype)
    return null


def _codes(arr: np.ndarray, info: LayerInfo, window: Window, collected: dict | None = None) -> np.ndarray:
    """int32 category codes (-1 null) of a categorical layer. Unknown pixel values raise LayerError, or
    with `collected` (collecting mode) are counted there (layer -> value -> pixels) and get code -2."""
    if info.keys is None:  # pragma: no cover - categorical layers always get keys in layer_info
        raise AssertionError(f"layer {info.name!r} has no category keys")
    codes, missing = category_codes(arr, info.keys, info.nodata)
    if missing.any():
        if collected is None:
            _unknown(arr, missing, info, window)
        counts = collected.setdefault(info.name, {})
        for value, n in zip(*pixel_value_counts(arr[missing])):
            counts[value] = counts.get(value, 0) + n
    return codes


def pixel_value_counts(values: np.ndarray) -> tuple[list, list]:
    """Unique pixel values (integers where they are integral) and their counts. Pure."""
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size == values.size and np.all(finite == np.round(finite)):
            values = finite.astype(np.int64)
    uniq, counts = np.unique(values, return_counts=True)
    return uniq.tolist(), counts.tolist()


def _nodata_pixels(arr: np.ndarray, info: LayerInfo) -> np.ndarray:
    """Where a pixel holds the layer's nodata value (a NaN pixel is not nodata here, unless nodata is NaN)."""
    null = null_mask(arr, info.nodata)
    if np.issubdtype(arr.dtype, np.floating) and not (info.nodata is not None and math.isnan(info.nodata)):
        null &= ~np.isnan(arr)
    return null


def category_codes(arr: np.ndarray, keys: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes, unknown mask) of a categorical layer's pixels. Pure.

    codes index `keys` (the sidecar's sorted pixel values); -1 where the pixel is null
    (`null_mask`) and -2 where its value is not a key (`unknown` is True there). The run raises
    on the first unknown value (`_codes`); validate counts them all.
    """
    if arr.dtype.kind in "uib" and arr.dtype.itemsize <= 2:
        # Small integer rasters (Byte, Int16): one lookup table over the whole dtype range.
        lim = np.iinfo(arr.dtype)
        lut = np.full(int(lim.max) - int(lim.min) + 1, -2, dtype=np.int32)
        in_range = (keys >= lim.min) & (keys <= lim.max)
        lut[keys[in_range] - lim.min] = np.nonzero(in_range)[0].astype(np.int32)
        nd = nodata
        if nd is not None and not math.isnan(nd) and lim.min <= nd <= lim.max and nd == int(nd):
            lut[int(nd) - lim.min] = -1
        codes = lut[arr.astype(np.int64) - lim.min] if lim.min else lut[arr]
        return codes, codes == -2
    null = null_mask(arr, nodata)
    values = arr.astype(np.float64) if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.int64)
    idx = np.searchsorted(keys, values)
    idx_c = np.minimum(idx, max(len(keys) - 1, 0))
    found = (~null) & (len(keys) > 0)
    if len(keys):
        found &= keys[idx_c] == values
    missing = (~null) & ~found
    return np.where(found, idx_c, np.where(missing, -2, -1)).astype(np.int32), missing


def _unknown(arr: np.ndarray, missing: np.ndarray, info: LayerInfo, window: Window) -> None:
    bad = np.unique(arr[missing])
    r, c = np.argwhere(missing)[0]
    shown = ", ".join(_fmt(v) for v in bad[:10]) + (" …" if len(bad) > 10 else "")
    known = ", ".join(_fmt(k) for k in info.keys[:20]) + (" …" if len(info.keys) > 20 else "")
    raise LayerError(
        f"layer {info.name!r}: pixel value(s) {shown} are not in the attributes of its sidecar "
        f"{info.sidecar.source!r} (first at row {int(window.row_off) + int(r)}, column "
        f"{int(window.col_off) + int(c)}; known values: {known or 'none'}; nodata {info.nodata!r})"
    )


def _decode_numeric(codes: np.ndarray, info: LayerInfo, ok: np.ndarray) -> np.ndarray:
    """The numbers a numeric layer's sidecar maps its codes to (0 where not `ok`)."""
    try:
        table = np.array([float(v) for v in info.categories], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise LayerError(
            f"layer {info.name!r}: sidecar {info.sidecar.source!r} maps pixel values to non-numeric "
            f"values, but the layer is read as a number ({info.role})"
        ) from err
    return np.where(ok & (codes >= 0), table[np.maximum(codes, 0)] if len(table) else 0.0, 0.0)


def _fmt(v) -> str:
    f = float(v)
    return str(int(f)) if f == int(f) else repr(f)


# ---------------------------------------------------------------------- reading


CATEGORICAL_ROLES = {"classifier", "admin_boundary", "eco_boundary", "disturbance"}


def layer_info(name: str, path: Path, role: str, ds, sidecar: LayerSidecar) -> LayerInfo:
    """What the decoder needs of one open layer (validate builds them for the layers it could open)."""
    nodata = ds.nodata if ds.nodata is not None else sidecar.nodata
    keys = None
    categories: list = []
    attrs = sidecar.attributes
    if role in CATEGORICAL_ROLES:
        if role == "disturbance":
            if not attrs:
                raise LayerError(
                    f"disturbance layer {name!r}: sidecar {sidecar.source!r} has no 'attributes' mapping pixel "
                    "values to {year, disturbance_type, transition}"
                )
            if not sidecar.is_disturbance():
                raise LayerError(
                    f"disturbance layer {name!r}: sidecar {sidecar.source!r} attributes are not disturbance events "
                    "({year, disturbance_type, transition})"
                )
        elif attrs is not None and sidecar.is_disturbance():
            raise LayerError(
                f"{role} layer {name!r}: sidecar {sidecar.source!r} maps pixel values to disturbance events; "
                "expected classifier values"
            )
        if attrs is None:
            if np.issubdtype(np.dtype(ds.dtypes[0]), np.floating):
                raise LayerError(
                    f"{role} layer {name!r}: sidecar {sidecar.source!r} has no 'attributes' and the raster is "
                    f"{ds.dtypes[0]}; a classifier layer needs attributes or integer pixel values"
                )
            # No attribute table: GCBM uses the pixel value itself; learn the values on first read.
            keys = _distinct_values(ds, nodata)
            categories = [str(int(k)) for k in keys]
        else:
            keys = np.array(sorted(attrs), dtype=np.int64)
            categories = [attrs[int(k)] for k in keys]
    elif attrs:
        keys = np.array(sorted(attrs), dtype=np.int64)
        categories = [attrs[int(k)] for k in keys]
    return LayerInfo(
        name=name,
        path=path,
        role=role,
        sidecar=sidecar,
        dtype=ds.dtypes[0],
        nodata=None if nodata is None else float(nodata),
        keys=keys,
        categories=categories,
    )


def _distinct_values(ds, nodata) -> np.ndarray:
    seen: set = set()
    for _, window in ds.block_windows(1):
        arr = ds.read(1, window=window)
        vals = np.unique(arr)
        seen.update(int(v) for v in vals if nodata is None or v != nodata)
    return np.array(sorted(seen), dtype=np.int64)


def not_geotiff_message(name: str, path, driver: str) -> str:
    """The sentence for a layer file GDAL opens with another driver (a PNG renamed .tiff, ...)."""
    return (f"layer {name!r}: {str(path)!r} is not a GeoTIFF (GDAL reads it as {driver}); "
            "GCBM reads GeoTIFF layers only: export it as a GeoTIFF")


def _block_shape(grid: Grid, internal: tuple[int, int] | None, block_pixels: int) -> tuple[int, int]:
    """Windows aligned to the GeoTIFF's own tiles/strips, about `block_pixels` each.

    Aligned windows decode every compressed tile exactly once.
    """
    tile_r, tile_c = internal or (1, grid.width)
    tile_r = max(1, min(tile_r, grid.height))
    tile_c = max(1, min(tile_c, grid.width))
    if tile_c >= grid.width or tile_r * grid.width <= block_pixels:
        rows = max(tile_r, (block_pixels // max(grid.width, 1)) // tile_r * tile_r)
        return min(rows, grid.height), grid.width
    cols = max(tile_c, (block_pixels // tile_r) // tile_c * tile_c)
    return tile_r, min(cols, grid.width)


def read_landscape(
    config: GcbmConfig, *, block_pixels: int = DEFAULT_BLOCK_PIXELS, block_shape: tuple[int, int] | None = None
) -> Landscape:
    """Open and check every layer `config` uses; pixel data is read later, per block.

    Raises LayerError naming the layer when a file or sidecar is missing, a
    layer has more than one band, or its grid/CRS differs from the first layer's.
    """
    roles = config.layer_roles()
    if not roles:
        raise LayerError(
            f"{str(config.config_dir)!r}: the configuration reads no raster layers "
            "(initial_classifier_set has no layer variables)"
        )
    layers: dict[str, LayerInfo] = {}
    grid: Grid | None = None
    first = None
    internal_block: tuple[int, int] | None = None
    for name, role in roles.items():
        path = config.layer_path(name)
        if not path.is_file():
            raise LayerError(f"{role} layer {name!r}: file {str(path)!r} not found")
        sidecar = read_sidecar(path)
        try:
            with rasterio.open(path) as ds:
                if ds.driver != "GTiff":
                    raise LayerError(not_geotiff_message(name, path, ds.driver))
                if ds.count < 1:
                    raise LayerError(f"{role} layer {name!r}: {str(path)!r} has no bands")
                mismatch = layer_data_mismatch(sidecar, ds.dtypes[0])
                if mismatch:
                    raise LayerError(f"layer {name!r}: {mismatch}")
                this = Grid(ds.transform, ds.crs, ds.width, ds.height)
                if grid is None:
                    grid, first = this, name
                else:
                    problem = grid.mismatch(this)
                    if problem:
                        raise LayerError(
                            f"{role} layer {name!r} ({str(path)!r}) is on another grid than layer {first!r}: "
                            f"{problem}. All layers must share one grid and CRS."
                        )
                layers[name] = layer_info(name, path, role, ds, sidecar)
                if internal_block is None:
                    internal_block = tuple(ds.block_shapes[0])
        except RasterioError as err:
            raise LayerError(f"{role} layer {name!r}: cannot read {str(path)!r} as a GeoTIFF: {err}") from err
    assert grid is not None
    if block_shape is not None:
        block_rows, block_cols = block_shape
    else:
        block_rows, block_cols = _block_shape(grid, internal_block, block_pixels)
    return Landscape(
        config=config,
        grid=grid,
        layers=layers,
        roles=LandscapeRoles.of_config(config),
        block_rows=int(block_rows),
        block_cols=int(block_cols),
    )
