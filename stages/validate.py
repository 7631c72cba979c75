"""Stage `validate`: every problem of the GCBM project params.yaml points at, in one run.

    python stages/validate.py [--params FILE] PROJECT_DIR VALIDATION_JSON

PROJECT_DIR may be `params:project.dir` (dvc.yaml's way: the folder is read from the params file).

Also checks params.yaml's `scenarios:` section against the project (every scenario, each problem
naming the scenario and the key), so a bad scenario stops `dvc repro` before the baseline runs.
Writes the JSON report whether or not the project is valid (read it to fix the inputs),
then fails listing every problem, so DVC stops before configure.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params_unchecked, params_option, path_arg, run_stage, usage  # noqa: E402

from flintcloud.validate import validate_project, write_report  # noqa: E402


def main(args: list[str]) -> None:
    args, params_file = params_option(args)
    usage("validate", args, ["PROJECT_DIR", "VALIDATION_JSON"])
    project_dir, out = path_arg(args[0], params_file), Path(args[1])
    # root=".": inputs must stay inside this repository; relative, so the report is the
    # same in every clone (and in `dvc exp run --temp`).
    # scenarios=True: params.yaml's scenarios are checked here, before anything runs (a scenario's own
    # params file has no scenarios section).
    report = validate_project(project_dir, params=load_params_unchecked(params_file), root=Path("."), scenarios=True)
    write_report(report, out)
    for w in report.warnings:
        print(f"validate: warning: {w.message}", file=sys.stderr)
    report.raise_for_errors()
    print(f"validate: {project_dir} is valid ({len(report.warnings)} warning(s)) -> {out}")


if __name__ == "__main__":
    run_stage("validate", main)
