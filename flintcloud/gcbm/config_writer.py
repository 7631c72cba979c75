"""Write a complete GCBM configuration set for a project (the `configure` stage).

`write_gcbm_config(project_dir, out_config_dir, settings)` writes

    gcbm_config.cfg, localdomain.json, provider_config.json, modules_cbm.json,
    modules_output.json, pools_cbm.json, spinup.json, variables.json,
    internal_variables.json, logging.conf

in the form GCBM's `moja.cli --config_file gcbm_config.cfg --config_provider
provider_config.json` reads when run inside the config folder: same modules,
orders and libraries, the same SQL queries, pools and runtime variables as
moja global's own configurations (templates/), with the project's layers,
tiles, dates (GCBM's end_date is exclusive), boundaries, spinup settings,
indicators and output paths filled in. Every path is written relative to the
config folder.

Layers are discovered from the project folder (`layers/tiled/*.tif[f]` and
their sidecars, plus `study_area.json` when the tiler wrote one): a layer
whose sidecar attributes map pixel values to strings is a classifier layer,
one whose attributes are `{year, disturbance_type, transition}` events is a
disturbance layer, and the age and temperature layers are recognised by name
(`initial_age`, `age`, `mean_annual_temperature`) or by study_area tags.
`ConfigSettings` can name any of them explicitly.

Pure parts (`settings_from_params`, `classify_layer`, `build_gcbm_config`,
`output_items`) take and return plain data; `discover_project` and
`write_gcbm_config` do the I/O.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import RasterioError

from flintcloud.atomic import atomic_dir
from flintcloud.errors import ConfigError, LayerError, OutputError
from flintcloud.params import ENGINE_NAMES, OUTPUT_LAYOUT
from flintcloud.gcbm.config import GcbmConfig, parse_gcbm_config
from flintcloud.gcbm.project import (
    ROLES,
    ProjectLayer,
    classify_layer,
    default_boundaries,
    default_db_path,
    default_layers_dir,
    discover_layers,
    explicit_roles,
    find_layer_files,
    layer_name,
    read_study_area,
)
from flintcloud.inputdb.reader import read_classifier_names, read_spatial_unit_names

#: Engines the `simulate` stage knows (the registry is flintcloud.params.ENGINES).
KNOWN_ENGINES = ENGINE_NAMES

#: Files of a configuration set, in the order gcbm_config.cfg lists the JSON ones.
CONFIG_FILES = (
    "localdomain.json",
    "pools_cbm.json",
    "modules_cbm.json",
    "modules_output.json",
    "spinup.json",
    "variables.json",
    "internal_variables.json",
)
ALL_FILES = ("gcbm_config.cfg", *CONFIG_FILES, "provider_config.json", "logging.conf")

DEFAULT_LIBRARIES = {"moja.modules.cbm": "external", "moja.modules.gdal": "external"}

_LOGGING_CONF = """[Core]
DisableLogging=false

[Sinks.console]
Destination=Console
Asynchronous=false
AutoFlush=true
Format="<%TimeStamp%> (%Severity%) - %Message%"
Filter="%Severity% >= info"

