"""Read a GCBM configuration set (gcbm_config.cfg + its JSON files).

`read_gcbm_config(config_dir)` does the file I/O; `parse_gcbm_config(docs,
config_dir)` is its pure twin, taking the parsed JSON documents by file name.

Paths inside the configs are relative to the folder holding gcbm_config.cfg
(GCBM is started there), and Windows projects write them with backslashes
(`..\\input_database\\gcbm_input.db`); both are accepted.

Like GCBM, the `Variables` and `Modules` sections of every listed file are
merged (later files win), so a variable may live in any of them.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from flintcloud.errors import ConfigError
from flintcloud.jsonfile import load_json

CONFIG_FILE = "gcbm_config.cfg"
PROVIDER_FILE = "provider_config.json"
LAYER_TRANSFORM = "LocationIdxFromFlintDataTransform"


@dataclass(frozen=True)
class SpinupSettings:
    """spinup.json: whether and how GCBM spins pixels up before the run."""

    enabled: bool = True
    sequencer: str = "CBMSpinupSequencer"
    delay: int = 0
    minimum_rotation: int = 10
    run_delay: bool = False
    parameters_query: str | None = None  # the spinup_parameters SQLQueryTransform, as written
    modules: list[str] = field(default_factory=list)  # SpinupModules in order


@dataclass(frozen=True)
class GcbmConfig:
    """Everything a simulation needs from a GCBM config set. Paths are absolute."""

    config_dir: Path
    start_year: int
    end_year: int  # inclusive (GCBM's end_date is exclusive)
    db_path: Path
    layers: dict[str, Path]  # provider layer name -> GeoTIFF
    classifier_layers: list[str]  # layer names, initial_classifier_set order
    age_layer: str | None
    temperature_layer: str | None
    temperature_value: float | None
    admin_boundary: str | None  # scalar value, or the layer name when admin_boundary_layer
    eco_boundary: str | None
    disturbance_layers: list[str]
    spinup: SpinupSettings
    output_items: list[dict]
    output_path: Path | None
    output_db_path: Path | None
    age_class_range: int = 20
    age_maximum: int = 300
    slow_mixing_rate: float = 0.006
    # Additions beyond the first contract (all optional for other helpers):
    classifier_names: list[str] = field(default_factory=list)  # classifier (variable) names, same order
    classifier_values: dict[str, str] = field(default_factory=dict)  # classifiers given as scalars
    classifier_allow_nulls: bool = False
    age_value: int | None = None  # initial_age given as a scalar (Belize: 0)
    admin_boundary_layer: bool = False  # True: admin_boundary names a layer
    eco_boundary_layer: bool = False
    mask_layers: list[str] = field(default_factory=list)  # CBMBuildLandUnitModule mask_vars that are layers
    initial_historic_land_class: str = "FL"
    initial_current_land_class: str = "FL"
    enabled_modules: list[str] = field(default_factory=list)  # Modules with enabled != false, by order
    libraries: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def years(self) -> list[int]:
        return list(range(self.start_year, self.end_year + 1))

    @property
    def n_years(self) -> int:
        return self.end_year - self.start_year + 1

    def layer_roles(self) -> dict[str, str]:
        """Layer name -> role for every layer the simulation reads, first role wins (the one role map:
        the landscape reader and validate both use it). Roles: classifier, age, temperature,
        admin_boundary, eco_boundary, disturbance, mask."""
        roles: dict[str, str] = {}

        def add(layer: str | None, role: str) -> None:
            if layer is not None and layer not in roles:
                roles[layer] = role

        for layer in self.classifier_layers:
            add(layer, "classifier")
        add(self.age_layer, "age")
        add(self.temperature_layer, "temperature")
        if self.admin_boundary_layer:
            add(self.admin_boundary, "admin_boundary")
        if self.eco_boundary_layer:
            add(self.eco_boundary, "eco_boundary")
        for layer in self.disturbance_layers:
            add(layer, "disturbance")
        for layer in self.mask_layers:
            add(layer, "mask")
        return roles

    def layer_path(self, name: str) -> Path:
        try:
            return self.layers[name]
        except KeyError:
            raise ConfigError(
                f"layer {name!r} is not in provider_config.json's RasterTiled layers "
                f"(known: {sorted(self.layers)})"
            ) from None


# --------------------------------------------------------------------------- I/O


def read_config_list(cfg_path: Path) -> list[str]:
    """The JSON files a gcbm_config.cfg lists (`config=<file>` lines), in order."""
    if not cfg_path.is_file():
        raise ConfigError(f"{str(cfg_path)!r} not found: a GCBM project folder holds gcbm_config.cfg")
    names = []
    for lineno, line in enumerate(cfg_path.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{str(cfg_path)!r} line {lineno}: expected 'config=<file>.json', got {line!r}")
        if key.strip() == "config":
            names.append(value.strip())
    if not names:
        raise ConfigError(f"{str(cfg_path)!r} lists no config=<file>.json lines")
    return names


def _load_json(path: Path) -> Any:
    return load_json(path, ConfigError, "config file")


def read_gcbm_config(config_dir: str | os.PathLike, provider_file: str = PROVIDER_FILE) -> GcbmConfig:
    """Read the config set in `config_dir` (the folder holding gcbm_config.cfg, or the .cfg itself)."""
    path = Path(config_dir)
    if path.is_file():
        cfg_path, config_dir = path, path.parent
    else:
        cfg_path, config_dir = path / CONFIG_FILE, path
    config_dir = config_dir.resolve()
    names = read_config_list(cfg_path)
    docs: dict[str, Any] = {}
    for name in [*names, provider_file]:
        docs[name] = _load_json(config_dir / _native(name))
    return parse_gcbm_config(docs, config_dir, order=names + [provider_file])


# --------------------------------------------------------------------------- pure


def resolve_path(value: str, config_dir: Path) -> Path:
    """A path as GCBM resolves it from its working directory; backslashes accepted."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a file path, got {value!r}")
    if re.match(r"^[A-Za-z]:[\\/]", value) or value.startswith("\\\\"):
        return Path(PureWindowsPath(value).as_posix())  # absolute Windows path: keep as written
    p = Path(_native(value))
    if not p.is_absolute():
        p = Path(config_dir) / p
    return Path(os.path.normpath(p))


