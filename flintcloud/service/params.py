"""A simulation's params: the repository's params.yaml with the user's overrides of its sections.

Small functions so that switching to flintcloud.params (the typed loader being written) is one
import. Overrides are checked key by key against params.yaml (an unknown key is named), then
with the same checks as the configure stage (params_problems).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

from flintcloud.errors import ConfigError, ValidationError
from flintcloud.pipeline import code_root

# Sections a user may override, and inside `project` only the layer roles and where db/layers are.
OVERRIDABLE = ("project", "simulation", "outputs", "report", "executor")
PROJECT_KEYS = ("db", "layers_dir", "layers")


@lru_cache(maxsize=1)
def _defaults_text() -> str:
    return (code_root() / "params.yaml").read_text(encoding="utf-8")


def default_params() -> dict:
    params = yaml.safe_load(_defaults_text())
    if not isinstance(params, dict):
        raise ConfigError("params.yaml of the flintcloud checkout is not a mapping of sections")
    return params


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
    merged = effective_params(overrides)
    from flintcloud.gcbm.config_writer import params_problems

    problems = params_problems(merged)
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
