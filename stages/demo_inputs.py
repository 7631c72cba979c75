"""Stage `demo_inputs`: the built-in demo GCBM project, deterministically from a seed.

    python stages/demo_inputs.py GROWTH_CURVES_CSV PROJECT_DIR

PROJECT_DIR gets layers/tiled/*.tif + sidecars + study_area.json and
input_database/gcbm_input.db (libcbm's CBM-CFS3 defaults + the growth curves).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params, run_stage, usage  # noqa: E402

from flintcloud.demo.project import generate_demo_project  # noqa: E402


def main(args: list[str]) -> None:
    usage("demo_inputs", args, ["GROWTH_CURVES_CSV", "PROJECT_DIR"])
    curves, out_dir = (Path(a) for a in args)
    params = load_params()
    seed, size = params.get("project.demo.seed"), params.get("project.demo.size")
    generate_demo_project(
        out_dir,
        seed=int(seed),
        size=size,
        start_year=int(params.get("project.demo.event_start_year")),
        end_year=int(params.get("project.demo.event_end_year")),
        growth_curves=curves,
        overwrite=True,
    )
    print(f"demo_inputs: seed {seed}, size {size} -> {out_dir}/")


if __name__ == "__main__":
    run_stage("demo_inputs", main)
