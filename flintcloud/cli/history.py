"""`flintcloud history`: the headline metrics across a branch's commits and DVC experiments."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import report_output
from flintcloud.report.compare import DEFAULT_METRICS, DEFAULT_PARAMS, Sources
from flintcloud.report.history import write_history_report


@click.command("history")
@click.option("--branch", default="HEAD", show_default=True, help="Branch (or any revision) whose commits to follow.")
@click.option("--out", "out", default="reports/history.md", show_default=True, type=click.Path(path_type=Path),
              help="Markdown report (relative to the current directory); the chart goes to the folder of the "
                   "same name without .md.")
@click.option("--max-commits", default=50, show_default=True, type=click.IntRange(min=1),
              help="How many of the branch's latest first-parent commits to read.")
@click.option("--metric", "metrics", multiple=True,
              help="Metric key in metrics.json to follow (repeatable; default: the headline figures).")
@click.option("--no-experiments", is_flag=True, help="Leave out DVC experiments (`dvc exp show`).")
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The git + DVC repository.")
@click.option("--metrics-file", default=DEFAULT_METRICS, show_default=True, help="Metrics JSON, repo-relative.")
@click.option("--params", "params_file", default=DEFAULT_PARAMS, show_default=True, help="Params file.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --out file or charts folder that history did not write.")
def command(branch: str, out: Path, max_commits: int, metrics: tuple[str, ...], no_experiments: bool, repo: Path,
            metrics_file: str, params_file: str, overwrite: bool) -> None:
    """How the headline metrics moved along BRANCH, and which commit moved them."""
    report_output(out, overwrite=overwrite, what="history report")
    path = write_history_report(repo=repo, branch=branch, out=out.resolve(), max_commits=max_commits,
                                metrics=list(metrics) or None,
                                sources=Sources(params=params_file, metrics=metrics_file),
                                with_experiments=not no_experiments)
    click.echo(f"wrote {path}")
