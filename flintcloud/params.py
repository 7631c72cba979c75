"""params.yaml: the one loader, the key registry, the engine registry and the output layout.

Every key params.yaml may hold is ONE line of `KEYS` below: its dotted name, its kind,
its default and a one-line description. Sections (`project`, `simulation.spinup`, ...)
are the prefixes of the registered names, so adding a key (or a whole section) is that
one line and nothing else:

    Key("report.inventory.sector", "str", None, "IPCC sector label of the inventory tables"),
    Key("scenarios", "mapping", None, "named scenarios: {name: {dotted.key: value}}"),

A `mapping` key is a free-form mapping: the code that owns it checks its contents
(e.g. `scenarios`, whose entries name other keys). A key that is also a section prefix
(`executor`) may be given either as its scalar kind or as a mapping of its sub-keys.

`read_params(path)` (I/O) and `parse_params(obj)` (pure) return a `Params`; any key not
registered is an error naming it and the closest valid key ("did you mean ..."), and
every value is checked against its kind; all problems are listed at once in one
ConfigError. The stages, the CLI (validate, configure, run, report) and the service all
load params.yaml through here. Bottom layer: imports only errors and the standard
library (+ PyYAML for the file).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flintcloud.errors import ConfigError

PARAMS_FILE = Path("params.yaml")

# --------------------------------------------------------------------------- engines

#: Engine name -> what it is. `simulation.engine` accepts exactly these; the CLI's --engine too.
ENGINES: dict[str, str] = {
    "libcbm": "embedded CBM-CFS3 on libcbm (no Docker)",
    "gcbm-container": "moja global's GCBM in Docker, image pinned by digest",
}
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)
#: Engines that run inside this process and hand StepOutputs to reporters.
IN_PROCESS_ENGINES: tuple[str, ...] = ("libcbm",)


# --------------------------------------------------------------------------- output layout

@dataclass(frozen=True)
class OutputLayout:
    """File and folder names inside a run's output folder (OUT_DIR, build/output)."""

    raw_db: str = "gcbm_output.db"
    compiled_db: str = "compiled_gcbm_output.db"
    spatial_dir: str = "spatial"
    summary_file: str = "run_summary.json"
    logs_dir: str = "logs"


OUTPUT_LAYOUT = OutputLayout()


# --------------------------------------------------------------------------- the key registry

KINDS = ("str", "int", "number", "bool", "names", "path", "range", "mapping", "any")


@dataclass(frozen=True)
class Key:
    """One params.yaml key. `kind`: str | int | number | bool | names (list of str) | path |
    range ([low, high], finite numbers, low < high) | mapping (free-form, checked by its owner) | any.
    Null is always allowed (= the default)."""

    name: str
    kind: str
    default: Any
    doc: str
    choices: tuple | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:  # pragma: no cover - a programming error in KEYS
            raise ValueError(f"params key {self.name!r}: unknown kind {self.kind!r}")


