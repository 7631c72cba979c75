"""`flintcloud summarize OUTPUT_DIR`: metrics, plot tables and figures of a run.

Same library call as the `summarize` stage. OUTPUT_DIR holds compiled_gcbm_output.db
and spatial/<Indicator>_<year>.tif (the `flintcloud run` / simulate stage layout).
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.errors import ReportError
from flintcloud.jsonfile import load_json
from flintcloud.outpaths import check_output
from flintcloud.params import read_params
from flintcloud.report.inventory import parse_inventory_settings
from flintcloud.report.provenance import collect_provenance
from flintcloud.report.summarize import summarize_run


@click.command("summarize")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--metrics", "metrics_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/metrics.json"), show_default=True, help="Headline figures (JSON).")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/plots"), show_default=True, help="Plot tables (CSV).")
@click.option("--figures", "figures_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/figures"), show_default=True, help="Charts and maps (PNG).")
@click.option("--tables", "tables_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/tables"), show_default=True,
              help="Every report table as CSV, and one .xlsx workbook.")
@click.option("--validation", "validation_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="validate's JSON report (flintcloud validate --report): the validation table.")
@click.option("--config", "config_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The run's GCBM configuration: reports the area disturbed at least once (omit to skip).")
@click.option("--params", "params_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("params.yaml"), show_default=True,
              help="report.inventory (GWP set, CO, HWP) and project.dir (provenance) are read from it when present.")
@click.option("--maps/--no-maps", default=True, show_default=True,
              help="Draw the Total Ecosystem C and cumulative NBP maps from OUTPUT_DIR/spatial.")
@click.option("--overwrite", is_flag=True, help="Replace existing metrics/plots/figures.")
def command(output_dir: Path, metrics_path: Path, plots_dir: Path, figures_dir: Path, tables_dir: Path,
            validation_path: Path | None, config_dir: Path | None, params_path: Path, maps: bool,
            overwrite: bool) -> None:
    """Summarize a run: metrics.json, plots/*.csv, figures/*.png, tables/*.csv + .xlsx."""
    inputs = [output_dir] + ([config_dir] if config_dir is not None else [])
    for path, what in ((metrics_path, "metrics file"), (plots_dir, "plots folder"), (figures_dir, "figures folder"),
                       (tables_dir, "tables folder")):
        check_output(path, inputs=inputs, what=what)
    existing = [str(p) for p in (metrics_path, plots_dir, figures_dir, tables_dir) if p.exists()]
    if existing and not overwrite:
        raise ReportError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    params = read_params(params_path).as_dict() if params_path.is_file() else {}
    settings = parse_inventory_settings((params.get("report") or {}).get("inventory"))
    provenance = collect_provenance(Path.cwd(), (params.get("project") or {}).get("dir"), output_dir)
    m = summarize_run(output_dir, metrics_path, plots_dir, figures_dir, maps=maps, tables_dir=tables_dir,
                      inventory=settings, config_dir=config_dir, provenance=provenance,
                      validation=None if validation_path is None else load_json(validation_path, ReportError,
                                                                                 "validation report"))
    click.echo(
        f"{m['start_year']}-{m['end_year']}: total ecosystem C {m['total_ecosystem_c_end_tc']:,.1f} tC, "
        f"cumulative NBP {m['cumulative_nbp_tc']:,.1f} tC -> {metrics_path}, {plots_dir}/, {figures_dir}/"
    )