[Sinks.file]
Destination=TextFile
FileName="{log_file}"
Asynchronous=false
AutoFlush=true
Format="<%TimeStamp%> (%Severity%) - %Message%"
Filter="%Severity% >= debug"
"""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SpinupOptions:
    """spinup.json: `Spinup.enabled` and `SpinupVariables`, as params.yaml sets them.

    Not gcbm.config.SpinupSettings: that one is a spinup.json as *read* (sequencer, parameters query,
    modules — what GCBM runs); this is the four values configure *writes* into the template.
    """

    enabled: bool = True
    delay: int = 0
    minimum_rotation: int = 10
    run_delay: bool = False


@dataclass(frozen=True)
class ConfigSettings:
    """Everything `configure` takes from params.yaml. Years are inclusive.

    Not a twin of gcbm.config.GcbmConfig: settings are the *input* of configure (None = discover from
    the project, layer names not yet resolved to files); GcbmConfig is what a written configuration
    *says*, every path resolved, read by validate and the run. build_gcbm_config turns one into the
    other's documents.

    Layer names (`classifier_layers`, `disturbance_layers`, `age_layer`,
    `temperature_layer`) are GCBM layer names (the tiff name without `_moja`);
    None means "discover from the project". `admin_boundary`/`eco_boundary`
    are a value from the db's admin_boundary/eco_boundary tables or the name
    of a layer. Paths (`db_path`, `output_dir`, `log_file`) may be absolute or
    relative to the current directory; None means the default next to the
    project / config folder.
    """

    start_year: int
    end_year: int
    admin_boundary: str | None = None
    eco_boundary: str | None = None
    classifier_layers: tuple[str, ...] | None = None
    disturbance_layers: tuple[str, ...] | None = None
    age_layer: str | None = None
    initial_age: int | None = None
    temperature_layer: str | None = None
    mean_annual_temperature: float | None = None
    initial_land_class: str = "FL"
    age_class_range: int = 20
    age_maximum: int = 300
    slow_ag_to_bg_mixing_rate: float = 0.006
    enable_peatland: bool = False
    enable_moss: bool = False
    spinup: SpinupOptions = field(default_factory=SpinupOptions)
    output_indicators: tuple[str, ...] | None = None  # None: the whole catalogue
    db_path: Path | None = None
    layers_dir: Path | None = None
    output_dir: Path | None = None  # default: <config dir>/../output
    output_db_name: str = OUTPUT_LAYOUT.raw_db
    log_file: Path | None = None  # default: <output_dir>/logs/Moja_Debug.log
    num_threads: int = 4
    libraries: tuple[tuple[str, str], ...] = tuple(DEFAULT_LIBRARIES.items())
    engine: str = "libcbm"


def settings_from_params(params: Mapping[str, Any], *, base_dir: str | os.PathLike | None = None) -> ConfigSettings:
    """Build `ConfigSettings` from a parsed params.yaml. Pure; collects every problem.

    Reads `simulation` (start_year, end_year, engine, admin_boundary,
    eco_boundary, initial_age, mean_annual_temperature, age_class_range,
    age_maximum, slow_ag_to_bg_mixing_rate, initial_land_class, num_threads,
    spinup {enabled, delay, minimum_rotation, run_delay}), `project` (db,
    layers_dir, layers {classifiers, disturbances, age, temperature}) and
    `outputs` (indicators, dir). Relative paths are taken against `base_dir`.
    Raises ConfigError listing every invalid value.
    """
    settings, problems = _parse_params(params, base_dir)
    if problems:
        raise ConfigError("params.yaml: " + "; ".join(problems))
    return settings


def settings_from_params_lenient(params: Any, *, base_dir: str | os.PathLike | None = None) -> ConfigSettings | None:
    """Settings from params with invalid values replaced by defaults (years 0 when missing); for validation."""
    return _parse_params(params, base_dir)[0]


def params_problems(params: Any) -> list[str]:
    """Every problem `settings_from_params` would report, one message each (pure)."""
    return _parse_params(params, None)[1]


def _parse_params(params: Any, base_dir: str | os.PathLike | None) -> tuple[ConfigSettings | None, list[str]]:
    problems: list[str] = []
    if not isinstance(params, Mapping):
        return None, [f"params must be a mapping of sections, got {type(params).__name__}"]
    sim = _section(params, "simulation", problems)
    project = _section(params, "project", problems)
    outputs = _section(params, "outputs", problems)
    layers = project.get("layers") or {}
    if not isinstance(layers, Mapping):
        problems.append(f"project.layers must be a mapping (classifiers, disturbances, age, temperature), got {layers!r}")
        layers = {}
    spin = sim.get("spinup") or {}
    if not isinstance(spin, Mapping):
        problems.append(f"simulation.spinup must be a mapping, got {spin!r}")
        spin = {}

    start = _int(sim, "start_year", "simulation", problems, required=True)
    end = _int(sim, "end_year", "simulation", problems, required=True)
    if start is not None and end is not None and end < start:
        problems.append(f"simulation.end_year {end} is before simulation.start_year {start}; expected end_year >= start_year")
    engine = sim.get("engine", "libcbm")
    if not isinstance(engine, str) or engine not in KNOWN_ENGINES:
        problems.append(f"simulation.engine {engine!r} is not a known engine; expected one of {', '.join(KNOWN_ENGINES)}")

    indicators = outputs.get("indicators")
    if indicators is not None:
        if isinstance(indicators, str) or not isinstance(indicators, Sequence) or not all(
            isinstance(n, str) for n in indicators
        ):
            problems.append(f"outputs.indicators must be a list of indicator names, got {indicators!r}")
            indicators = None
        else:
            unknown = [n for n in indicators if n not in indicator_catalogue()]
            if unknown:
                problems.append(_unknown_indicator_message(unknown, "outputs.indicators"))
            indicators = tuple(str(n) for n in indicators)

    def path(section: Mapping, key: str, where: str) -> Path | None:
        value = section.get(key)
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)):
            problems.append(f"{where}.{key} must be a path, got {value!r}")
            return None
        p = Path(value)
        return p if p.is_absolute() or base_dir is None else Path(base_dir) / p

    spinup = SpinupOptions(
        enabled=_bool(spin, "enabled", "simulation.spinup", problems, True),
        delay=_int(spin, "delay", "simulation.spinup", problems, default=0, minimum=0),
        minimum_rotation=_int(spin, "minimum_rotation", "simulation.spinup", problems, default=10, minimum=1),
        run_delay=_bool(spin, "run_delay", "simulation.spinup", problems, False),
    )
    settings = ConfigSettings(
        start_year=start if start is not None else 0,
        end_year=end if end is not None else 0,
        admin_boundary=_str(sim, "admin_boundary", "simulation", problems),
        eco_boundary=_str(sim, "eco_boundary", "simulation", problems),
        classifier_layers=_names(layers, "classifiers", "project.layers", problems),
        disturbance_layers=_names(layers, "disturbances", "project.layers", problems),
        age_layer=_str(layers, "age", "project.layers", problems),
        initial_age=_int(sim, "initial_age", "simulation", problems, minimum=0),
        temperature_layer=_str(layers, "temperature", "project.layers", problems),
        mean_annual_temperature=_float(sim, "mean_annual_temperature", "simulation", problems),
        initial_land_class=_str(sim, "initial_land_class", "simulation", problems) or "FL",
        age_class_range=_int(sim, "age_class_range", "simulation", problems, default=20, minimum=1),
        age_maximum=_int(sim, "age_maximum", "simulation", problems, default=300, minimum=1),
        slow_ag_to_bg_mixing_rate=_float(sim, "slow_ag_to_bg_mixing_rate", "simulation", problems, 0.006),
        spinup=spinup,
        output_indicators=indicators,
        db_path=path(project, "db", "project"),
        layers_dir=path(project, "layers_dir", "project"),
        output_dir=path(outputs, "dir", "outputs"),
        num_threads=_int(sim, "num_threads", "simulation", problems, default=4, minimum=1),
        engine=engine if isinstance(engine, str) else str(engine),
    )
    return settings, problems


def _section(params: Mapping, name: str, problems: list[str]) -> Mapping:
    value = params.get(name) or {}
    if not isinstance(value, Mapping):
        problems.append(f"params section {name!r} must be a mapping, got {value!r}")
        return {}
    return value


def _int(section, key, where, problems, *, required=False, default=None, minimum=None):
    value = section.get(key)
    if value is None:
        if required:
            problems.append(f"{where}.{key} is missing; expected an integer")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        problems.append(f"{where}.{key} is {value!r}; expected an integer")
        return default
    if minimum is not None and value < minimum:
        problems.append(f"{where}.{key} is {value!r}; expected an integer >= {minimum}")
        return default
    return int(value)


def _float(section, key, where, problems, default=None):
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"{where}.{key} is {value!r}; expected a finite number")
        return default
    return float(value)


def _bool(section, key, where, problems, default):
    value = section.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}.{key} is {value!r}; expected true or false")
        return default
    return value


def _str(section, key, where, problems):
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.{key} is {value!r}; expected a non-empty name")
        return None
    return value


def _names(section, key, where, problems):
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}.{key} is {value!r}; expected a list of layer names")
        return None
    return tuple(value)


# --------------------------------------------------------------------------- templates and indicators


@lru_cache(maxsize=None)
def _template_text(name: str) -> str:
    return resources.files("flintcloud.gcbm").joinpath("templates", name).read_text(encoding="utf-8")


def template(name: str) -> Any:
    """A fresh copy of the parsed JSON template `name` (flintcloud/gcbm/templates/)."""
    return json.loads(_template_text(name))


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict]:
    return {item["data_name"]: item for item in template("output_items.json")}


def indicator_catalogue() -> dict[str, dict]:
    """WriteVariableGeotiff items by data_name, in the catalogue's order (a copy)."""
    return copy.deepcopy(_catalogue())