KEYS: tuple[Key, ...] = (
    # project: which inputs
    Key("project.dir", "path", "data/demo/project", "GCBM project folder (layers/tiled + input_database)"),
    Key("project.db", "path", None, "gcbm_input.db; null = <dir>/input_database/gcbm_input.db"),
    Key("project.layers_dir", "path", None, "folder of the GeoTIFF layers; null = <dir>/layers/tiled"),
    Key("project.layers.classifiers", "names", None, "classifier layer names, initial_classifier_set order"),
    Key("project.layers.disturbances", "names", None, "disturbance layer names"),
    Key("project.layers.age", "str", None, "inventory age layer name"),
    Key("project.layers.temperature", "str", None, "mean annual temperature layer name"),
    Key("project.demo.seed", "int", 42, "demo landscape random seed"),
    Key("project.demo.size", "any", "small", "demo size: small | medium | large | pixels per side"),
    Key("project.demo.event_start_year", "int", 2010, "first year with demo disturbance events"),
    Key("project.demo.event_end_year", "int", 2020, "last year with demo disturbance events"),
    # simulation: how to simulate
    Key("simulation.start_year", "int", None, "first simulated year"),
    Key("simulation.end_year", "int", None, "last simulated year (inclusive)"),
    Key("simulation.engine", "str", "libcbm", "engine", choices=ENGINE_NAMES),
    Key("simulation.admin_boundary", "str", None, "admin_boundary.name or a layer name"),
    Key("simulation.eco_boundary", "str", None, "eco_boundary.name or a layer name"),
    Key("simulation.initial_age", "int", None, "age where the project has no age layer"),
    Key("simulation.mean_annual_temperature", "number", None, "deg C where there is no temperature layer"),
    # under simulation: the validate and configure stages declare the whole section, so changing it reruns them
    Key("simulation.temperature_range", "range", (-60.0, 60.0),
        "plausible mean annual temperatures [low, high] deg C; validate and run refuse others"),
    Key("simulation.initial_land_class", "str", "FL", "UNFCCC land class at the start"),
    Key("simulation.age_class_range", "int", 20, "width of the output age classes (years)"),
    Key("simulation.age_maximum", "int", 300, "start of the last, open age class"),
    Key("simulation.slow_ag_to_bg_mixing_rate", "number", 0.006, "slow soil AG -> BG mixing per year"),
    Key("simulation.num_threads", "int", 4, "GCBM threads (gcbm-container)"),
    Key("simulation.gcbm_container.image", "str", None, "GCBM image pinned by digest"),
    Key("simulation.spinup.enabled", "bool", True, "run spinup"),
    Key("simulation.spinup.delay", "int", 0, "GCBM SpinupVariables.delay"),
    Key("simulation.spinup.minimum_rotation", "int", 10, "GCBM SpinupVariables.minimum_rotation"),
    Key("simulation.spinup.run_delay", "bool", False, "GCBM SpinupVariables.run_delay"),
    # executor: where libcbm runs (a name, or a mapping of the keys below)
    Key("executor", "str", "local", "local | dask, or a mapping of executor.*", choices=("local", "dask")),
    Key("executor.kind", "str", "local", "local | dask", choices=("local", "dask")),
    Key("executor.address", "str", None, "Dask scheduler address; null = a LocalCluster"),
    Key("executor.n_workers", "int", 2, "LocalCluster worker processes"),
    Key("executor.threads_per_worker", "int", 1, "LocalCluster threads per worker"),
    Key("executor.processes", "bool", True, "LocalCluster workers as processes"),
    Key("executor.chunks", "int", None, "chunks of stands; null = one per worker thread"),
    Key("executor.memory_limit", "any", None, "LocalCluster memory limit per worker"),
    Key("executor.timeout", "number", None, "seconds to wait for a first worker"),
    # outputs: what the simulation writes besides the databases
    Key("outputs.indicators", "names", None, "WriteVariableGeotiff data_name values to map"),
    Key("outputs.years", "any", None, "years to map: null = every year, 'all', or a list"),
    Key("outputs.dir", "path", None, "where GCBM writes (configure); null = <config>/../output"),
    # report
    Key("report.title", "str", "flintcloud run", "heading of report.md"),
    Key("report.decimals", "int", 1, "decimals of tC/ha figures in the report"),
    Key("report.include_maps", "bool", True, "include the maps in report.md"),
    # scenarios: baseline + alternatives (flintcloud.scenarios.spec checks the section, naming scenario and key)
    Key("scenarios", "mapping", None, "named scenarios: baseline, files_dir, alternatives (docs/scenarios.md)"),
    # report.inventory: the GHG-inventory view (flintcloud.report.inventory.parse_inventory_settings checks values)
    Key("report.inventory.gwp", "str", "AR5", "100-year GWP set", choices=("AR4", "AR5", "AR6")),
    Key("report.inventory.co", "str", "oxidised", "carbon emitted as CO: oxidised | separate",
        choices=("oxidised", "separate")),
    Key("report.inventory.hwp.enabled", "bool", False, "harvested wood products pool (IPCC Tier 1)"),
    Key("report.inventory.hwp.shares", "mapping", None, "share of harvested C per commodity"),
    Key("report.inventory.hwp.half_lives", "mapping", None, "half-life in years per commodity"),
    Key("report.inventory.hwp.initial_stock", "str", "empty", "empty | steady_state",
        choices=("empty", "steady_state")),
)

_BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


def register(key: Key) -> None:
    """Add a key at run time (plugins, tests). The built-in keys are the KEYS lines above."""
    global KEYS
    if key.name in _BY_NAME:
        raise ValueError(f"params key {key.name!r} is already registered")
    KEYS = (*KEYS, key)
    _BY_NAME[key.name] = key


def _sections() -> set[str]:
    out: set[str] = set()
    for name in _BY_NAME:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return out


def registered_key(name: str) -> Key | None:
    return _BY_NAME.get(name)


def closest_key(name: str) -> str | None:
    """The registered key (or section) nearest to a misspelt dotted name, or None."""
    candidates = sorted({*_BY_NAME, *_sections()})
    # Compare like with like: the same depth first, then anywhere.
    depth = name.count(".")
    same = [c for c in candidates if c.count(".") == depth]
    for pool in (same, candidates):
        hit = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        if hit:
            return hit[0]
    leaf = name.rsplit(".", 1)[-1]
    hit = difflib.get_close_matches(leaf, [c.rsplit(".", 1)[-1] for c in candidates], n=1, cutoff=0.8)
    if hit:
        return next(c for c in candidates if c.rsplit(".", 1)[-1] == hit[0])
    return None


# --------------------------------------------------------------------------- checking


def _kind_problem(key: Key, value: Any) -> str | None:
    if value is None:
        return None
    kind = key.kind
    ok = True
    if kind == "str":
        ok = isinstance(value, str) and value != ""
        expected = "a non-empty string"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and math.isfinite(value) and value == int(value))
        expected = "an integer"
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
        expected = "a finite number"
    elif kind == "bool":
        ok = isinstance(value, bool)
        expected = "true or false"
    elif kind == "names":
        ok = (isinstance(value, Sequence) and not isinstance(value, str)
              and all(isinstance(v, str) for v in value))
        expected = "a list of names"
    elif kind == "path":
        ok = isinstance(value, (str, os.PathLike)) and str(value) != ""
        expected = "a path"
    elif kind == "range":
        ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
                      for v in value)
              and float(value[0]) < float(value[1]))
        expected = "[low, high], two finite numbers with low < high"
    elif kind == "mapping":
        ok = isinstance(value, Mapping)
        expected = "a mapping"
    else:  # any
        return None
    if not ok:
        return f"{key.name} is {value!r}; expected {expected}"
    if key.choices is not None and value not in key.choices:
        return f"{key.name} is {value!r}; expected one of {', '.join(map(str, key.choices))}"
    return None


def params_key_problems(obj: Any, source: str = "params.yaml", *, kinds: bool = True) -> list[str]:
    """Every unknown key and (with `kinds`) every value of the wrong kind in a parsed params.yaml (pure)."""
    if obj is None:
        return []
    if not isinstance(obj, Mapping):
        return [f"{source} must be a mapping of sections (project, simulation, outputs, report), "
                f"got {type(obj).__name__}"]
    sections = _sections()
    problems: list[str] = []

    def walk(node: Mapping, prefix: str) -> None:
        for raw_key, value in node.items():
            name = f"{prefix}{raw_key}"
            key = _BY_NAME.get(name)
            if name in sections and (isinstance(value, Mapping) or value is None):
                if isinstance(value, Mapping):
                    walk(value, name + ".")
                continue
            if key is not None:
                problem = _kind_problem(key, value) if kinds else None
                if problem:
                    problems.append(problem)
                continue
            if name in sections:
                problems.append(f"{name} is {value!r}; expected a mapping (section {name!r})")
                continue
            hint = closest_key(name)
            problems.append(f"unknown key {name!r}" + (f"; did you mean {hint!r}?" if hint else
                                                        "; see params.yaml's comments for the valid keys"))

    walk(obj, "")
    return [f"{source}: {p}" for p in problems]


