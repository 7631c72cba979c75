"""Stage `configure`: the complete GCBM configuration set for the run.

    python stages/configure.py [--params FILE] PROJECT_DIR CONFIG_DIR

PROJECT_DIR may be `params:project.dir` (dvc.yaml's way: the folder is read from the params file).

gcbm_config.cfg, localdomain.json, provider_config.json, modules_cbm.json,
modules_output.json, pools_cbm.json, spinup.json, variables.json,
internal_variables.json and logging.conf, from params.yaml (project, simulation,
outputs.indicators) and the project's layers; paths relative to CONFIG_DIR.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params, params_option, path_arg, run_stage, usage  # noqa: E402

from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config  # noqa: E402


def main(args: list[str]) -> None:
    args, params_file = params_option(args)
    usage("configure", args, ["PROJECT_DIR", "CONFIG_DIR"])
    project_dir, config_dir = path_arg(args[0], params_file), Path(args[1])
    settings = settings_from_params(load_params(params_file).data, base_dir=Path("."))
    written = write_gcbm_config(project_dir, config_dir, settings)
    print(f"configure: {len(written)} files for {settings.start_year}-{settings.end_year} -> {config_dir}/")


if __name__ == "__main__":
    run_stage("configure", main)