def _unknown_indicator_message(unknown: Sequence[str], where: str) -> str:
    return (
        f"{where}: unknown indicator name(s) {', '.join(repr(u) for u in unknown)}; "
        f"known indicators: {', '.join(_catalogue())}"
    )


def output_items(names: Sequence[str] | None) -> list[dict]:
    """The WriteVariableGeotiff items for `names` (None: all), catalogue order kept for None."""
    catalogue = indicator_catalogue()
    if names is None:
        return list(catalogue.values())
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise ConfigError(_unknown_indicator_message(unknown, "output indicators"))
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [catalogue[n] for n in seen]


# --------------------------------------------------------------------------- project discovery


@dataclass(frozen=True)
class RasterGrid:
    """Georeference of the reference layer, enough to write localdomain.json.

    Not landscape.grid.Grid: gcbm comes before landscape in the data flow, and configure needs only
    plain bounds and cell sizes (no Affine, no CRS object, no pixel areas).
    """

    left: float
    bottom: float
    right: float
    top: float
    cell_x: float
    cell_y: float
    width: int
    height: int
    geographic: bool


@dataclass(frozen=True)
class ProjectLayers:
    """What `configure` found in a project folder."""

    project_dir: Path
    layers: tuple[ProjectLayer, ...]
    grid: RasterGrid | None
    db_path: Path
    tile_size: float = 1.0
    block_size: float = 0.1
    db_classifiers: tuple[str, ...] = ()
    admin_boundary: str | None = None  # settings' value, else the project's layer or the db's only one
    eco_boundary: str | None = None
    db_spatial_units: tuple[tuple[str, str], ...] = ()

    def by_role(self, role: str) -> list[ProjectLayer]:
        return [layer for layer in self.layers if layer.role == role]

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]


