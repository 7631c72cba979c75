"""A simulation's params: the checkout's params.yaml with the user's overrides of some of its sections.

The keys, their kinds and choices are flintcloud.params' registry (the one params.yaml loader); this module
adds what only a service needs: which sections a user may override, merging overrides over the defaults, the
web form's ranges, and the params a FLINT.Cloud client states in an uploaded GCBM config. Each problem of an
override is reported once, under its key, with the registry's wording first.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

import yaml

from flintcloud.errors import ConfigError, ValidationError
from flintcloud.params import params_key_problems, parse_params
from flintcloud.pipeline import code_root

# Sections a user may override, and inside `project` only the layer roles and where db/layers are.
OVERRIDABLE = ("project", "simulation", "outputs", "report", "executor")
PROJECT_KEYS = ("db", "layers_dir", "layers")


@lru_cache(maxsize=1)
def defaults_text() -> str:
    """The checkout's params.yaml as text (its comments are the web form's help)."""
    return (code_root() / "params.yaml").read_text(encoding="utf-8")


def default_params() -> dict:
    """The checkout's params.yaml, checked against flintcloud.params' registry."""
    params = yaml.safe_load(defaults_text())
    if not isinstance(params, dict):
        raise ConfigError("params.yaml of the flintcloud checkout is not a mapping of sections")
    return parse_params(params, source=str(code_root() / "params.yaml")).as_dict()


_KEY_OF_PROBLEM = re.compile(r"^(?:params\.)?(?:unknown key ')?(?P<key>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)")


def problem_key(problem: str) -> str:
    """The dotted params key a problem message is about (its first word). Pure."""
    m = _KEY_OF_PROBLEM.match(problem)
    return m["key"] if m else problem


def once_per_key(problems: list[str]) -> list[str]:
    """The first problem of each key: the registry's (kind, choices) before configure's and the form's checks,
    which would word the same mistake again. Pure."""
    seen: set[str] = set()
    out = []
    for problem in problems:
        key = problem_key(problem)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _merge(base: Any, override: Any, where: str, problems: list[str]) -> Any:
    if isinstance(base, dict):
        if not isinstance(override, dict):
            problems.append(f"params.{where}: expected a mapping of {', '.join(base) or 'keys'}, got {override!r}")
            return base
        out = dict(base)
        for key, value in override.items():
            if key not in base:
                problems.append(f"params.{where}.{key}: unknown key (expected one of {', '.join(map(str, base))})")
                continue
            out[key] = _merge(base[key], value, f"{where}.{key}", problems)
        return out
    return copy.deepcopy(override)


def check_overrides(overrides: Any) -> dict:
    """The overrides if they are well-formed; ValidationError listing every problem otherwise."""
    if overrides is None:
        return {}
    problems: list[str] = []
    if not isinstance(overrides, dict):
        raise ValidationError([f"params: expected a mapping of sections, got {overrides!r}"])
    for section, value in overrides.items():
        if section not in OVERRIDABLE:
            problems.append(f"params.{section}: not a section you can set (one of {', '.join(OVERRIDABLE)})")
        elif section == "project":
            if not isinstance(value, dict):
                problems.append(f"params.project: expected a mapping, got {value!r}")
            else:
                problems += [f"params.project.{k}: not settable here (one of {', '.join(PROJECT_KEYS)}); "
                             f"the project is the simulation's uploaded inputs" for k in value if k not in PROJECT_KEYS]
    if problems:
        raise ValidationError(problems, source="params")
    # unknown keys (with the closest valid one) and values of the wrong kind, in the registry's words; then what
    # configure accepts and the web form's ranges, on params.yaml with the known keys merged in
    problems = [p.removeprefix("params: ") for p in params_key_problems(overrides, "params")]
    merged = _merge(default_params(), overrides, "", [])
    from flintcloud.gcbm.config_writer import params_problems
    from flintcloud.service.params_form import range_problems

    problems = once_per_key(problems + params_problems(merged) + range_problems(merged))
    if problems:
        raise ValidationError(problems, source="params")
    return overrides


def effective_params(overrides: dict | None) -> dict:
    """params.yaml with `overrides` merged in (section by section, key by key)."""
    if not overrides:
        return default_params()
    problems: list[str] = []
    merged = _merge(default_params(), overrides, "", problems)
    if problems:
        raise ValidationError([p.replace("params..", "params.") for p in problems], source="params")
    return merged


def parse_config_params(docs: dict[str, Any]) -> dict:
    """Simulation params a GCBM config set states (FLINT.Cloud's clients upload one). Pure.

    `docs` maps config file name -> parsed JSON. Reads localdomain.json start_date/end_date (GCBM's
    end is exclusive: end_year = end_date's year - 1) and variables.json admin_boundary/eco_boundary
    when they are names (not layer references).
    """
    simulation: dict[str, Any] = {}
    domain = (docs.get("localdomain.json") or {}).get("LocalDomain") or {}
    for key, out, shift in (("start_date", "start_year", 0), ("end_date", "end_year", -1)):
        value = domain.get(key)
        if isinstance(value, str) and value[:4].isdigit():
            simulation[out] = int(value[:4]) + shift
    variables = (docs.get("variables.json") or {}).get("Variables") or {}
    for key in ("admin_boundary", "eco_boundary"):
        if isinstance(variables.get(key), str):
            simulation[key] = variables[key]
    return {"simulation": simulation} if simulation else {}


def read_config_params(config_dir) -> dict:
    """parse_config_params of the JSON files in an uploaded config folder (unreadable files are skipped:
    validation reports them)."""
    import json
    from pathlib import Path

    docs = {}
    for name in ("localdomain.json", "variables.json"):
        path = Path(config_dir) / name
        try:
            docs[name] = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            continue
    return parse_config_params(docs)


def merge_overrides(base: dict, extra: dict) -> dict:
    """`extra` under `base`: keys the user already set win. Pure."""
    out = copy.deepcopy(extra)
    for section, values in (base or {}).items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section].update(values)
        else:
            out[section] = copy.deepcopy(values)
    return out


def simulation_params(title: str, overrides: dict | None) -> dict:
    """The full params of a simulation's run: params.yaml + its overrides; the report is titled after the
    simulation unless the overrides title it."""
    return effective_params(merge_overrides(overrides or {}, {"report": {"title": title}}))
