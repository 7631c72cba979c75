"""What params.yaml's `scenarios:` section says, checked before anything runs (pure).

    scenarios:
      baseline: {name: baseline, title: ...}     # the project and params above, unchanged
      files_dir: data/scenarios                  # replacement layers live here (a stage dependency)
      alternatives:
        <name>:
          title: ...
          params: {<dotted params.yaml key>: value, ...}
          inputs: [{<operation>: ...}, ...]      # applied in order to a copy of the base project

Input operations (one key each; `layers` defaults to every disturbance layer, `disturbance_type`
to every type):
  drop_layers:     [layer, ...]                                   remove disturbance layers
  replace_layer:   {layer, with}                                  another GeoTIFF (+ sidecar) from files_dir
  drop_events:     {layers?, disturbance_type?}                   remove those events' pixels
  keep_fraction:   {layers?, disturbance_type?, fraction, seed}   keep a seeded fraction of the pixels
  scale_events:    {layers?, disturbance_type?, factor, seed}     factor <= 1 as keep_fraction; > 1 adds
                                                                   pixels (random undisturbed ones)
  shift_years:     {layers?, disturbance_type?, years}            move the events by N years
  temperature_offset: <deg C>                                     add a constant to the temperature layer

`check_scenarios` returns every problem, each naming the scenario and the key, so `dvc repro`
stops before the first scenario is built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from flintcloud.errors import ConfigError
from flintcloud.params import parse_params_yaml
from flintcloud.scenarios.edits import mixed_code_message

DEFAULT_BASELINE = "baseline"
DEFAULT_FILES_DIR = "data/scenarios"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# params.yaml keys a scenario may not override: it is built from the one base project, the
# report and executor are not part of a scenario's result, and scenarios do not nest.
FORBIDDEN_PREFIXES = ("project.dir", "project.demo", "scenarios", "report", "executor")
OPERATIONS = ("drop_layers", "replace_layer", "drop_events", "keep_fraction", "scale_events", "shift_years",
              "temperature_offset")
SELECT_KEYS = ("layers", "disturbance_type")
OPERATION_KEYS = {
    "replace_layer": {"layer", "with"},
    "drop_events": set(SELECT_KEYS),
    "keep_fraction": {*SELECT_KEYS, "fraction", "seed"},
    "scale_events": {*SELECT_KEYS, "factor", "seed"},
    "shift_years": {*SELECT_KEYS, "years"},
}
REQUIRED_KEYS = {
    "replace_layer": {"layer", "with"},
    "keep_fraction": {"fraction", "seed"},
    "scale_events": {"factor", "seed"},
    "shift_years": {"years"},
}
MAX_SCALE = 100.0


@dataclass(frozen=True)
class Operation:
    """One edit of the base project. `kind` is one of OPERATIONS; `key` names it in messages."""

    kind: str
    key: str  # e.g. "inputs[0].keep_fraction"
    layers: tuple[str, ...] | None = None  # None: every disturbance layer
    disturbance_type: str | None = None
    fraction: float | None = None  # keep_fraction / scale_events factor
    seed: int | None = None
    years: int | None = None
    offset: float | None = None
    replacement: str | None = None  # replace_layer: path inside files_dir


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)  # dotted key -> value
    inputs: tuple[Operation, ...] = ()

    @property
    def is_baseline(self) -> bool:
        return not self.params and not self.inputs


@dataclass(frozen=True)
class ScenarioSet:
    baseline: Scenario
    alternatives: tuple[Scenario, ...]
    files_dir: str = DEFAULT_FILES_DIR

    def names(self) -> list[str]:
        return [self.baseline.name] + [s.name for s in self.alternatives]

    def get(self, name: str) -> Scenario:
        for s in (self.baseline, *self.alternatives):
            if s.name == name:
                return s
        raise ConfigError(f"params.yaml: no scenario {name!r} in scenarios (have {self.names()})")


# ----------------------------------------------------------------------------- YAML


def load_params_text(text: str) -> dict:
    """params.yaml text -> mapping, through flintcloud.params' one loader (a key given twice in one
    mapping, e.g. two scenarios with one name, is a ConfigError naming it and both lines)."""
    try:
        data = parse_params_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"params.yaml is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError("params.yaml must be a mapping of sections")
    return data


# ----------------------------------------------------------------------------- parsing


def has_key(params: Mapping[str, Any], dotted: str) -> bool:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_operation(scenario: str, index: int, item: Any, problems: list[str]) -> Operation | None:
    where = f"inputs[{index}]"
    if not isinstance(item, Mapping) or len(item) != 1:
        problems.append(f"scenario {scenario!r}: key {where!r} must be a mapping with one operation "
                        f"({', '.join(OPERATIONS)}), got {item!r}")
        return None
    (kind, body), = item.items()
    key = f"{where}.{kind}"
    if kind not in OPERATIONS:
        problems.append(f"scenario {scenario!r}: key {key!r} is not an input operation; expected one of "
                        f"{', '.join(OPERATIONS)}")
        return None
    if kind == "drop_layers":
        names = [body] if isinstance(body, str) else body
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            problems.append(f"scenario {scenario!r}: key {key!r} must be a layer name or a list of them, got {body!r}")
            return None
        return Operation(kind, key, layers=tuple(names))
    if kind == "temperature_offset":
        if not _is_number(body):
            problems.append(f"scenario {scenario!r}: key {key!r} must be a number of deg C, got {body!r}")
            return None
        return Operation(kind, key, offset=float(body))
    if not isinstance(body, Mapping):
        problems.append(f"scenario {scenario!r}: key {key!r} must be a mapping of {sorted(OPERATION_KEYS[kind])}, "
                        f"got {body!r}")
        return None
    bad = sorted(set(body) - OPERATION_KEYS[kind])
    for k in bad:
        problems.append(f"scenario {scenario!r}: key {key}.{k!s} is not a setting of {kind} "
                        f"(expected {sorted(OPERATION_KEYS[kind])})")
    for k in sorted(REQUIRED_KEYS.get(kind, set()) - set(body)):
        problems.append(f"scenario {scenario!r}: key {key}.{k} is missing")
    if bad or REQUIRED_KEYS.get(kind, set()) - set(body):
        return None
    n_before = len(problems)
    layers = body.get("layers")
    if kind == "replace_layer":
        layers = [body["layer"]]
    if isinstance(layers, str):
        layers = [layers]
    if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
        problems.append(f"scenario {scenario!r}: key {key}.layers must be a list of layer names, got {layers!r}")
    dtype = body.get("disturbance_type")
    if dtype is not None and not isinstance(dtype, str):
        problems.append(f"scenario {scenario!r}: key {key}.disturbance_type must be a name, got {dtype!r}")
    fraction = seed = years = replacement = None
    if kind == "keep_fraction":
        fraction = body["fraction"]
        if not _is_number(fraction) or not 0.0 <= fraction <= 1.0:
            problems.append(f"scenario {scenario!r}: key {key}.fraction must be a number in [0, 1], got {fraction!r}")
    if kind == "scale_events":
        fraction = body["factor"]
        if not _is_number(fraction) or not 0.0 <= fraction <= MAX_SCALE:
            problems.append(f"scenario {scenario!r}: key {key}.factor must be a number in [0, {MAX_SCALE:g}], "
                            f"got {fraction!r}")
    if kind in ("keep_fraction", "scale_events"):
        seed = body["seed"]
        if not _is_int(seed) or seed < 0:
            problems.append(f"scenario {scenario!r}: key {key}.seed must be a non-negative integer, got {seed!r}")
    if kind == "shift_years":
        years = body["years"]
        if not _is_int(years):
            problems.append(f"scenario {scenario!r}: key {key}.years must be a whole number of years, got {years!r}")
    if kind == "replace_layer":
        replacement = body["with"]
        path = PurePosixPath(str(replacement))
        if (not isinstance(replacement, str) or path.is_absolute() or ".." in path.parts
                or path.suffix.lower() not in (".tif", ".tiff")):
            problems.append(f"scenario {scenario!r}: key {key}.with must be a .tif/.tiff path inside "
                            f"scenarios.files_dir (relative, no '..'), got {replacement!r}")
    if len(problems) > n_before:
        return None
    return Operation(kind, key, layers=tuple(layers) if layers is not None else None, disturbance_type=dtype,
                     fraction=None if fraction is None else float(fraction), seed=seed, years=years,
                     replacement=replacement)


def _parse_overrides(scenario: str, value: Any, params: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f"scenario {scenario!r}: key 'params' must map dotted params.yaml keys to values, got {value!r}")
        return {}
    out = {}
    for key, v in value.items():
        key = str(key)
        if any(key == p or key.startswith(p + ".") for p in FORBIDDEN_PREFIXES):
            problems.append(f"scenario {scenario!r}: key 'params.{key}' cannot be overridden by a scenario "
                            f"(not allowed: {', '.join(FORBIDDEN_PREFIXES)})")
        elif not has_key(params, key):
            problems.append(f"scenario {scenario!r}: key 'params.{key}' is not a params.yaml key")
        else:
            out[key] = v
    return out


def parse_scenarios(params: Mapping[str, Any]) -> tuple[ScenarioSet, list[str]]:
    """The scenarios section as a ScenarioSet, and every problem found (pure; layers not checked)."""
    problems: list[str] = []
    section = params.get("scenarios")
    if section is None:
        return ScenarioSet(Scenario(DEFAULT_BASELINE, "Baseline"), ()), problems
    if not isinstance(section, Mapping):
        return ScenarioSet(Scenario(DEFAULT_BASELINE, "Baseline"), ()), [
            f"params.yaml: key 'scenarios' must be a mapping (baseline, files_dir, alternatives), got {section!r}"]
    for k in sorted(set(section) - {"baseline", "files_dir", "alternatives"}):
        problems.append(f"params.yaml: key 'scenarios.{k}' is not a scenarios setting "
                        "(expected baseline, files_dir, alternatives)")
    base = section.get("baseline") or {}
    if not isinstance(base, Mapping) or set(base) - {"name", "title"}:
        problems.append("params.yaml: key 'scenarios.baseline' takes only name and title (the baseline is the "
                        f"project and params as they are), got {base!r}")
        base = {}
    base_name = str(base.get("name", DEFAULT_BASELINE))
    if not NAME_PATTERN.match(base_name):
        problems.append(f"scenario {base_name!r}: key 'scenarios.baseline.name' must be letters, digits, '_', '-', '.'")
    baseline = Scenario(base_name, str(base.get("title", "Baseline")))
    files_dir = section.get("files_dir", DEFAULT_FILES_DIR)
    if not isinstance(files_dir, str) or PurePosixPath(files_dir).is_absolute() or ".." in PurePosixPath(files_dir).parts:
        problems.append(f"params.yaml: key 'scenarios.files_dir' must be a relative folder inside the repository, "
                        f"got {files_dir!r}")
        files_dir = DEFAULT_FILES_DIR
    alts = section.get("alternatives") or {}
    if not isinstance(alts, Mapping):
        problems.append(f"params.yaml: key 'scenarios.alternatives' must map scenario names to definitions, got {alts!r}")
        alts = {}
    alternatives = []
    for name, body in alts.items():
        name = str(name)
        n_before = len(problems)
        if not NAME_PATTERN.match(name):
            problems.append(f"scenario {name!r}: key 'scenarios.alternatives.{name}': a name is letters, digits, "
                            "'_', '-', '.' (it becomes a folder and a DVC stage name)")
        if name == base_name:
            problems.append(f"scenario {name!r}: key 'scenarios.alternatives.{name}' has the baseline's name; "
                            "two scenarios cannot share a name")
        body = body or {}
        if not isinstance(body, Mapping):
            problems.append(f"scenario {name!r}: key 'scenarios.alternatives.{name}' must be a mapping "
                            f"(title, params, inputs), got {body!r}")
            continue
        for k in sorted(set(body) - {"title", "params", "inputs"}):
            problems.append(f"scenario {name!r}: key {k!r} is not a scenario setting (expected title, params, inputs)")
        overrides = _parse_overrides(name, body.get("params"), params, problems)
        raw_inputs = body.get("inputs") or []
        if not isinstance(raw_inputs, list):
            problems.append(f"scenario {name!r}: key 'inputs' must be a list of operations, got {raw_inputs!r}")
            raw_inputs = []
        ops = [_parse_operation(name, i, item, problems) for i, item in enumerate(raw_inputs)]
        if len(problems) == n_before:
            alternatives.append(Scenario(name, str(body.get("title", name)), overrides, tuple(o for o in ops if o)))
    return ScenarioSet(baseline, tuple(alternatives), files_dir), problems


@dataclass(frozen=True)
class LayerRoles:
    """What scenario checks need to know of the base project: its layer names by role, and the
    disturbance type names its sidecars use."""

    layers: dict[str, str]  # layer name -> role (disturbance, temperature, classifier, age, ...)
    disturbance_types: frozenset[str] = frozenset()
    # disturbance layer -> {pixel value: its events' types} for values with events of several types
    mixed: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=dict)

    def with_role(self, role: str) -> list[str]:
        return [n for n, r in self.layers.items() if r == role]


def check_against_project(scenarios: Sequence[Scenario], roles: LayerRoles, project: str,
                          files: set[str] | None = None) -> list[str]:
    """Problems of operations naming layers, disturbance types or files the project does not have."""
    problems = []
    disturbance = roles.with_role("disturbance")
    for s in scenarios:
        dropped: set[str] = set()
        for op in s.inputs:
            if op.kind == "temperature_offset":
                if not roles.with_role("temperature"):
                    problems.append(f"scenario {s.name!r}: key {op.key!r}: project {project!r} has no temperature layer")
                continue
            for layer in op.layers or ():
                allowed = disturbance if op.kind != "replace_layer" else list(roles.layers)
                if layer not in roles.layers:
                    problems.append(f"scenario {s.name!r}: key {op.key!r}: layer {layer!r} does not exist in "
                                    f"project {project!r} (layers: {', '.join(roles.layers)})")
                elif layer not in allowed:
                    problems.append(f"scenario {s.name!r}: key {op.key!r}: layer {layer!r} is a {roles.layers[layer]} "
                                    f"layer, not a disturbance layer")
                elif layer in dropped:
                    problems.append(f"scenario {s.name!r}: key {op.key!r}: layer {layer!r} was dropped by an "
                                    "earlier operation")
            if op.kind in PIXEL_EDITS and op.disturbance_type is not None:
                problems += _mixed_problems(s.name, op, roles, dropped)
            if op.kind == "drop_layers":
                dropped.update(op.layers or ())
            if op.disturbance_type is not None and op.disturbance_type not in roles.disturbance_types:
                problems.append(f"scenario {s.name!r}: key {op.key}.disturbance_type: {op.disturbance_type!r} is not "
                                f"a disturbance type of project {project!r} "
                                f"(types: {', '.join(sorted(roles.disturbance_types))})")
            if op.kind == "replace_layer" and files is not None and op.replacement not in files:
                problems.append(f"scenario {s.name!r}: key {op.key}.with: file {op.replacement!r} not found in "
                                "scenarios.files_dir")
    return problems


# Operations that edit whole pixel values of the pixels they select.
PIXEL_EDITS = ("drop_events", "keep_fraction", "scale_events")


def _mixed_problems(scenario: str, op: Operation, roles: LayerRoles, dropped: set[str]) -> list[str]:
    """A type's pixel edit on layers whose pixel values mix that type with others (edits.mixed_type_codes)."""
    out = []
    for layer in op.layers or roles.with_role("disturbance"):
        if layer in dropped:
            continue
        for code, types in sorted((roles.mixed.get(layer) or {}).items()):
            if op.disturbance_type in types:
                out.append(f"scenario {scenario!r}: key {op.key}.disturbance_type: "
                           + mixed_code_message(layer, code, types, op.disturbance_type, op.kind))
    return out


