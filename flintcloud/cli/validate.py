"""`flintcloud validate TARGET`: every problem of a GCBM project in one run.

TARGET is a GCBM configuration folder (holding gcbm_config.cfg) or a project
folder (layers/tiled + input_database; its years and layer roles come from
--params). Same library call as the `validate` stage. Writes the JSON report
(atomically) whether or not the project is valid, prints warnings, and exits
1 listing every problem when there is any.
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.params import load_params_file
from flintcloud.validate import validate_project, write_report


def load_params(path: Path | None):
    """The params file as parsed YAML (None without --params); validate lists its problems itself."""
    return None if path is None else load_params_file(path)


@click.command("validate")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report here (e.g. reports/validation.json).")
@click.option("--params", "params_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="params.yaml: checked too, and gives a project folder its years and layer roles.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Repository the inputs must stay inside (default: nearest folder with .git or dvc.yaml).")
def command(target: Path, report_path: Path | None, params_path: Path | None, root: Path | None) -> None:
    """Check a GCBM config or project folder; exit 1 listing every problem."""
    report = validate_project(target, params=load_params(params_path), root=root)
    if report_path is not None:
        write_report(report, report_path)
    for w in report.warnings:
        click.echo(f"warning: {w.message}", err=True)
    summary = report.summary
    if report.ok:
        click.echo(
            f"{target}: valid ({summary.get('layers_checked', 0)} layers, "
            f"{summary.get('simulated_pixels', 0)} simulated pixels, {len(report.warnings)} warning(s))"
        )
        return
    report.raise_for_errors()
