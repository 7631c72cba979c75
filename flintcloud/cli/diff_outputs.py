"""`flintcloud diff-outputs A.db B.db`: the largest differences between two raw GCBM output dbs."""

from __future__ import annotations

import click

from flintcloud.outputs.diff import diff_outputs, format_diff


@click.command("diff-outputs")
@click.argument("a_db", type=click.Path(dir_okay=False))
@click.argument("b_db", type=click.Path(dir_okay=False))
@click.option("--rtol", type=float, default=1e-6, show_default=True, help="Relative tolerance.")
@click.option("--atol", type=float, default=1e-9, show_default=True, help="Absolute tolerance (tC or ha).")
@click.option("--top", type=int, default=20, show_default=True, help="How many differences to print.")
@click.pass_context
def command(ctx: click.Context, a_db: str, b_db: str, rtol: float, atol: float, top: int) -> None:
    """Compare pools, fluxes, disturbed and age-class areas per year; exit 1 above the tolerance."""
    diff = diff_outputs(a_db, b_db, rtol=rtol, atol=atol)
    click.echo(format_diff(diff, top=top))
    if diff["exceeds"].any():
        ctx.exit(1)
