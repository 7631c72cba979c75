"""`flintcloud compare BASE [REV ...]`: pipeline results of revisions side by side, as markdown + charts.

`flintcloud compare origin/main` (what the pull-request workflow runs) compares the workspace with
origin/main; `flintcloud compare main exp-a exp-b` compares each named revision (branch, tag, commit,
DVC experiment name, or `workspace`) with the first.
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import report_output
from flintcloud.report.compare import write_compare_report
from flintcloud.report.revisions import DEFAULT_METRICS, DEFAULT_PARAMS, DEFAULT_PLOTS_DIR, Sources, scenario_sources


@click.command("compare")
@click.argument("revs", nargs=-1, required=True)
@click.option("--out", "out", default="reports/compare.md", show_default=True, type=click.Path(path_type=Path),
              help="Markdown report (relative to the current directory); its figures go to the folder "
                   "of the same name without .md.")
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The git + DVC repository (the workspace is the side compared when one revision is named).")
@click.option("--base-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Read the base (the first revision) from this checkout of it (after `dvc repro` there) "
                   "instead of through DVC's cache/remote in --repo.")
@click.option("--scenario", default=None,
              help="Compare one scenario of params.yaml `scenarios:` (its metrics, plots and maps) instead of "
                   "the baseline pipeline's.")
@click.option("--metrics", default=None, help=f"Metrics JSON, repo-relative [default: {DEFAULT_METRICS}, or the "
                                               "scenario's].")
@click.option("--plots-dir", default=None, help=f"Folder of plots CSVs [default: {DEFAULT_PLOTS_DIR}, or the "
                                                 "scenario's].")
@click.option("--params", "params_file", default=DEFAULT_PARAMS, show_default=True, help="Params file.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --out file or charts folder that compare did not write.")
def command(revs: tuple[str, ...], out: Path, repo: Path, base_dir: Path | None, scenario: str | None,
            metrics: str | None, plots_dir: str | None, params_file: str, overwrite: bool) -> None:
    """Compare the workspace with REVS[0], or each of REVS[1:] with REVS[0] (read through DVC).

    A revision is a branch, tag, commit, DVC experiment name, or `workspace`.
    """
    report_output(out, overwrite=overwrite, what="compare report")
    base = scenario_sources(scenario)
    sources = Sources(params=params_file, metrics=metrics or base.metrics, plots_dir=plots_dir or base.plots_dir,
                      output_dir=base.output_dir)
    path = write_compare_report(list(revs), out=out.resolve(), repo=repo, sources=sources, base_dir=base_dir)
    click.echo(f"wrote {path}")
