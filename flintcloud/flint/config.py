"""FLINT's JSON run configuration: merge several files as moja.cli does, then parse into dataclasses.

`read_flint_config(paths)` reads the files (I/O); `parse_flint_config(docs)` is its pure twin, taking
`[(source_name, parsed_json), ...]`. Both follow FLINT's JSON2ConfigurationProvider
(moja.flint.configuration/src/json2configurationprovider.cpp):

- Files are merged in order: a top-level section missing so far is taken whole from the later file;
  a section present in both must be an object in both, and the later file only adds the keys the
  earlier ones lack (first file wins). FLINT fails with a bad cast when such a section is a list;
  here that is a ConfigError naming both files.
- JSON nulls are dropped (Poco's parsePocoVarToDynamic skips empty values): a setting set to null is
  as good as absent, and a null inside a list is removed (so later values shift down one place).
- `Pools` as a list keeps its order; as an object FLINT iterates it as a std::map, so pools come in
  name (byte) order. A pool named by a bare string starts at 0.
- `Modules` are sorted by `order` (two modules with one order is an error, as in FLINT); disabled
  ones (`"enabled": false`) are skipped before anything else is checked.

Every error names the file and the key. Modules, transforms and libraries are checked against the
registry (flintcloud/flint/modules.py) by `flintcloud.flint.simulation.build_simulation`, also before
any step runs.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flintcloud.errors import ConfigError
from flintcloud.jsonfile import load_json

LIBRARY_TYPES = ("internal", "external", "managed", "python")
LOCAL_DOMAIN_TYPES = ("point", "spatial_tiled", "spatially_referenced_sql", "spatially_referenced_nosql",
                      "threaded_spatially_referenced_nosql")
OPERATION_MANAGERS = ("Simple", "SimpleCache", "Ublas")
_DATE = re.compile(r"^\s*(-?\d+)/(\d+)/(\d+)\s*$")


@dataclass(frozen=True)
class SimpleDate:
    """FLINT's parseSimpleDate("yyyy/mm/dd"); the calendar sequencer uses only year and month."""

    year: int
    month: int
    day: int

    def key(self) -> tuple[int, int, int]:
        return (self.year, self.month, self.day)


@dataclass(frozen=True)
class OperationManagerSettings:
    name: str = "Simple"
    use_kahan: bool = False
    allow_zero_result_transfers: bool = False
    allow_negative_transfers: bool = True   # FLINT's default (operationmanagersimple.h)
    warn_negative_transfers: bool = False


@dataclass(frozen=True)
class PoolDef:
    name: str
    value: float
    description: str = ""
    units: str = ""
    scale: float = 1.0
    order: int = 0


@dataclass(frozen=True)
class VariableDef:
    """kind: "value" (a plain JSON value), "transform" or "flintdata" (FLINT's special variables)."""

    name: str
    kind: str
    value: Any = None
    library: str | None = None
    type: str | None = None
    settings: dict = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class ModuleDef:
    name: str
    library: str
    order: int
    settings: dict
    source: str


@dataclass(frozen=True)
class LibraryDef:
    name: str
    type: str
    source: str


@dataclass(frozen=True)
class FlintConfig:
    sources: tuple[str, ...]
    start_date: SimpleDate
    end_date: SimpleDate
    local_domain_type: str
    sequencer_library: str
    sequencer: str
    simulate_land_unit: str
    land_unit_build_success: str
    operation_manager: OperationManagerSettings
    pools: tuple[PoolDef, ...]
    variables: dict[str, VariableDef]
    modules: tuple[ModuleDef, ...]
    libraries: dict[str, LibraryDef]
    origin: dict[str, str]   # "Section" or "Section.key" -> the file it came from

    def where(self, section: str, key: str | None = None) -> str:
        """The file a section (or a key of it) came from, for error messages."""
        if key is not None and f"{section}.{key}" in self.origin:
            return self.origin[f"{section}.{key}"]
        return self.origin.get(section, " + ".join(self.sources))

    @property
    def pool_names(self) -> list[str]:
        return [p.name for p in self.pools]


# ------------------------------------------------------------------------------------------------
# reading and merging


def read_flint_config(paths: list[str | os.PathLike]) -> FlintConfig:
    """Read and merge FLINT run configuration files (moja.cli --config A --config B ...)."""
    if not paths:
        raise ConfigError("no FLINT configuration file given (moja.cli needs at least one --config)")
    docs = [(str(Path(p)), load_json(p, ConfigError, "FLINT configuration")) for p in paths]
    return parse_flint_config(docs)


