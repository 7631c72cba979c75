"""`flintcloud flint run --config A.json --config B.json [--logging_config L] [--out DIR]`.

The FLINT example (Point, RothC) as moja.cli runs it, without FLINT's C++: the same arguments; the
stock CSV (OutputerStream with output_to_screen) is printed to stdout, or with --out every file FLINT
writes (the Stock and Flux CSVs under their output_filename, and the logging config's TextFile log)
goes into DIR. Library call: flintcloud.flint.run_config_files.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePath

import click

from flintcloud.atomic import atomic_dir
from flintcloud.errors import ConfigError, OutputError
from flintcloud.flint import read_flint_config
from flintcloud.flint.logconf import format_log_line, read_logging_config, run_messages
from flintcloud.flint.simulation import run_simulation
from flintcloud.outpaths import check_output


@click.group("flint")
def command() -> None:
    """FLINT example models (Point, RothC) without FLINT's C++."""


def _safe_name(name: str, what: str) -> str:
    p = PurePath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ConfigError(f"{what} {name!r} must be a relative file name inside --out")
    return str(p)


@command.command("run")
@click.option("--config", "configs", multiple=True, required=True, type=click.Path(path_type=Path),
              help="FLINT run configuration (JSON); repeat it: later files add what earlier ones lack.")
@click.option("--logging_config", "--logging-config", "logging_config", type=click.Path(path_type=Path),
              default=None, help="FLINT's Boost.Log settings file (e.g. logging.debug_on.conf).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Write FLINT's output files here instead of printing the stock CSV.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
def run_command(configs: tuple[Path, ...], logging_config: Path | None, out_dir: Path | None,
                overwrite: bool) -> None:
    """Run a FLINT point simulation (moja.cli --config ... --logging_config ...)."""
    if out_dir is not None:  # before any work: --out replaced wholesale must never be or hold an input
        check_output(out_dir, inputs=[*configs, logging_config], what="FLINT output folder")
    config = read_flint_config(list(configs))
    logging = read_logging_config(logging_config) if logging_config else None
    if out_dir is not None and out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{str(out_dir)!r} is not empty; pass --overwrite to replace it")
    result = run_simulation(config)
    log_lines: dict[str, list[str]] = {}
    if logging is not None and not logging.disabled:
        msgs = run_messages([str(c) for c in configs], str(logging_config), config.operation_manager.name,
                            [(m.library, m.name) for m in config.modules])
        for sink in logging.sinks:
            lines = [format_log_line(sink.format, sev, msg) for sev, msg in msgs]
            if sink.destination == "Console":
                click.echo("\n".join(lines), err=True)
            elif out_dir is not None:
                log_lines.setdefault(_safe_name(sink.file_name, "logging FileName"), []).extend(lines)
    if out_dir is None:
        sys.stdout.write(result.screen)
        return
    with atomic_dir(out_dir) as tmp:
        for name, text in result.files.items():
            target = tmp / _safe_name(name, "output_filename")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for name, lines in log_lines.items():
            (tmp / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(f"{out_dir}: {len(result.steps) - 1} steps, {len(result.pool_names)} pools -> "
               f"{', '.join(sorted([*result.files, *log_lines]))}", err=True)