def discover_project(project_dir: str | os.PathLike, settings: ConfigSettings) -> ProjectLayers:
    """Find the layers, their roles, the grid and the input db of a GCBM project (I/O).

    Raises LayerError / ConfigError / DatabaseError naming the file at fault;
    `flintcloud.validate` reports every such problem at once instead.
    """
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise ConfigError(f"project folder {str(project_dir)!r} does not exist")
    layers_dir = Path(settings.layers_dir) if settings.layers_dir else default_layers_dir(project_dir)
    if not layers_dir.is_dir():
        raise ConfigError(f"project {str(project_dir)!r} has no layers folder {str(layers_dir)!r}")
    study = read_study_area(layers_dir)  # a broken study_area.json is a ConfigError here
    roles = explicit_roles(settings)
    discovery = discover_layers(layers_dir, settings)  # the same discovery validate reports from
    discovery.raise_for_problems()
    layers = discovery.layers
    found = {layer.name for layer in layers}
    missing = [n for n in roles if n not in found]
    if missing:
        raise ConfigError(
            f"layer(s) {', '.join(repr(m) for m in missing)} named in the settings are not in {str(layers_dir)!r}; "
            f"found: {', '.join(sorted(found)) or 'no layers'}"
        )
    if not layers:
        raise LayerError(f"no GeoTIFF layers with sidecars in {str(layers_dir)!r}")
    grid = read_raster_grid(layers[0].path)
    db_path = Path(settings.db_path) if settings.db_path else default_db_path(project_dir)
    db_classifiers = read_classifier_names(db_path)
    spatial_units = read_spatial_unit_names(db_path)
    admin, eco = default_boundaries(settings.admin_boundary, settings.eco_boundary, [x.name for x in layers], spatial_units)
    tile_size, block_size = _tile_block_sizes(study, layers)
    return ProjectLayers(
        project_dir=project_dir,
        layers=tuple(layers),
        grid=grid,
        db_path=db_path,
        tile_size=tile_size,
        block_size=block_size,
        db_classifiers=tuple(db_classifiers),
        admin_boundary=admin,
        eco_boundary=eco,
        db_spatial_units=tuple(spatial_units),
    )