def drop_nulls(value: Any) -> Any:
    """Poco's JSON -> DynamicVar conversion: null members and null list items disappear."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def merge_config_docs(docs: list[tuple[str, Any]]) -> tuple[dict, dict[str, str]]:
    """FLINT's mergeJsonConfigFile: returns (merged document, origin of each section / section.key)."""
    merged: dict = {}
    origin: dict[str, str] = {}
    for n, (source, doc) in enumerate(docs):
        if not isinstance(doc, dict):
            raise ConfigError(f"FLINT configuration {source!r} must be a JSON object, got {type(doc).__name__}")
        for name, section in doc.items():
            if name not in merged:
                merged[name] = copy.deepcopy(section)
                origin[name] = source
                if isinstance(section, dict):
                    for key in section:
                        origin[f"{name}.{key}"] = source
                continue
            if section is None:
                continue
            if not isinstance(merged[name], dict) or not isinstance(section, dict):
                raise ConfigError(
                    f"section {name!r} is in both {origin[name]!r} and {source!r}; FLINT merges a section given "
                    f"twice only when it is an object in both files (here: {_kind(merged[name])} and {_kind(section)})"
                )
            for key, value in section.items():
                if key not in merged[name]:
                    merged[name][key] = copy.deepcopy(value)
                    origin[f"{name}.{key}"] = source
    return merged, origin


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


# ------------------------------------------------------------------------------------------------
# parsing


def parse_flint_config(docs: list[tuple[str, Any]]) -> FlintConfig:
    """Pure twin of read_flint_config: `docs` are (source name, parsed JSON) in --config order."""
    if not docs:
        raise ConfigError("no FLINT configuration given (at least one document is needed)")
    merged, origin = merge_config_docs(docs)
    sources = tuple(s for s, _ in docs)
    every = " + ".join(sources)

    def src(section: str, key: str | None = None) -> str:
        if key is not None and f"{section}.{key}" in origin:
            return origin[f"{section}.{key}"]
        return origin.get(section, every)

    ld = _section(merged, "LocalDomain", every)
    ld_type = _string(ld, "type", src("LocalDomain", "type"), "LocalDomain")
    if ld_type not in LOCAL_DOMAIN_TYPES:
        raise ConfigError(f"{src('LocalDomain', 'type')}: LocalDomain.type {ld_type!r} is not a FLINT local "
                          f"domain type (one of {', '.join(LOCAL_DOMAIN_TYPES)})")
    if ld_type != "point":
        raise ConfigError(f"{src('LocalDomain', 'type')}: LocalDomain.type {ld_type!r}: flintcloud runs FLINT's "
                          "point simulations only (\"point\"); spatial runs are GCBM's (flintcloud run)")
    start = _date(ld, "start_date", src("LocalDomain", "start_date"))
    end = _date(ld, "end_date", src("LocalDomain", "end_date"))
    if end.key() <= start.key():
        raise ConfigError(
            f"{src('LocalDomain', 'end_date')}: LocalDomain.end_date {ld['end_date']!r} is not after "
            f"start_date {ld['start_date']!r} (FLINT: endDate must be after startDate)")
    names = {k: _string(ld, k, src("LocalDomain", k), "LocalDomain")
             for k in ("sequencer_library", "sequencer", "simulateLandUnit", "landUnitBuildSuccess")}
    om = _operation_manager(ld.get("operationManager"), src("LocalDomain", "operationManager"))

    if "Spinup" in merged and isinstance(merged["Spinup"], dict) and merged["Spinup"].get("enabled") is True:
        raise ConfigError(f"{src('Spinup')}: Spinup.enabled is true: flintcloud's FLINT point runs have no spinup")

    libraries = _libraries(merged, origin, every)
    pools = _pools(merged.get("Pools"), src("Pools"))
    variables = _variables(merged.get("Variables"), origin, src("Variables"))
    modules = _modules(merged, origin, every)

    return FlintConfig(
        sources=sources, start_date=start, end_date=end, local_domain_type=ld_type,
        sequencer_library=names["sequencer_library"], sequencer=names["sequencer"],
        simulate_land_unit=names["simulateLandUnit"], land_unit_build_success=names["landUnitBuildSuccess"],
        operation_manager=om, pools=tuple(pools), variables=variables, modules=tuple(modules),
        libraries=libraries, origin=origin,
    )


def _section(merged: dict, name: str, every: str) -> dict:
    if name not in merged:
        raise ConfigError(f"no {name!r} section in {every} (FLINT needs one)")
    value = merged[name]
    if not isinstance(value, dict):
        raise ConfigError(f"{name!r} in {every} must be an object, got {_kind(value)}")
    return value


