"""moja.cli's logging configuration (Boost.Log settings) as flintcloud reads it."""

from __future__ import annotations

from datetime import datetime

import pytest

from flintcloud.errors import ConfigError
from flintcloud.flint import default_logging_config
from flintcloud.flint.logconf import format_log_line, parse_logging_config, read_logging_config, run_messages


def test_flint_clouds_logging_config():
    cfg = parse_logging_config(default_logging_config(), "logging.debug_on.conf")
    assert not cfg.disabled
    assert [(s.name, s.destination, s.file_name) for s in cfg.sinks] == [
        ("console", "Console", None), ("file", "TextFile", "Moja_Debug.log")]
    assert cfg.sinks[0].format == "<%TimeStamp%> (%Severity%) - %Message%"
    line = format_log_line(cfg.sinks[0].format, "info", "Config has files: 2", datetime(2022, 6, 29, 8, 28, 1, 5))
    assert line == "<2022-Jun-29 08:28:01.000005> (info) - Config has files: 2"


def test_disabled_and_bad_settings():
    assert parse_logging_config("[Core]\nDisableLogging=true\n").disabled
    with pytest.raises(ConfigError, match=r"x.conf: \[Sinks.a\] Destination must be Console or TextFile"):
        parse_logging_config("[Sinks.a]\nDestination=Syslog\n", "x.conf")
    with pytest.raises(ConfigError, match="TextFile sink needs FileName"):
        parse_logging_config("[Sinks.a]\nDestination=TextFile\n", "x.conf")
    with pytest.raises(ConfigError, match="not Boost.Log INI"):
        parse_logging_config("Destination=Console\n", "x.conf")


def test_read_names_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.conf' not found"):
        read_logging_config(tmp_path / "nope.conf")


def test_run_messages_are_moja_clis():
    msgs = run_messages(["a.json", "b.json"], "l.conf", "Simple", [("internal.flint", "CalendarSequencer")])
    assert msgs[0] == ("info", "Config has files: 2")
    assert ("info", "Using operation manager: Simple") in msgs
    assert msgs[-1] == ("info", "\tlibrary: internal.flint, module name: CalendarSequencer")
