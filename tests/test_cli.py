"""The CLI group: every subcommand module loads and is listed; `run` does not import the others."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

from click.testing import CliRunner

from flintcloud.cli import SUBCOMMANDS, main


def test_every_listed_subcommand_imports_under_its_name():
    for name, module in SUBCOMMANDS.items():
        command = importlib.import_module(f"flintcloud.cli.{module}").command
        assert command.name == name, module
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].strip().splitlines()]
    assert listed == sorted(SUBCOMMANDS)


def test_run_help_imports_only_what_run_needs():
    # a fresh interpreter: which flintcloud modules does `flintcloud run --help` load?
    code = (
        "import sys\n"
        "from flintcloud.cli import main\n"
        "try:\n"
        "    main.main(['run', '--help'], standalone_mode=False)\n"
        "finally:\n"
        "    print(sorted(m for m in sys.modules if m.startswith('flintcloud')), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "CONFIG_DIR" in done.stdout and "--timings" in done.stdout
    loaded = ast.literal_eval(done.stderr.strip().splitlines()[-1])
    assert "flintcloud.cli.run" in loaded
    for other in ("flintcloud.validate", "flintcloud.report", "flintcloud.remote", "flintcloud.cli.validate",
                  "flintcloud.demo", "flintcloud.inputdb.builder"):
        assert other not in loaded, other


def test_unknown_subcommand_is_a_usage_error():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and "No such command 'no-such-command'" in result.output


def test_the_entry_point_stays_callable_after_the_run_command_loaded(tmp_path, monkeypatch, capsys):
    # importing the `run` subcommand's module (flintcloud.cli.run) must not replace the entry point cli.run()
    import pytest

    from flintcloud import cli

    monkeypatch.setattr("sys.argv", ["flintcloud", "run", "--help"])
    cli.run()  # (help: click returns without exiting in non-standalone mode)
    assert "CONFIG_DIR" in capsys.readouterr().out
    assert callable(cli.run) and cli.run.__module__ == "flintcloud.cli"
    monkeypatch.setattr("sys.argv", ["flintcloud", "run", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as done:
        cli.run()
    assert done.value.code == 2
