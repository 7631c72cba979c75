"""Stage `report`: reports/report.md from the run's metrics, plots, figures, report tables and validation.

    python stages/report.py METRICS_JSON PLOTS_DIR FIGURES_DIR TABLES_DIR VALIDATION_JSON REPORT_MD
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params, run_stage, usage  # noqa: E402

from flintcloud.report.markdown import write_report  # noqa: E402


def main(args: list[str]) -> None:
    usage("report", args, ["METRICS_JSON", "PLOTS_DIR", "FIGURES_DIR", "TABLES_DIR", "VALIDATION_JSON", "REPORT_MD"])
    metrics, plots, figures, tables, validation, report = (Path(a) for a in args)
    text = write_report(
        report, params=load_params().as_dict(), metrics_path=metrics, plots_dir=plots, figures_dir=figures,
        validation_path=validation, tables_dir=tables,
    )
    print(f"report: {report} ({len(text.splitlines())} lines)")


if __name__ == "__main__":
    run_stage("report", main)
