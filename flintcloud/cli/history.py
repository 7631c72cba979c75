"""`flintcloud history`: metrics (and yearly series) across a branch's commits and DVC experiments,
each change attributed to params, inputs or code."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import report_output
from flintcloud.report.history import write_history_report
from flintcloud.report.revisions import DEFAULT_METRICS, DEFAULT_PARAMS, Sources, scenario_sources


@click.command("history")
@click.option("--branch", default="HEAD", show_default=True, help="Branch (or any revision) whose commits to follow.")
@click.option("--out", "out", default="reports/history.md", show_default=True, type=click.Path(path_type=Path),
              help="Markdown report (relative to the current directory); the charts go to the folder of the "
                   "same name without .md.")
@click.option("--max-commits", default=50, show_default=True, type=click.IntRange(min=1),
              help="How many of the branch's latest first-parent commits to read.")
@click.option("--metric", "metrics", multiple=True,
              help="Any key of the metrics JSON to follow (repeatable; nested keys dotted; default: the "
                   "headline figures).")
@click.option("--series", default=None,
              help="A yearly series to draw at every commit, as PLOT:COLUMN of the plots CSVs "
                   "(e.g. stock_changes:nbp, stocks:soil_carbon).")
@click.option("--scenario", default=None,
              help="Follow one scenario of params.yaml `scenarios:` (its metrics and plots) instead of the "
                   "baseline pipeline's.")
@click.option("--no-experiments", is_flag=True, help="Leave out DVC experiments (`dvc exp show`).")
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The git + DVC repository.")
@click.option("--metrics-file", default=None, help=f"Metrics JSON, repo-relative [default: {DEFAULT_METRICS}, or "
                                                    "the scenario's].")
@click.option("--params", "params_file", default=DEFAULT_PARAMS, show_default=True, help="Params file.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --out file or charts folder that history did not write.")
def command(branch: str, out: Path, max_commits: int, metrics: tuple[str, ...], series: str | None,
            scenario: str | None, no_experiments: bool, repo: Path, metrics_file: str | None,
            params_file: str, overwrite: bool) -> None:
    """How metrics moved along BRANCH, which commit moved them, and whether params, inputs or code changed."""
    report_output(out, overwrite=overwrite, what="history report")
    base = scenario_sources(scenario)
    sources = Sources(params=params_file, metrics=metrics_file or base.metrics, plots_dir=base.plots_dir,
                      output_dir=base.output_dir)
    path = write_history_report(repo=repo, branch=branch, out=out.resolve(), max_commits=max_commits,
                                metrics=list(metrics) or None, sources=sources,
                                with_experiments=not no_experiments, series=series, scenario=scenario)
    click.echo(f"wrote {path}")