def _native(value: str) -> str:
    return value.replace("\\", "/")


def _year(value: Any, key: str, source: str) -> _dt.date:
    if not isinstance(value, str):
        raise ConfigError(f"{source}: LocalDomain.{key} {value!r} must be a date 'YYYY/MM/DD'")
    m = re.fullmatch(r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})\s*", value)
    if not m:
        raise ConfigError(f"{source}: LocalDomain.{key} {value!r} is not a date 'YYYY/MM/DD'")
    try:
        return _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as err:
        raise ConfigError(f"{source}: LocalDomain.{key} {value!r} is not a valid date ({err})") from err


def _merged(docs: dict[str, Any], order: list[str], section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in order:
        doc = docs.get(name)
        if isinstance(doc, dict) and isinstance(doc.get(section), dict):
            out.update(doc[section])
    return out


def _find_doc(docs: dict[str, Any], order: list[str], section: str, prefer: str) -> tuple[str, dict]:
    if isinstance(docs.get(prefer), dict) and section in docs[prefer]:
        return prefer, docs[prefer]
    for name in order:
        doc = docs.get(name)
        if isinstance(doc, dict) and section in doc:
            return name, doc
    raise ConfigError(f"no config file has a {section!r} section (expected in {prefer})")


def _obj(value: Any, what: str) -> dict:
    """`value` as a JSON object (None -> {}); anything else is a ConfigError naming `what`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, got {value!r}")
    return value


def _names(value: Any, what: str) -> list[str]:
    """`value` as a list of names (None -> [])."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a list of names, got {value!r}")
    return value


def _order(item: tuple) -> float:
    order = item[1].get("order") if isinstance(item[1], dict) else None
    return float(order) if isinstance(order, (int, float)) and not isinstance(order, bool) else 1e9


def _transform(var: Any) -> dict | None:
    if isinstance(var, dict) and isinstance(var.get("transform"), dict):
        return var["transform"]
    return None


