"""Stage `compare_scenarios`: every scenario of params.yaml against the baseline.

    python stages/compare_scenarios.py BASELINE_OUTPUT_DIR SCENARIOS_DIR REPORT_MD OUT_DIR

Reads the baseline's run folder and SCENARIOS_DIR/<name>/{output, scenario.json} for each
alternative; writes REPORT_MD and OUT_DIR/{metrics.json, plots/*.csv, figures/*.png}.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PARAMS_FILE, run_stage, usage  # noqa: E402

from flintcloud.report.scenarios import read_scenario_result, write_scenario_comparison  # noqa: E402
from flintcloud.scenarios.build import read_params_file  # noqa: E402
from flintcloud.scenarios.spec import parse_or_raise  # noqa: E402


def main(args: list[str]) -> None:
    usage("compare_scenarios", args, ["BASELINE_OUTPUT_DIR", "SCENARIOS_DIR", "REPORT_MD", "OUT_DIR"])
    baseline_dir, scenarios_dir, report, out_dir = (Path(a) for a in args)
    scenarios = parse_or_raise(read_params_file(PARAMS_FILE))
    results = [read_scenario_result(scenarios.baseline.name, scenarios.baseline.title, baseline_dir)]
    for s in scenarios.alternatives:
        results.append(read_scenario_result(s.name, s.title, scenarios_dir / s.name / "output",
                                            scenarios_dir / s.name / "scenario.json"))
    overrides = {s.name: s.params for s in scenarios.alternatives}
    metrics = write_scenario_comparison(results, report, out_dir, overrides)
    diffs = ", ".join(f"{n} {m['minus_baseline']['cumulative_nbp_tc']:+,.1f} tC" for n, m in metrics.items()
                      if "minus_baseline" in m)
    print(f"compare_scenarios: {len(results)} scenario(s); cumulative NBP minus baseline: {diffs or '-'} -> {report}")


if __name__ == "__main__":
    run_stage("compare_scenarios", main)
