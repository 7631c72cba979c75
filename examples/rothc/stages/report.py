"""Stage `report`: pools over time (CSV + chart) and metrics (SOC at the end, change per year).

    python stages/report.py RUN_DIR POOLS_CSV METRICS_JSON CHART_PNG
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _path  # noqa: E402,F401
from common import load_params_unchecked as load_params, run_stage, section, usage  # noqa: E402  (the RothC site's params.yaml, checked by flintcloud.flint.site)

from flintcloud.flint.site import read_run_records, write_site_report  # noqa: E402


def main(args: list[str]) -> None:
    usage("report", args, ["RUN_DIR", "POOLS_CSV", "METRICS_JSON", "CHART_PNG"])
    records, pools = read_run_records(args[0])
    name = str(section(load_params(), "site").get("name", "site"))
    m = write_site_report(records, pools, name, *args[1:])
    print(f"report: SOC {m['rothc_soc_start_tc_ha']:.2f} -> {m['rothc_soc_end_tc_ha']:.2f} t C/ha "
          f"({m['rothc_soc_change_tc_ha_per_yr']:+.3f} t C/ha/yr) -> {args[2]}")


if __name__ == "__main__":
    run_stage("report", main)
