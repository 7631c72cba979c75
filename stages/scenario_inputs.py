"""Stage `scenario_inputs@NAME`: one scenario's GCBM project and params, built from the base project.

    python stages/scenario_inputs.py NAME BASE_PROJECT_DIR OUT_DIR

BASE_PROJECT_DIR may be `params:project.dir` (dvc.yaml's way: the folder is read from params.yaml).

OUT_DIR gets project/ (the base project with the scenario's input edits), params.yaml (what the
scenario's validate/configure/simulate stages read with --params) and scenario.json (what changed).
Every scenario in params.yaml is checked first, so one bad scenario stops them all.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PARAMS_FILE, path_arg, run_stage, usage  # noqa: E402

from flintcloud.scenarios.build import build_scenario, read_params_file  # noqa: E402


def main(args: list[str]) -> None:
    usage("scenario_inputs", args, ["NAME", "BASE_PROJECT_DIR", "OUT_DIR"])
    name, base, out = args[0], path_arg(args[1]), args[2]
    # read_params_file refuses a key given twice (two scenarios with one name), which YAML would hide
    result = build_scenario(read_params_file(PARAMS_FILE), name, base, Path(out), root=Path("."))
    print(f"scenario_inputs: {name}: {len(result.changes)} layer edit(s) -> {result.project_dir}/, {result.params_path}")


if __name__ == "__main__":
    run_stage("scenario_inputs", main)
