"""`flintcloud compile RAW_DB --out COMPILED_DB`: GCBM.CompileResults' v_* tables from a raw output db."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import check_output
from flintcloud.errors import OutputError
from flintcloud.outputs.compile import compile_results


@click.command("compile")
@click.argument("raw_db", type=click.Path(dir_okay=False))
@click.option("--out", "compiled_db", required=True, type=click.Path(dir_okay=False), help="Compiled db to write.")
@click.option(
    "--indicators",
    type=click.Path(dir_okay=False),
    default=None,
    help="compileresults.json-style indicator definitions (default: GCBM.CompileResults' own).",
)
@click.option("--overwrite", is_flag=True, help="Replace COMPILED_DB if it exists.")
def command(raw_db: str, compiled_db: str, indicators: str | None, overwrite: bool) -> None:
    """Compile a raw gcbm_output.db (ours or real GCBM's) into compiled_gcbm_output.db."""
    check_output(compiled_db, inputs=[raw_db, indicators], what="compiled database")
    if Path(compiled_db).exists() and not overwrite:
        raise OutputError(f"{compiled_db!r} exists; pass --overwrite to replace it")
    path = compile_results(raw_db, compiled_db, indicators)
    click.echo(f"wrote {path}")
