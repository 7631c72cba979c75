"""The web app's parameter form, generated from params.yaml: its keys, defaults and the comments above them.

    form_fields(params_text) -> list[Field]

Only the sections a simulation may override (flintcloud.service.overrides.OVERRIDABLE, less `project`, whose
inputs are the uploaded files) become fields. Types come from the default values; the help text is the
comment block above each key, as written in params.yaml. Choices and ranges that a comment cannot carry
are in CONSTRAINTS or, for choices, in flintcloud.params' key registry; the server enforces both: the
browser checks first for a quick answer, the server checks again and has the last word.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from flintcloud.params import registered_key

FORM_SECTIONS = ("simulation", "outputs", "report", "executor")
# Keys that are not for a web form: container images and thread counts belong to whoever runs the service.
# The API enforces the same: flintcloud.service.overrides refuses OPERATOR_ONLY keys and caps CAPPED ones
# to the service's limits (a test keeps every HIDDEN key in one of the two).
HIDDEN = {"simulation.num_threads", "simulation.gcbm_container.image", "executor.address",
          "executor.n_workers", "executor.threads_per_worker", "executor.chunks"}


@dataclass(frozen=True)
class Field:
    key: str                     # dotted params key, e.g. simulation.end_year
    type: str                    # int | float | bool | str | list
    default: Any
    help: str
    nullable: bool = False       # the default is null: leaving the field empty means "not set"
    choices: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    multiple: bool = False       # a list of choices

    def as_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _indicators() -> list[str]:
    from flintcloud.gcbm.config_writer import indicator_catalogue

    return list(indicator_catalogue())


# Choices and ranges: the browser checks them for a quick answer and the server checks them again
# (range_problems, called by flintcloud.service.overrides.check_overrides beside params_problems): years
# within what GCBM's calendar and CBM-CFS3's parameters make sense of, counts that cannot be negative.
CONSTRAINTS: dict[str, dict[str, Any]] = {
    "simulation.start_year": {"minimum": 1800, "maximum": 2200},
    "simulation.end_year": {"minimum": 1800, "maximum": 2200},
    "simulation.initial_age": {"minimum": 0, "maximum": 1000},
    "simulation.mean_annual_temperature": {"minimum": -60, "maximum": 60},
    "simulation.age_class_range": {"minimum": 1, "maximum": 100},
    "simulation.age_maximum": {"minimum": 1, "maximum": 1000},
    "simulation.slow_ag_to_bg_mixing_rate": {"minimum": 0, "maximum": 1},
    "simulation.spinup.delay": {"minimum": 0, "maximum": 1000},
    "simulation.spinup.minimum_rotation": {"minimum": 1, "maximum": 1000},
    "outputs.indicators": {"choices": _indicators, "multiple": True},
    "report.decimals": {"minimum": 0, "maximum": 6},
}

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")


def _comments_by_key(text: str) -> dict[str, str]:
    """Dotted key -> the comment lines directly above it (and an inline comment), joined."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            pending = []
            continue
        m = _KEY.match(line)
        if not m:
            pending = []
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [m["key"]])
        inline = m["rest"].split(" #", 1)[1].strip() if " #" in m["rest"] else ""
        out[dotted] = " ".join(pending + ([inline] if inline else [])).strip()
        pending = []
        stack.append((indent, m["key"]))
    return out


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    return "str"


# Nullable keys whose non-null values are numbers (their default, null, says nothing about the type).
NULLABLE_TYPES = {"simulation.initial_age": "int", "simulation.mean_annual_temperature": "float",
                  "outputs.years": "list"}


def _leaves(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(f"{prefix}.{k}", v)]
    return [(prefix, value)]


def form_fields(params_text: str) -> list[Field]:
    params = yaml.safe_load(params_text)
    helps = _comments_by_key(params_text)
    fields: list[Field] = []
    for section in FORM_SECTIONS:
        for key, default in _leaves(section, params.get(section, {})):
            if key in HIDDEN:
                continue
            rule = {k: (v() if callable(v) else v) for k, v in CONSTRAINTS.get(key, {}).items()}
            registered = registered_key(key)  # choices params.yaml's registry already has (engines, GWP sets...)
            if "choices" not in rule and registered is not None and registered.choices:
                rule["choices"] = list(registered.choices)
            kind = NULLABLE_TYPES.get(key, "str") if default is None else _type_of(default)
            fields.append(Field(key=key, type=kind, default=default, help=helps.get(key, ""),
                                nullable=default is None, **rule))
    return fields


def _get(params: dict, dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def range_problems(params: dict) -> list[str]:
    """Every value of ``params`` outside its CONSTRAINTS range or choices, one message each."""
    problems = []
    for key, rule in CONSTRAINTS.items():
        value = _get(params, key)
        if value is None:
            continue
        values = value if rule.get("multiple") and isinstance(value, list) else [value]
        choices = rule["choices"]() if "choices" in rule else None
        for v in values:
            if choices is not None and v not in choices:
                problems.append(f"{key}: {v!r} is not one of {', '.join(map(str, choices))}")
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            if numeric and "minimum" in rule and v < rule["minimum"]:
                problems.append(f"{key}: {v!r} is below the minimum {rule['minimum']}")
            if numeric and "maximum" in rule and v > rule["maximum"]:
                problems.append(f"{key}: {v!r} is above the maximum {rule['maximum']}")
    return problems