def _tile_block_sizes(study: Mapping, layers: Sequence[ProjectLayer]) -> tuple[float, float]:
    tile = study.get("tile_size")
    block = study.get("block_size")
    for layer in layers:
        extra = layer.sidecar.extra if layer.sidecar else {}
        tile = tile if tile is not None else extra.get("tileLatSize")
        block = block if block is not None else extra.get("blockLatSize")
    try:
        return float(tile if tile is not None else 1.0), float(block if block is not None else 0.1)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"tile size {tile!r} / block size {block!r} in the study area or sidecars are not numbers") from err


def read_raster_grid(tiff: Path) -> RasterGrid:
    try:
        with rasterio.open(tiff) as ds:
            t = ds.transform
            b = ds.bounds
            geographic = bool(ds.crs and ds.crs.is_geographic)
            return RasterGrid(
                left=b.left, bottom=b.bottom, right=b.right, top=b.top,
                cell_x=abs(t.a), cell_y=abs(t.e), width=ds.width, height=ds.height, geographic=geographic,
            )
    except RasterioError as err:
        raise LayerError(f"layer {str(tiff)!r} is not a readable GeoTIFF: {err}") from err





# --------------------------------------------------------------------------- building the documents


def _relpath(target: Path, config_dir: Path) -> str:
    rel = os.path.relpath(Path(os.path.abspath(target)), Path(os.path.abspath(config_dir)))
    return rel.replace(os.sep, "/")


def _layer_transform(name: str) -> dict:
    return {
        "transform": {
            "library": "internal.flint",
            "type": "LocationIdxFromFlintDataTransform",
            "provider": "RasterTiled",
            "data_id": name,
        }
    }


def _temperature_query() -> dict:
    # No temperature layer and no value: take the spinup parameter's temperature of the spatial unit.
    return {
        "transform": {
            "queryString": (
                "SELECT s.mean_annual_temperature AS mean_annual_temperature FROM spinup_parameter s "
                "INNER JOIN spatial_unit spu ON spu.spinup_parameter_id = s.id "
                "INNER JOIN admin_boundary a ON spu.admin_boundary_id = a.id "
                "INNER JOIN eco_boundary e ON spu.eco_boundary_id = e.id "
                "WHERE a.name = {var:admin_boundary} AND e.name = {var:eco_boundary}"
            ),
            "type": "SQLQueryTransform",
            "library": "internal.flint",
            "provider": "SQLite",
        }
    }


def tiles_for(grid: RasterGrid, tile_size: float) -> list[dict]:
    """GCBM tiles ({x, y, index}) covering the grid: x = west edge, y = north edge, in degrees.

    index = row * (360 / tile_size) + col, counting rows from 90 N and columns from 180 W.
    """
    eps = 1e-9
    per_row = int(round(360.0 / tile_size))
    x0 = math.floor((grid.left + 180.0) / tile_size + eps)
    x1 = math.ceil((grid.right + 180.0) / tile_size - eps)
    y0 = math.floor((90.0 - grid.top) / tile_size + eps)
    y1 = math.ceil((90.0 - grid.bottom) / tile_size - eps)
    tiles = []
    for col in range(x0, x1):
        for row in range(y0, y1):
            x = -180.0 + col * tile_size
            y = 90.0 - row * tile_size
            tiles.append({"x": _num(x), "y": _num(y), "index": row * per_row + col})
    return sorted(tiles, key=lambda t: (t["x"], t["y"]))  # west to east, south to north, as GCBM's tiler


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _ordered_classifiers(found: list[str], settings: ConfigSettings, db_classifiers: Sequence[str]) -> list[str]:
    if settings.classifier_layers is not None:
        return list(settings.classifier_layers)
    in_db = [c for c in db_classifiers if c in found]
    return in_db + sorted(c for c in found if c not in in_db)