def param_value(obj: Any, name: str, source: str = "params.yaml") -> tuple[Any, str | None]:
    """(value, problem) of registered key `name` in a parsed, unchecked params.yaml (pure): the value, or
    the key's default when it is absent or wrong, and the sentence saying what is wrong (else None)."""
    key = _BY_NAME[name]
    node: Any = obj
    for part in name.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            return key.default, None
        node = node[part]
    problem = _kind_problem(key, node)
    return (key.default, f"{source}: {problem}") if problem else (node, None)


@dataclass(frozen=True)
class Params:
    """A checked params.yaml. `data` is the file as read; `get(name)` falls back on the registered default."""

    data: Mapping[str, Any]
    source: str = "params.yaml"

    def get(self, name: str) -> Any:
        key = _BY_NAME.get(name)
        if key is None and name not in _sections():
            raise KeyError(f"{name!r} is not a registered params key")
        node: Any = self.data
        for part in name.split("."):
            if not isinstance(node, Mapping) or node.get(part) is None:
                return key.default if key is not None else None
            node = node[part]
        return node

    def section(self, name: str) -> dict:
        """A section as a dict ({} when absent)."""
        value = self.get(name)
        return dict(value) if isinstance(value, Mapping) else {}

    def __getitem__(self, section: str) -> Any:  # params["simulation"]: plain-dict access for old callers
        return self.data[section]

    def as_dict(self) -> dict:
        return dict(self.data)


def parse_params(obj: Any, source: str = "params.yaml") -> Params:
    """Check a parsed params.yaml against the registry (pure). ConfigError lists every problem."""
    problems = params_key_problems(obj, source)
    if problems:
        raise ConfigError("; ".join(problems))
    return Params(data=dict(obj or {}), source=source)


#: Why a key given twice matters where it is (params.yaml location -> hint appended to the error).
_DUPLICATE_HINTS = {("scenarios", "alternatives"): "two scenarios cannot share a name"}


def _duplicate_key(loader, node, path: tuple = ()) -> str | None:
    """The first key given twice in one mapping of a composed YAML document, as a sentence, or None."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: YAML itself refuses it when constructing
                first = None
            line = key_node.start_mark.line + 1
            if first is not None:
                hint = _DUPLICATE_HINTS.get(path)
                return (f"line {line}: key {key!r} appears twice in one mapping (first at line {first})"
                        + (f"; {hint}" if hint else "; YAML would silently keep the last one"))
            try:
                seen[key] = line
            except TypeError:
                pass
            found = _duplicate_key(loader, value_node, (*path, key))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _duplicate_key(loader, item, path)
            if found:
                return found
    return None


def parse_params_yaml(text: str, source: str = "params.yaml") -> Any:
    """The YAML of a params file, unchecked (pure). A key given twice in one mapping is a ConfigError
    naming the key and both lines (plain YAML keeps the last silently); invalid YAML raises yaml.YAMLError."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicate = _duplicate_key(loader, node)
        if duplicate:
            raise ConfigError(f"{source} {duplicate}")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_params_file(path: str | os.PathLike) -> Any:
    """The YAML of a params file, unchecked (I/O). ConfigError naming the file when unreadable, not YAML,
    or holding a key twice in one mapping (naming the key and the lines)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {str(path)!r} not found (run from the repository root, where params.yaml is)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"params file {str(path)!r} cannot be read: {err}") from err
    try:
        obj = parse_params_yaml(text, source=str(path))
    except yaml.YAMLError as err:
        raise ConfigError(f"params file {str(path)!r} is not valid YAML: {err}") from err
    return {} if obj is None else obj


def read_params(path: str | os.PathLike = PARAMS_FILE) -> Params:
    """Read and check params.yaml (I/O twin of `parse_params`)."""
    return parse_params(load_params_file(path), source=str(path))


__all__ = [
    "ENGINES", "ENGINE_NAMES", "IN_PROCESS_ENGINES", "KEYS", "Key", "OUTPUT_LAYOUT", "OutputLayout", "PARAMS_FILE",
    "Params", "closest_key", "load_params_file", "param_value", "params_key_problems", "parse_params",
    "parse_params_yaml", "read_params", "register",
]