def _string(obj: dict, key: str, source: str, where: str) -> str:
    if key not in obj or obj[key] is None:
        raise ConfigError(f"{source}: {where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {where}.{key} must be a string, got {value!r}")
    return value


def _date(ld: dict, key: str, source: str) -> SimpleDate:
    raw = _string(ld, key, source, "LocalDomain")
    m = _DATE.match(raw)
    if not m:
        raise ConfigError(f"{source}: LocalDomain.{key} {raw!r} is not a date in FLINT's \"yyyy/mm/dd\" form")
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo)):
        raise ConfigError(f"{source}: LocalDomain.{key} {raw!r} is not a calendar date (years 1-9999)")
    return SimpleDate(y, mo, d)


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _bool(obj: dict, key: str, default: bool, source: str, where: str) -> bool:
    if key not in obj:
        return default
    value = obj[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: {where}.{key} must be true or false, got {value!r}")
    return value


def _operation_manager(value: Any, source: str) -> OperationManagerSettings:
    if value is None:
        return OperationManagerSettings()
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: LocalDomain.operationManager must be an object or a name, got {value!r}")
    value = drop_nulls(value)
    name = value.get("name", "")
    if name not in OPERATION_MANAGERS:
        raise ConfigError(f"{source}: LocalDomain.operationManager.name {name!r} is not a FLINT operation manager "
                          f"({', '.join(OPERATION_MANAGERS)})")
    if name != "Simple":
        raise ConfigError(f"{source}: LocalDomain.operationManager.name {name!r}: flintcloud implements FLINT's "
                          "\"Simple\" operation manager only")
    w = "LocalDomain.operationManager"
    return OperationManagerSettings(
        name=name,
        use_kahan=_bool(value, "use_kahan", False, source, w),
        allow_zero_result_transfers=_bool(value, "allow_zero_result_transfers", False, source, w),
        allow_negative_transfers=_bool(value, "allow_negative_transfers", True, source, w),
        warn_negative_transfers=_bool(value, "warn_negative_transfers", False, source, w),
    )


def _libraries(merged: dict, origin: dict, every: str) -> dict[str, LibraryDef]:
    libs = _section(merged, "Libraries", every)
    out: dict[str, LibraryDef] = {}
    for name, value in libs.items():
        source = origin.get(f"Libraries.{name}", origin.get("Libraries", every))
        if isinstance(value, dict):
            value = drop_nulls(value)
            for key in ("library", "path", "type"):
                _string(value, key, source, f"Libraries.{name}")
            kind = value["type"]
        elif isinstance(value, str):
            kind = value
        else:
            raise ConfigError(f"{source}: Libraries.{name} must be a library type ({', '.join(LIBRARY_TYPES)}) "
                              f"or an object with library, path and type; got {value!r}")
        if kind not in LIBRARY_TYPES:
            raise ConfigError(f"{source}: Libraries.{name}: {kind!r} is not a FLINT library type "
                              f"({', '.join(LIBRARY_TYPES)})")
        out[name] = LibraryDef(name, kind, source)
    return out


def _number(value: Any, what: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {what} must be a number, got {value!r}")
    return float(value)


def _pool_value(value: Any, what: str, source: str) -> float:
    v = _number(value, what, source)
    if v < 0.0:
        raise ConfigError(f"{source}: {what} is {value!r}; FLINT's initValue cannot be less than 0.0")
    return v


def _pools(value: Any, source: str) -> list[PoolDef]:
    if value is None:
        return []
    pools: list[PoolDef] = []
    if isinstance(value, dict):   # a std::map in FLINT: name order
        for name in sorted(value, key=lambda s: s.encode("utf-8")):
            item = value[name]
            if isinstance(item, dict) and "transform" in item:
                raise ConfigError(f"{source}: Pools.{name}: pools computed by a transform are not supported")
            pools.append(PoolDef(name, _pool_value(item, f"Pools.{name}", source)))
    elif isinstance(value, list):
        for i, item in enumerate(drop_nulls(value)):
            what = f"Pools[{i}]"
            if isinstance(item, str):
                pools.append(PoolDef(item, 0.0))
            elif isinstance(item, dict) and len(item) == 1:
                name, v = next(iter(item.items()))
                if isinstance(v, dict) and "transform" in v:
                    raise ConfigError(f"{source}: {what} {name!r}: pools computed by a transform are not supported")
                pools.append(PoolDef(name, _pool_value(v, f"{what} {name!r}", source)))
            elif isinstance(item, dict):
                if "transform" in item:
                    raise ConfigError(f"{source}: {what}: pools computed by a transform are not supported")
                name = _string(item, "name", source, what)
                for key in ("description", "units"):
                    _string(item, key, source, f"{what} {name!r}")
                for key in ("scale", "order", "value"):
                    if key not in item:
                        raise ConfigError(f"{source}: {what} {name!r}: {key} is missing")
                order = item["order"]
                if isinstance(order, bool) or not isinstance(order, int):
                    raise ConfigError(f"{source}: {what} {name!r}: order must be an integer, got {order!r}")
                pools.append(PoolDef(name, _pool_value(item["value"], f"{what} {name!r} value", source),
                                     item["description"], item["units"],
                                     _number(item["scale"], f"{what} {name!r} scale", source), order))
            else:
                raise ConfigError(f"{source}: {what} must be a pool name or an object, got {item!r}")
    else:
        raise ConfigError(f"{source}: Pools must be a list or an object, got {_kind(value)}")
    seen: set[str] = set()
    for p in pools:
        if not p.name.strip():
            raise ConfigError(f"{source}: a pool has an empty name (FLINT: name cannot be empty)")
        if p.name in seen:
            raise ConfigError(f"{source}: pool {p.name!r} is defined twice")
        seen.add(p.name)
    return pools


def _variable(name: str, raw: Any, source: str) -> VariableDef:
    if not name.strip():
        raise ConfigError(f"{source}: a variable has an empty name (FLINT: name cannot be empty)")
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, inner), = raw.items()
        if kind in ("transform", "flintdata"):
            if not isinstance(inner, dict):
                raise ConfigError(f"{source}: Variables {name!r}: {kind} must be an object, got {inner!r}")
            inner = drop_nulls(inner)
            library = _string(inner, "library", source, f"Variables {name!r} {kind}")
            type_ = _string(inner, "type", source, f"Variables {name!r} {kind}")
            if kind == "flintdata":
                settings = inner.get("settings", {})
                if not isinstance(settings, dict):
                    raise ConfigError(f"{source}: Variables {name!r} flintdata.settings must be an object")
            else:
                settings = inner   # FLINT hands a transform its whole object (library, type, data, ...)
            return VariableDef(name, kind, None, library, type_, settings, source)
    return VariableDef(name, "value", drop_nulls(raw), source=source)


def _variables(value: Any, origin: dict, source: str) -> dict[str, VariableDef]:
    out: dict[str, VariableDef] = {}
    if value is None:
        return out
    if isinstance(value, dict):
        items = [(k, v, origin.get(f"Variables.{k}", source)) for k, v in value.items() if v is not None]
    elif isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            if item is None:
                continue
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigError(f"{source}: Variables[{i}] must be an object with exactly one variable "
                                  f"(name: value), got {item!r}")
            (k, v), = item.items()
            items.append((k, v, source))
    else:
        raise ConfigError(f"{source}: Variables must be a list or an object, got {_kind(value)}")
    for name, raw, src in items:
        if name in out:
            raise ConfigError(f"{src}: variable {name!r} is defined twice")
        out[name] = _variable(name, raw, src)
    return out


def _modules(merged: dict, origin: dict, every: str) -> list[ModuleDef]:
    mods = _section(merged, "Modules", every)
    out: list[ModuleDef] = []
    for name, raw in mods.items():
        source = origin.get(f"Modules.{name}", origin.get("Modules", every))
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: Modules.{name} must be an object, got {raw!r}")
        raw = drop_nulls(raw)
        if "enabled" in raw:
            if not isinstance(raw["enabled"], bool):
                raise ConfigError(f"{source}: Modules.{name}.enabled must be true or false, got {raw['enabled']!r}")
            if not raw["enabled"]:
                continue
        library = _string(raw, "library", source, f"Modules.{name}")
        if "order" not in raw:
            raise ConfigError(f"{source}: Modules.{name}.order is missing")
        order = raw["order"]
        if isinstance(order, bool) or not isinstance(order, int):
            raise ConfigError(f"{source}: Modules.{name}.order must be an integer, got {order!r}")
        if raw.get("is_proxy") is True:
            raise ConfigError(f"{source}: Modules.{name}: proxy modules are not supported")
        settings = raw.get("settings", {})
        if not isinstance(settings, dict):
            raise ConfigError(f"{source}: Modules.{name}.settings must be an object, got {settings!r}")
        for other in out:
            if other.order == order:
                raise ConfigError(f"{source}: Modules.{name} and Modules.{other.name} both have order {order} "
                                  "(FLINT: module orders must differ)")
        out.append(ModuleDef(name, library, order, settings, source))
    out.sort(key=lambda m: m.order)
    return out
