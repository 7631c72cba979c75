"""Stage `summarize`: metrics.json, plot tables and figures from the run's output.

    python stages/summarize.py OUTPUT_DIR METRICS_JSON PLOTS_DIR FIGURES_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_stage, usage  # noqa: E402

from flintcloud.report.summarize import summarize_run  # noqa: E402


def main(args: list[str]) -> None:
    usage("summarize", args, ["OUTPUT_DIR", "METRICS_JSON", "PLOTS_DIR", "FIGURES_DIR"])
    output_dir, metrics, plots, figures = (Path(a) for a in args)
    m = summarize_run(output_dir, metrics, plots, figures)
    print(
        f"summarize: {m['start_year']}-{m['end_year']}, total ecosystem C {m['total_ecosystem_c_end_tc']:.1f} tC, "
        f"cumulative NBP {m['cumulative_nbp_tc']:.1f} tC -> {metrics}, {plots}/, {figures}/"
    )


if __name__ == "__main__":
    run_stage("summarize", main)
