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
# Keys (or whole subsections) an API user may not set, whatever the value, and why: they choose what the
# worker executes and where. Only the server's own params.yaml (its operator) sets them. The web form hides
# them too (params_form.HIDDEN).
OPERATOR_ONLY = {
    "executor.address": "the worker's Dask client would connect to the scheduler named here and run (unpickle) "
                        "whatever it sends",
    "simulation.gcbm_container": "the worker would `docker run` the image named here",
    "simulation.num_threads": "GCBM's threads on the worker host are the operator's to allot",
    "executor.chunks": "the number of Dask actors on the worker host is the operator's to allot",
}
# Resource keys a user may set up to the service's limits (flintcloud.service.settings.Limits field, what).
CAPPED = {
    "executor.n_workers": ("max_executor_workers", "Dask worker processes"),
    "executor.threads_per_worker": ("max_executor_threads", "threads per Dask worker"),
    "executor.memory_limit": ("max_executor_memory_bytes", "bytes of memory per Dask worker"),
}
# Keys naming files or folders: relative to the run's own folder, never absolute nor climbing out of it.
PATH_KEYS = ("project.db", "project.layers_dir", "outputs.dir")


@lru_cache(maxsize=1)
def defaults_text() -> str:
    """The checkout's params.yaml as text (its comments are the web form's help)."""
    return (code_root() / "params.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _checked_defaults() -> dict:
    params = yaml.safe_load(defaults_text())
    if not isinstance(params, dict):
        raise ConfigError("params.yaml of the flintcloud checkout is not a mapping of sections")
    return parse_params(params, source=str(code_root() / "params.yaml")).as_dict()


def default_params() -> dict:
    """The checkout's params.yaml, checked against flintcloud.params' registry (read and checked once; each
    caller gets its own copy to merge into)."""
    return copy.deepcopy(_checked_defaults())


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


def _dotted(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every key of a nested mapping, sections included. Pure."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            name = f"{prefix}{key}"
            out.append((name, value))
            out += _dotted(value, name + ".")
    return out


def memory_bytes(value: Any) -> int | None:
    """Bytes of a memory size as Dask reads executor.memory_limit (an integer, or text such as '4GB' or
    '512 MiB': dask.utils.parse_bytes); None if it is not one ('auto' and fractions are not: they size by
    the host's memory, which the service's limit cannot bound)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(value))
    except ValueError:
        return None


def path_problem(value: Any) -> str | None:
    """Why a path a user gave may not be used (absolute, '..', '~', backslash, NUL), or None. Pure."""
    if not isinstance(value, str):
        return None  # the registry reports the kind
    parts = value.replace("\\", "/").split("/")
    if "\x00" in value:
        return "contains a NUL character"
    if "\\" in value:
        return "contains a backslash; use '/'"
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        return "is absolute; only a relative path inside the simulation's own folder is allowed"
    if ".." in parts:
        return "contains '..'; only a relative path inside the simulation's own folder is allowed"
    return None


def service_problems(overrides: dict, limits) -> list[str]:
    """What an API user may not set, whatever params.yaml's registry accepts: the operator's keys, resources
    above the service's limits, paths leaving the simulation's folder. One message per key. Pure."""
    problems = []
    for key, value in _dotted(overrides):
        refused = next((k for k in OPERATOR_ONLY if key == k or key.startswith(k + ".")), None)
        if refused is not None:
            if not (isinstance(value, dict) and value):  # name the leaf: simulation.gcbm_container.image
                problems.append(f"params.{key}: not settable through the API: {OPERATOR_ONLY[refused]}; the "
                                f"server's params.yaml sets it")
        elif key in CAPPED and value is not None:
            field, what = CAPPED[key]
            limit = getattr(limits, field)
            amount = memory_bytes(value) if key == "executor.memory_limit" else value
            if key == "executor.memory_limit" and amount is None:
                problems.append(f"params.{key}: {value!r} is not a memory size; give bytes or e.g. '2GB' (at most "
                                f"{limit} bytes)")
            elif isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount > limit:
                problems.append(f"params.{key}: {value!r} is above this service's limit of {limit} {what} "
                                f"(FLINTCLOUD_{field.upper()})")
        elif key in PATH_KEYS:
            why = path_problem(value)
            if why:
                problems.append(f"params.{key}: {value!r} {why}")
    return problems


def check_overrides(overrides: Any, limits=None) -> dict:
    """The overrides if they are well-formed and within what an API user may set (`limits`: the service's
    Limits; default Limits()); ValidationError listing every problem otherwise."""
    if overrides is None:
        return {}
    if limits is None:
        from flintcloud.service.settings import Limits

        limits = Limits()
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
    problems += service_problems(overrides, limits)
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
