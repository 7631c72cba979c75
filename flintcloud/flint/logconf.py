"""FLINT's logging configuration (moja.cli --logging_config): Boost.Log settings in INI form.

`read_logging_config(path)` / `parse_logging_config(text, source)` give the sinks; `run_messages(...)`
are the info lines moja.cli logs for a run (which files, operation manager, modules loaded) and
`format_log_line` renders one with a sink's Format (%TimeStamp%, %Severity%, %Message%). With
`[Core] DisableLogging=true` nothing is logged. Sinks: Destination=Console (flintcloud writes them to
stderr, so stdout stays the CSV) and Destination=TextFile (FileName, written into the output folder).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flintcloud.errors import ConfigError

DEFAULT_FORMAT = "<%TimeStamp%> (%Severity%) - %Message%"


@dataclass(frozen=True)
class LogSink:
    name: str
    destination: str          # "Console" | "TextFile"
    file_name: str | None
    format: str


@dataclass(frozen=True)
class LoggingConfig:
    disabled: bool
    sinks: tuple[LogSink, ...]


def read_logging_config(path: str | os.PathLike) -> LoggingConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"FLINT logging configuration {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"FLINT logging configuration {str(path)!r} cannot be read: {err}") from err
    return parse_logging_config(text, str(path))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_logging_config(text: str, source: str = "logging config") -> LoggingConfig:
    parser = configparser.RawConfigParser(comment_prefixes=("#", ";"), inline_comment_prefixes=None, strict=True)
    parser.optionxform = str
    try:
        parser.read_string(text, source=source)
    except configparser.Error as err:
        raise ConfigError(f"FLINT logging configuration {source!r} is not Boost.Log INI settings: {err}") from err
    disabled = False
    if parser.has_option("Core", "DisableLogging"):
        raw = _unquote(parser.get("Core", "DisableLogging")).lower()
        if raw not in ("true", "false", "1", "0"):
            raise ConfigError(f"{source}: [Core] DisableLogging must be true or false, got {raw!r}")
        disabled = raw in ("true", "1")
    sinks = []
    for section in parser.sections():
        if not section.startswith("Sinks."):
            continue
        dest = _unquote(parser.get(section, "Destination", fallback=""))
        if dest not in ("Console", "TextFile"):
            raise ConfigError(f"{source}: [{section}] Destination must be Console or TextFile, got {dest!r}")
        file_name = _unquote(parser.get(section, "FileName", fallback="")) or None
        if dest == "TextFile" and not file_name:
            raise ConfigError(f"{source}: [{section}] a TextFile sink needs FileName")
        sinks.append(LogSink(section[len("Sinks."):], dest, file_name,
                             _unquote(parser.get(section, "Format", fallback=DEFAULT_FORMAT))))
    return LoggingConfig(disabled, tuple(sinks))


def format_log_line(fmt: str, severity: str, message: str, when: datetime | None = None) -> str:
    when = when or datetime.now()
    stamp = when.strftime("%Y-%b-%d %H:%M:%S.%f")   # Boost.Log's default TimeStamp format
    return fmt.replace("%TimeStamp%", stamp).replace("%Severity%", severity).replace("%Message%", message)


def run_messages(config_paths: list[str], logging_path: str | None, operation_manager: str,
                 modules: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """moja.cli's info lines for a run, as (severity, message)."""
    msgs = [("info", f"Config has files: {len(config_paths)}"),
            ("info", f"Using Logging Configuration: {logging_path or ''}"),
            ("info", "Using configurations: ")]
    msgs += [("info", p) for p in config_paths]
    msgs.append(("info", f"Using operation manager: {operation_manager}"))
    msgs.append(("info", "modules loaded: "))
    msgs += [("info", f"\tlibrary: {lib}, module name: {name}") for lib, name in modules]
    return msgs
