"""`flintcloud compare BASE_REV`: this branch's results vs another revision's, as markdown + charts.

This is the exact command the pull-request workflow runs (`flintcloud compare origin/main`).
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import report_output
from flintcloud.report.compare import DEFAULT_METRICS, DEFAULT_PARAMS, DEFAULT_PLOTS_DIR, Sources, write_compare_report


@click.command("compare")
@click.argument("base_rev")
@click.option("--out", "out", default="reports/compare.md", show_default=True, type=click.Path(path_type=Path),
              help="Markdown report (relative to the current directory); its figures go to the folder "
                   "of the same name without .md.")
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The git + DVC repository (the workspace is the branch side).")
@click.option("--base-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Read the base from this checkout of BASE_REV (after `dvc repro` there) instead of "
                   "through DVC's cache/remote in --repo.")
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Metrics JSON, repo-relative.")
@click.option("--plots-dir", default=DEFAULT_PLOTS_DIR, show_default=True, help="Folder of plots CSVs.")
@click.option("--params", "params_file", default=DEFAULT_PARAMS, show_default=True, help="Params file.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --out file or charts folder that compare did not write.")
def command(base_rev: str, out: Path, repo: Path, base_dir: Path | None, metrics: str, plots_dir: str,
            params_file: str, overwrite: bool) -> None:
    """Compare the workspace's pipeline outputs with BASE_REV's (read through DVC)."""
    report_output(out, overwrite=overwrite, what="compare report")
    path = write_compare_report(base_rev, out=out.resolve(), repo=repo,
                                sources=Sources(params=params_file, metrics=metrics, plots_dir=plots_dir),
                                base_dir=base_dir)
    click.echo(f"wrote {path}")