def _disturbance_key(layer: ProjectLayer) -> tuple:
    years = []
    if layer.sidecar and layer.sidecar.attributes:
        for events in layer.sidecar.attributes.values():
            if isinstance(events, tuple):
                years.extend(e.year for e in events)
    return (min(years) if years else 10**9, layer.name)


def build_gcbm_config(
    project: ProjectLayers,
    settings: ConfigSettings,
    config_dir: str | os.PathLike,
) -> dict[str, Any]:
    """The configuration set as {file name: JSON object, or text for .cfg/.conf}. Pure.

    `config_dir` is where the files will live: every path is made relative to it.
    Raises ConfigError for settings that GCBM cannot run.
    """
    config_dir = Path(config_dir)
    problems: list[str] = []
    if settings.end_year < settings.start_year:
        problems.append(
            f"end year {settings.end_year} is before start year {settings.start_year}; expected end_year >= start_year"
        )
    classifiers = _ordered_classifiers([x.name for x in project.by_role("classifier")], settings, project.db_classifiers)
    if not classifiers:
        problems.append(
            f"project {str(project.project_dir)!r} has no classifier layer (a layer whose sidecar maps pixel values "
            "to classifier values); name them in project.layers.classifiers"
        )
    missing_in_db = [c for c in classifiers if project.db_classifiers and c not in project.db_classifiers]
    if missing_in_db:
        problems.append(
            f"classifier layer(s) {', '.join(repr(c) for c in missing_in_db)} have no classifier of that name in "
            f"{str(project.db_path)!r}; the db's classifiers are {', '.join(project.db_classifiers)}"
        )
    ages = project.by_role("age")
    if len(ages) > 1:
        problems.append(f"several age layers ({', '.join(a.name for a in ages)}); name one in project.layers.age")
    if not ages and settings.initial_age is None:
        problems.append("no age layer (initial_age.tif[f]) and no simulation.initial_age value")
    temps = project.by_role("temperature")
    if len(temps) > 1:
        problems.append(
            f"several temperature layers ({', '.join(t.name for t in temps)}); name one in project.layers.temperature"
        )
    for i, key in enumerate(("admin_boundary", "eco_boundary")):
        if getattr(project, key) is None:
            choices = sorted({pair[i] for pair in project.db_spatial_units})
            problems.append(
                f"simulation.{key} is not set, the project has no {key} layer and {str(project.db_path)!r} "
                f"has {len(choices)} {key} names with a spatial unit; name one, e.g. "
                + ", ".join(repr(c) for c in choices[:8]) + (" ..." if len(choices) > 8 else "")
            )
    try:
        items = output_items(settings.output_indicators)
    except ConfigError as err:
        problems.append(str(err))
        items = []
    if problems:
        raise ConfigError("cannot configure GCBM: " + "; ".join(problems))

    disturbances = sorted(project.by_role("disturbance"), key=_disturbance_key)
    if settings.disturbance_layers is not None:
        order = {n: i for i, n in enumerate(settings.disturbance_layers)}
        disturbances = sorted(disturbances, key=lambda x: order.get(x.name, len(order)))

    output_dir = Path(settings.output_dir) if settings.output_dir else config_dir.parent / "output"
    log_file = Path(settings.log_file) if settings.log_file else output_dir / "logs" / "Moja_Debug.log"
    docs: dict[str, Any] = {}

    docs["gcbm_config.cfg"] = "".join(f"config={name}\n" for name in CONFIG_FILES)
    docs["localdomain.json"] = _localdomain(project, settings)
    docs["provider_config.json"] = _provider(project, config_dir)
    modules = template("modules_cbm.json")
    listener = modules["Modules"]["CBMDisturbanceListener"]
    listener["enabled"] = bool(disturbances)
    listener["settings"]["vars"] = [d.name for d in disturbances]
    docs["modules_cbm.json"] = modules
    docs["modules_output.json"] = _modules_output(items, _relpath(output_dir, config_dir),
                                                  _relpath(output_dir / settings.output_db_name, config_dir))
    docs["pools_cbm.json"] = template("pools_cbm.json")
    spinup = template("spinup.json")
    spinup["Spinup"]["enabled"] = settings.spinup.enabled
    spinup["SpinupVariables"] = {
        "delay": settings.spinup.delay,
        "minimum_rotation": settings.spinup.minimum_rotation,
        "run_delay": settings.spinup.run_delay,
    }
    docs["spinup.json"] = spinup
    docs["variables.json"] = {"Variables": _variables(project, settings, classifiers, ages, temps)}
    docs["internal_variables.json"] = template("internal_variables.json")
    docs["logging.conf"] = _LOGGING_CONF.format(log_file=_relpath(log_file, config_dir))
    return docs


