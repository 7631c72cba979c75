"""`flintcloud report`: reports/report.md from summarize's and validate's outputs.

Same library call as the `report` stage; the report shows the params file given.
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.errors import ReportError
from flintcloud.outpaths import check_output
from flintcloud.params import read_params
from flintcloud.report.markdown import write_report


@click.command("report")
@click.option("-o", "--output", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/report.md"), show_default=True, help="The Markdown report to write.")
@click.option("--metrics", "metrics_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/metrics.json"), show_default=True)
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/plots"), show_default=True)
@click.option("--figures", "figures_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/figures"), show_default=True, help="Linked relative to the report.")
@click.option("--tables", "tables_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/tables"), show_default=True, help="summarize's report tables; skipped when absent.")
@click.option("--validation", "validation_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/validation.json"), show_default=True, help="Skipped when absent.")
@click.option("--params", "params_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("params.yaml"), show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
def command(report_path: Path, metrics_path: Path, plots_dir: Path, figures_dir: Path, tables_dir: Path,
            validation_path: Path, params_path: Path, overwrite: bool) -> None:
    """Write the run's Markdown report (fit for a pull-request comment)."""
    check_output(report_path, inputs=[metrics_path, plots_dir, figures_dir, validation_path, params_path],
                 what="report")
    if report_path.exists() and not overwrite:
        raise ReportError(f"{str(report_path)!r} already exists; pass --overwrite to replace it")
    params = read_params(params_path).as_dict()
    text = write_report(report_path, params=params, metrics_path=metrics_path, plots_dir=plots_dir,
                        figures_dir=figures_dir, validation_path=validation_path,
                        tables_dir=tables_dir if tables_dir.is_dir() else None)
    click.echo(f"{report_path}: {len(text.splitlines())} lines")
