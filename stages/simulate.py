"""Stage `simulate`: run the engine chosen in params.yaml on the configuration set.

    python stages/simulate.py CONFIG_DIR OUTPUT_DIR

OUTPUT_DIR gets gcbm_output.db (GCBM's raw star schema), compiled_gcbm_output.db
(GCBM.CompileResults' v_* tables), spatial/<Indicator>_<year>.tif and run_summary.json,
all at once when the run succeeded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params, params_option, run_stage, usage  # noqa: E402

from flintcloud.run import run_project  # noqa: E402


def main(args: list[str]) -> None:
    args, params_file = params_option(args)
    usage("simulate", args, ["CONFIG_DIR", "OUTPUT_DIR"])
    config_dir, out_dir = (Path(a) for a in args)
    params = load_params(params_file)
    engine = params.get("simulation.engine")
    map_years = params.get("outputs.years")  # None: every simulated year
    image = params.get("simulation.gcbm_container.image")  # gcbm-container only
    # plausible temperatures, as validate checked them (validate declares `simulation`, so a change reruns it)
    temperature_range = params.get("simulation.temperature_range")
    # where libcbm runs: always params.yaml's (a scenario's params file has none); outputs do not depend
    # on it (not a declared param)
    executor = load_params().data.get("executor")
    summary = run_project(
        config_dir, out_dir, engine=engine, map_years=map_years, overwrite=True, image=image, executor=executor,
        temperature_range=temperature_range,
    )
    print(f"simulate: {summary.line()} -> {out_dir}/")


if __name__ == "__main__":
    run_stage("simulate", main)