def _localdomain(project: ProjectLayers, settings: ConfigSettings) -> dict:
    grid = project.grid
    if grid is None:  # pragma: no cover - discover_project always reads a grid
        raise ConfigError(f"project {str(project.project_dir)!r} has no readable layer to take the grid from")
    if grid.geographic:
        tile_size = project.tile_size
        tiles = tiles_for(grid, tile_size)
        x_pixels = int(round(tile_size / grid.cell_x))
        y_pixels = int(round(tile_size / grid.cell_y))
        size_x = size_y = tile_size
    else:
        # Projected grid: one tile spanning the layers (only the libcbm engine reads these).
        tiles = [{"x": _num(grid.left), "y": _num(grid.top), "index": 0}]
        x_pixels, y_pixels = grid.width, grid.height
        size_x, size_y = grid.right - grid.left, grid.top - grid.bottom
    return {
        "Libraries": dict(settings.libraries),
        "LocalDomain": {
            "start_date": f"{settings.start_year:04d}/01/01",
            "end_date": f"{settings.end_year + 1:04d}/01/01",  # exclusive
            "landUnitBuildSuccess": "landUnitBuildSuccess",
            "simulateLandUnit": "simulateLandUnit",
            "sequencer_library": "moja.modules.cbm",
            "sequencer": "CBMSequencer",
            "timing": "annual",
            "type": "spatial_tiled",
            "landscape": {
                "provider": "RasterTiled",
                "num_threads": settings.num_threads,
                "tiles": tiles,
                "x_pixels": x_pixels,
                "y_pixels": y_pixels,
                "tile_size_x": size_x,
                "tile_size_y": size_y,
            },
        },
    }


def _provider(project: ProjectLayers, config_dir: Path) -> dict:
    grid = project.grid
    cell_lat = grid.cell_y if grid else 0.00025
    cell_lon = grid.cell_x if grid else 0.00025
    order = {role: i for i, role in enumerate(ROLES)}
    layers = sorted(project.layers, key=lambda x: (order[x.role], _disturbance_key(x) if x.role == "disturbance" else x.name))
    return {
        "Providers": {
            "SQLite": {"path": _relpath(project.db_path, config_dir), "type": "SQLite"},
            "RasterTiled": {
                "layers": [
                    {"name": x.name, "layer_path": _relpath(x.path, config_dir), "layer_prefix": x.prefix}
                    for x in layers
                ],
                "blockLonSize": project.block_size,
                "tileLatSize": project.tile_size,
                "tileLonSize": project.tile_size,
                "cellLatSize": cell_lat,
                "cellLonSize": cell_lon,
                "blockLatSize": project.block_size,
                "type": "RasterTiledGDAL",
                "library": "moja.modules.gdal",
            },
        }
    }