def scenario_params(params: Mapping[str, Any], scenario: Scenario, project_dir: str,
                    dropped_layers: Sequence[str] = ()) -> dict:
    """The params a scenario's stages read: the base params with its overrides, `project.dir` set to
    the scenario's project, `project.db`/`layers_dir` moved along when inside the base project, dropped
    layers taken out of `project.layers.disturbances`; no scenarios/report/executor sections (pure)."""
    import copy

    out = {k: copy.deepcopy(v) for k, v in params.items() if k not in ("scenarios", "report", "executor")}
    for key, value in scenario.params.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    project = out.setdefault("project", {})
    base_dir = PurePosixPath(str(params.get("project", {}).get("dir", "")))
    for key in ("db", "layers_dir"):
        value = project.get(key)
        if isinstance(value, str):
            path = PurePosixPath(value)
            try:
                project[key] = str(PurePosixPath(project_dir) / path.relative_to(base_dir))
            except ValueError:
                pass
    project["dir"] = project_dir
    project.pop("demo", None)
    layers = project.get("layers") or {}
    if isinstance(layers.get("disturbances"), list):
        layers["disturbances"] = [n for n in layers["disturbances"] if n not in set(dropped_layers)]
    return out


def parse_or_raise(params: Mapping[str, Any]) -> ScenarioSet:
    scenarios, problems = parse_scenarios(params)
    if problems:
        raise ConfigError("params.yaml scenarios: " + "; ".join(problems))
    return scenarios
