"""`flintcloud configure PROJECT OUT_CONFIG_DIR`: write the GCBM configuration set.

Same library call as the `configure` stage: settings come from params.yaml
(`simulation`, `project.layers`, `outputs.indicators`), layers from the
project folder. The project is validated first (every problem listed; nothing
written when there is one). The folder is replaced atomically; an existing
one is only replaced with --overwrite.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from flintcloud.errors import ConfigError, ProjectError
from flintcloud.outpaths import check_output
from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config
from flintcloud.params import read_params
from flintcloud.validate import find_repo_root, path_escapes, validate_project


@click.command("configure")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_config_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--params", "params_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("params.yaml"), show_default=True, help="params.yaml with the simulation settings.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where GCBM writes its outputs (default: OUT_CONFIG_DIR/../output); written relative.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Repository PROJECT must stay inside (default: nearest folder with .git or dvc.yaml).")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT_CONFIG_DIR.")
@click.option("--skip-validation", is_flag=True, help="Do not validate the project first (the validate stage did).")
def command(project: Path, out_config_dir: Path, params_path: Path, output_dir: Path | None, root: Path | None,
            overwrite: bool, skip_validation: bool) -> None:
    """Write gcbm_config.cfg and its JSON files for PROJECT into OUT_CONFIG_DIR."""
    root = root if root is not None else find_repo_root(Path(os.getcwd()))
    if root is not None and path_escapes(project, root):
        raise ProjectError(
            f"project {str(project)!r} resolves to {os.path.realpath(project)!r}, outside the repository "
            f"{str(root)!r}; refusing it (keep projects inside the repository, e.g. `dvc add data/projects/<name>`, "
            "or pass --root)"
        )
    check_output(out_config_dir, inputs=[project, params_path], what="configuration folder")
    if out_config_dir.exists() and not overwrite:
        raise ConfigError(f"{str(out_config_dir)!r} exists; pass --overwrite to replace it")
    params = read_params(params_path).data
    settings = settings_from_params(params, base_dir=params_path.parent)
    if output_dir is not None:
        settings = replace(settings, output_dir=output_dir)
    if not skip_validation:
        report = validate_project(project, settings, root=root)
        for w in report.warnings:
            click.echo(f"warning: {w.message}", err=True)
        report.raise_for_errors()
    written = write_gcbm_config(project, out_config_dir, settings)
    click.echo(f"wrote {len(written)} files to {out_config_dir}")