def _modules_output(items: list[dict], output_path: str, db_path: str) -> dict:
    return {
        "Modules": {
            "WriteVariableGeotiff": {
                "enabled": bool(items),
                "order": 11,
                "library": "moja.modules.gdal",
                "settings": {"items": items, "output_path": output_path},
            },
            "CBMAggregatorLandUnitData": {
                "enabled": True,
                "order": 12,
                "library": "moja.modules.cbm",
                "settings": {"reporting_classifier_set": "reporting_classifiers"},
            },
            "CBMAggregatorSQLiteWriter": {
                "enabled": True,
                "order": 13,
                "library": "moja.modules.cbm",
                "settings": {"databasename": db_path},
            },
        }
    }


def _variables(project, settings, classifiers, ages, temps) -> dict:
    names = set(project.names())
    variables: dict[str, Any] = {
        "enable_peatland": settings.enable_peatland,
        "enable_moss": settings.enable_moss,
    }
    for key in ("admin_boundary", "eco_boundary"):
        value = getattr(project, key) or getattr(settings, key) or key
        variables[key] = _layer_transform(value) if value in names else value
    variables["initial_age"] = _layer_transform(ages[0].name) if ages else int(settings.initial_age)
    variables["initial_historic_land_class"] = settings.initial_land_class
    variables["initial_current_land_class"] = settings.initial_land_class
    variables["age_class_range"] = settings.age_class_range
    variables["age_maximum"] = settings.age_maximum
    variables["slow_ag_to_bg_mixing_rate"] = settings.slow_ag_to_bg_mixing_rate
    variables.update(template("variables_transforms.json"))
    variables["initial_classifier_set"] = {
        "transform": {"type": "CompositeTransform", "library": "internal.flint", "vars": list(classifiers)}
    }
    if temps:
        variables["mean_annual_temperature"] = _layer_transform(temps[0].name)
    elif settings.mean_annual_temperature is not None:
        variables["mean_annual_temperature"] = settings.mean_annual_temperature
    else:
        variables["mean_annual_temperature"] = _temperature_query()
    for layer in project.layers:
        if layer.name not in variables:
            variables[layer.name] = _layer_transform(layer.name)
    return variables


# --------------------------------------------------------------------------- writing


def configured(project_dir: str | os.PathLike, settings: ConfigSettings) -> GcbmConfig:
    """The GcbmConfig that `write_gcbm_config` would write for the project, built in memory (nothing written):
    validate reads a project folder through it exactly as the run reads the written configuration."""
    config_dir = Path(os.path.abspath(project_dir)) / ".flintcloud-config"  # a name only: never created
    docs = build_gcbm_config(discover_project(project_dir, settings), settings, config_dir)
    names = [*CONFIG_FILES, "provider_config.json"]
    return parse_gcbm_config({n: docs[n] for n in names}, config_dir, order=names)


def write_gcbm_config(
    project_dir: str | os.PathLike,
    out_config_dir: str | os.PathLike,
    settings: ConfigSettings,
) -> dict[str, Path]:
    """Discover the project, build the configuration set and write it atomically.

    The whole folder `out_config_dir` is replaced only when every file was
    written; a failure leaves the previous configuration untouched.
    Returns {file name: written path}.
    """
    out_config_dir = Path(out_config_dir)
    project = discover_project(project_dir, settings)
    docs = build_gcbm_config(project, settings, out_config_dir)
    try:
        with atomic_dir(out_config_dir) as tmp:
            for name, doc in docs.items():
                text = doc if isinstance(doc, str) else json.dumps(doc, indent=4, ensure_ascii=False) + "\n"
                (tmp / name).write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"cannot write the GCBM configuration to {str(out_config_dir)!r}: {err}") from err
    return {name: out_config_dir / name for name in docs}


__all__ = [
    "ALL_FILES",
    "KNOWN_ENGINES",
    "ConfigSettings",
    "ProjectLayer",
    "ProjectLayers",
    "SpinupOptions",
    "build_gcbm_config",
    "classify_layer",
    "find_layer_files",
    "discover_project",
    "indicator_catalogue",
    "layer_name",
    "output_items",
    "settings_from_params",
    "tiles_for",
    "write_gcbm_config",
]