def _layer_of(variables: dict, var_name: str, layers: dict[str, Path], *, what: str) -> str | None:
    """The provider layer a variable reads, or None when the variable is a scalar."""
    var = variables.get(var_name)
    t = _transform(var)
    if t is None:
        return None
    if t.get("type") != LAYER_TRANSFORM or not isinstance(t.get("data_id"), str):
        raise ConfigError(
            f"variables.json: {what} variable {var_name!r} uses transform {t.get('type')!r}; "
            f"expected a scalar or a {LAYER_TRANSFORM} with a 'data_id'"
        )
    data_id = t["data_id"]
    if data_id not in layers:
        raise ConfigError(
            f"variables.json: {what} variable {var_name!r} reads layer {data_id!r}, which is not in "
            f"provider_config.json's layers ({sorted(layers)})"
        )
    return data_id


def _int(value: Any, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} must be an integer")
    try:
        f = float(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what} {value!r} must be an integer") from err
    if f != int(f):
        raise ConfigError(f"{what} {value!r} must be an integer")
    return int(f)


def _float(value: Any, what: str, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what} {value!r} must be a number") from err


def _enabled(module: Any) -> bool:
    return not (isinstance(module, dict) and module.get("enabled") is False)


def parse_gcbm_config(
    docs: dict[str, Any], config_dir: str | os.PathLike, order: list[str] | None = None
) -> GcbmConfig:
    """Build a GcbmConfig from parsed JSON documents (file name -> object). Pure.

    `order` is the gcbm_config.cfg order used to merge Variables/Modules; by
    default the order of `docs`.
    """
    config_dir = Path(config_dir)
    order = list(order) if order is not None else list(docs)
    for name, doc in docs.items():
        if not isinstance(doc, dict):
            raise ConfigError(f"config file {name!r} must hold a JSON object, got {type(doc).__name__}")

    # ---- local domain: years
    ld_name, ld_doc = _find_doc(docs, order, "LocalDomain", "localdomain.json")
    ld = ld_doc["LocalDomain"]
    if not isinstance(ld, dict):
        raise ConfigError(f"{ld_name}: LocalDomain must be an object")
    for key in ("start_date", "end_date"):
        if key not in ld:
            raise ConfigError(f"{ld_name}: LocalDomain has no {key!r} (expected 'YYYY/MM/DD')")
    start = _year(ld["start_date"], "start_date", ld_name)
    end = _year(ld["end_date"], "end_date", ld_name)
    end_year = end.year - 1 if (end.month, end.day) == (1, 1) else end.year  # end_date is exclusive
    if end_year < start.year or end <= start:
        raise ConfigError(
            f"{ld_name}: end_date {ld['end_date']!r} must be after start_date {ld['start_date']!r} "
            "(GCBM's end_date is exclusive)"
        )
    libraries = {}
    for name in order:
        libs = docs[name].get("Libraries") if isinstance(docs.get(name), dict) else None
        if isinstance(libs, dict):
            libraries.update({str(k): str(v) for k, v in libs.items()})
    landscape = _obj(ld.get("landscape"), f"{ld_name}: LocalDomain.landscape")
    provider_name = landscape.get("provider", "RasterTiled")
    if not isinstance(provider_name, str):
        raise ConfigError(f"{ld_name}: LocalDomain.landscape.provider {provider_name!r} must be a provider name")

    # ---- providers: db and layers
    pv_name, pv_doc = _find_doc(docs, order, "Providers", PROVIDER_FILE)
    providers = pv_doc["Providers"]
    if not isinstance(providers, dict):
        raise ConfigError(f"{pv_name}: Providers must be an object")
    sqlite = providers.get("SQLite")
    if not isinstance(sqlite, dict) or not isinstance(sqlite.get("path"), str):
        sqlite = next(
            (
                p
                for p in providers.values()
                if isinstance(p, dict) and p.get("type") == "SQLite" and isinstance(p.get("path"), str)
            ),
            None,
        )
    if sqlite is None:
        raise ConfigError(f"{pv_name}: no SQLite provider with a 'path' (the gcbm_input.db)")
    db_path = resolve_path(sqlite["path"], config_dir)
    raster = providers.get(provider_name)
    if not isinstance(raster, dict):
        raise ConfigError(
            f"{pv_name}: no provider {provider_name!r} (named by {ld_name} LocalDomain.landscape.provider)"
        )
    layers: dict[str, Path] = {}
    raster_layers = raster.get("layers") or []
    if not isinstance(raster_layers, list):
        raise ConfigError(f"{pv_name}: {provider_name}.layers must be a list of {{name, layer_path}}")
    for i, layer in enumerate(raster_layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            raise ConfigError(f"{pv_name}: {provider_name}.layers[{i}] has no 'name'")
        if not isinstance(layer.get("layer_path"), str):
            raise ConfigError(f"{pv_name}: layer {layer['name']!r} has no 'layer_path'")
        if layer["name"] in layers:
            raise ConfigError(f"{pv_name}: layer {layer['name']!r} is listed twice")
        layers[layer["name"]] = resolve_path(layer["layer_path"], config_dir)

    # ---- variables
    variables = _merged(docs, order, "Variables")
    modules = _merged(docs, [n for n in order if n != "spinup.json"], "Modules")

    ics = _transform(variables.get("initial_classifier_set"))
    if (
        ics is None
        or ics.get("type") != "CompositeTransform"
        or not ics.get("vars")
        or not isinstance(ics["vars"], list)
        or not all(isinstance(v, str) for v in ics["vars"])
    ):
        raise ConfigError(
            "variables.json: initial_classifier_set must be a CompositeTransform with 'vars' "
            "(the classifier layers)"
        )
    classifier_names: list[str] = []
    classifier_layers: list[str] = []
    classifier_values: dict[str, str] = {}
    for var_name in ics["vars"]:
        if var_name not in variables:
            raise ConfigError(f"variables.json: initial_classifier_set names {var_name!r}, which is not a variable")
        layer = _layer_of(variables, var_name, layers, what="classifier")
        classifier_names.append(var_name)
        if layer is None:
            value = variables[var_name]
            if isinstance(value, (dict, list)) or value is None:
                raise ConfigError(f"variables.json: classifier {var_name!r} must be a layer or a scalar value")
            classifier_values[var_name] = str(value)
        else:
            classifier_layers.append(layer)
    allow_nulls = bool(ics.get("allow_nulls", False))

    age_layer = _layer_of(variables, "initial_age", layers, what="initial_age")
    age_value = None
    if age_layer is None:
        age_value = _int(variables.get("initial_age"), "variables.json: initial_age", 0)

    temperature_layer = _layer_of(variables, "mean_annual_temperature", layers, what="mean_annual_temperature")
    temperature_value = None
    if temperature_layer is None and "mean_annual_temperature" in variables:
        temperature_value = _float(
            variables["mean_annual_temperature"], "variables.json: mean_annual_temperature", None
        )

    def boundary(name: str) -> tuple[str | None, bool]:
        layer = _layer_of(variables, name, layers, what=name)
        if layer is not None:
            return layer, True
        value = variables.get(name)
        if value is None:
            return None, False
        if isinstance(value, (dict, list)):
            raise ConfigError(f"variables.json: {name} must be a name or a layer, got {value!r}")
        return str(value), False

    admin, admin_is_layer = boundary("admin_boundary")
    eco, eco_is_layer = boundary("eco_boundary")

    # ---- modules: disturbance layers, masks
    disturbance_layers: list[str] = []
    listener = modules.get("CBMDisturbanceListener")
    if isinstance(listener, dict) and _enabled(listener):
        settings = _obj(listener.get("settings"), "modules_cbm.json: CBMDisturbanceListener.settings")
        for var_name in _names(settings.get("vars"), "modules_cbm.json: CBMDisturbanceListener.settings.vars"):
            if var_name not in variables:
                raise ConfigError(
                    f"modules_cbm.json: CBMDisturbanceListener reads {var_name!r}, which is not a variable"
                )
            layer = _layer_of(variables, var_name, layers, what="disturbance")
            if layer is None:
                raise ConfigError(f"variables.json: disturbance variable {var_name!r} must be a raster layer")
            disturbance_layers.append(layer)
    mask_layers: list[str] = []
    build = modules.get("CBMBuildLandUnitModule")
    if isinstance(build, dict):
        settings = _obj(build.get("settings"), "modules_cbm.json: CBMBuildLandUnitModule.settings")
        for var_name in _names(settings.get("mask_vars"), "CBMBuildLandUnitModule.settings.mask_vars"):
            if var_name not in variables:
                raise ConfigError(f"CBMBuildLandUnitModule mask_vars names {var_name!r}, which is not a variable")
            layer = _layer_of(variables, var_name, layers, what="mask")
            if layer is not None:
                mask_layers.append(layer)
    enabled_modules = [
        name
        for name, mod in sorted(modules.items(), key=_order)
        if _enabled(mod)
    ]

    # ---- spinup
    spinup_doc = next(
        (docs[n] for n in ["spinup.json", *order] if isinstance(docs.get(n), dict) and "Spinup" in docs[n]), None
    )
    if spinup_doc is None:
        spinup = SpinupSettings(enabled=False)
    else:
        sp = _obj(spinup_doc.get("Spinup"), "spinup.json: Spinup")
        sv = _obj(spinup_doc.get("SpinupVariables"), "spinup.json: SpinupVariables")
        query_t = _transform(_obj(spinup_doc.get("Variables"), "spinup.json: Variables").get("spinup_parameters"))
        query_t = query_t or _transform(variables.get("spinup_parameters")) or {}
        query = query_t.get("queryString")
        spinup_modules = _obj(spinup_doc.get("SpinupModules"), "spinup.json: SpinupModules")
        spinup = SpinupSettings(
            enabled=bool(sp.get("enabled", True)),
            sequencer=str(sp.get("sequencer", "CBMSpinupSequencer")),
            delay=_int(sv.get("delay"), "spinup.json: SpinupVariables.delay", 0),
            minimum_rotation=_int(sv.get("minimum_rotation"), "spinup.json: SpinupVariables.minimum_rotation", 10),
            run_delay=bool(sv.get("run_delay", False)),
            parameters_query=query if isinstance(query, str) else None,
            modules=[n for n, _ in sorted(spinup_modules.items(), key=_order)],
        )

    # ---- outputs
    output_items: list[dict] = []
    output_path = None
    geotiff = modules.get("WriteVariableGeotiff")
    if isinstance(geotiff, dict) and _enabled(geotiff):
        settings = _obj(geotiff.get("settings"), "modules_output.json: WriteVariableGeotiff.settings")
        if settings.get("output_path"):
            output_path = resolve_path(settings["output_path"], config_dir)
        items = settings.get("items") or []
        if not isinstance(items, list):
            raise ConfigError("modules_output.json: WriteVariableGeotiff.settings.items must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "data_name" not in item:
                raise ConfigError(f"modules_output.json: WriteVariableGeotiff.items[{i}] has no 'data_name'")
            if item.get("enabled", True) is not False:
                output_items.append(item)
    output_db_path = None
    writer = modules.get("CBMAggregatorSQLiteWriter")
    if isinstance(writer, dict) and _enabled(writer):
        name = _obj(writer.get("settings"), "modules_output.json: CBMAggregatorSQLiteWriter.settings").get(
            "databasename"
        )
        if name:
            output_db_path = resolve_path(name, config_dir)

    def scalar_str(name: str, default: str) -> str:
        value = variables.get(name, default)
        return default if value is None or isinstance(value, (dict, list)) else str(value)

    return GcbmConfig(
        config_dir=config_dir,
        start_year=start.year,
        end_year=end_year,
        db_path=db_path,
        layers=layers,
        classifier_layers=classifier_layers,
        age_layer=age_layer,
        temperature_layer=temperature_layer,
        temperature_value=temperature_value,
        admin_boundary=admin,
        eco_boundary=eco,
        disturbance_layers=disturbance_layers,
        spinup=spinup,
        output_items=output_items,
        output_path=output_path,
        output_db_path=output_db_path,
        age_class_range=_int(variables.get("age_class_range"), "variables.json: age_class_range", 20),
        age_maximum=_int(variables.get("age_maximum"), "variables.json: age_maximum", 300),
        slow_mixing_rate=_float(
            variables.get("slow_ag_to_bg_mixing_rate"), "variables.json: slow_ag_to_bg_mixing_rate", 0.006
        ),
        classifier_names=classifier_names,
        classifier_values=classifier_values,
        classifier_allow_nulls=allow_nulls,
        age_value=age_value,
        admin_boundary_layer=admin_is_layer,
        eco_boundary_layer=eco_is_layer,
        mask_layers=mask_layers,
        initial_historic_land_class=scalar_str("initial_historic_land_class", "FL"),
        initial_current_land_class=scalar_str(
            "initial_current_land_class", scalar_str("initial_historic_land_class", "FL")
        ),
        enabled_modules=enabled_modules,
        libraries=libraries,
        variables=variables,
    )
