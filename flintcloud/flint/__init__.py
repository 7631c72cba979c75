"""The FLINT example (Point and RothC) without FLINT's C++: read FLINT's JSON configuration, run
FLINT's calendar sequencer, modules and simple operation manager, write FLINT's CSVs.

Library entry points (the CLI `flintcloud flint run`, the RothC DVC stages and the service call these):

- `run_configs(configs, sources=None) -> FlintResult`: run parsed configuration documents (dicts, merged
  in order as moja.cli merges its --config files). `FlintResult.to_csv()` is FLINT's OutputerStream CSV,
  `.to_records()` / `.to_dict()` JSON-able rows, `.files` every file FLINT would write.
- `run_config_files(paths) -> FlintResult`: the same from files (`flintcloud flint run --config ...`).
- `run_example("point" | "rothc", body=None) -> FlintResult`: FLINT.Cloud's POST /point and /rothc (the
  body replaces the example's run config; the example's libraries file is merged after it).
- `default_point_configs()`, `default_rothc_configs()`: FLINT.Cloud's default configs, shipped with the
  package (MPL-2.0, see configs/NOTICE.md), as lists of dicts ready for `run_configs`.

Bad input raises flintcloud.errors.ConfigError naming the key and the file before any step runs.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any, Callable

from flintcloud.errors import ConfigError
from flintcloud.flint.config import FlintConfig, parse_flint_config, read_flint_config
from flintcloud.flint.simulation import FlintResult, FluxRecord, StepRecord, run_simulation

__all__ = [
    "FlintConfig", "FlintResult", "FluxRecord", "StepRecord", "default_point_configs", "default_rothc_configs",
    "parse_flint_config", "read_flint_config", "run_config_files", "run_configs", "DEFAULT_CONFIG_FILES",
    "default_logging_config", "run_example",
]

DEFAULT_CONFIG_FILES = {
    "point": ("point_example.json", "libs.base.simple.json"),
    "rothc": ("point_rothc_example.json", "libs.base_rothc.simple.json"),
}


def run_configs(configs: list[dict[str, Any]], sources: list[str] | None = None,
                now: Callable[[], float | None] | None = None, max_steps: int | None = None) -> FlintResult:
    """Run FLINT configuration documents (merged in order); `sources` names them in error messages
    (default "config[0]", "config[1]", ...). `now` gives the timestamp (seconds since the epoch) of the
    CSV info lines; `max_steps` refuses longer runs (ConfigError) before any step."""
    if not isinstance(configs, list):
        configs = [configs]
    names = list(sources) if sources is not None else [f"config[{i}]" for i in range(len(configs))]
    return run_simulation(parse_flint_config(list(zip(names, configs))), now=now, max_steps=max_steps)


def run_config_files(paths: list[str | os.PathLike], now: Callable[[], float | None] | None = None) -> FlintResult:
    return run_simulation(read_flint_config(paths), now=now)


def run_example(kind: str, config: dict[str, Any] | None = None, max_steps: int | None = None,
                now: Callable[[], float | None] | None = None) -> FlintResult:
    """FLINT.Cloud's `POST /point` / `POST /rothc` (kind "point" | "rothc"): `config` (the request's JSON
    body) replaces the example's run configuration, the example's libraries file is merged after it, as
    FLINT.Cloud runs `moja.cli --config <body or default> --config libs...`. Empty or None: the default.
    FLINT.Cloud's attachment is moja.cli's stdout, i.e. `result.screen`."""
    if kind not in DEFAULT_CONFIG_FILES:
        raise ConfigError(f"unknown FLINT example {kind!r} (one of {', '.join(DEFAULT_CONFIG_FILES)})")
    run_name, libs_name = DEFAULT_CONFIG_FILES[kind]
    run_doc, libs_doc = _default(kind)
    if config:
        run_doc, run_name = config, "request body"
    return run_configs([run_doc, libs_doc], sources=[run_name, libs_name], now=now, max_steps=max_steps)


def _default(kind: str) -> list[dict[str, Any]]:
    base = resources.files("flintcloud.flint") / "configs"
    return [json.loads((base / name).read_text(encoding="utf-8")) for name in DEFAULT_CONFIG_FILES[kind]]


def default_point_configs() -> list[dict[str, Any]]:
    """FLINT.Cloud's Point example: point_example.json + libs.base.simple.json (fresh copies)."""
    return _default("point")


def default_rothc_configs() -> list[dict[str, Any]]:
    """FLINT.Cloud's RothC example: point_rothc_example.json + libs.base_rothc.simple.json (fresh copies)."""
    return _default("rothc")


def default_logging_config() -> str:
    """FLINT.Cloud's logging.debug_on.conf text."""
    return (resources.files("flintcloud.flint") / "configs" / "logging.debug_on.conf").read_text(encoding="utf-8")
