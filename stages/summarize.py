"""Stage `summarize`: metrics.json, plot tables, figures and the report tables from the run's output.

    python stages/summarize.py [--params FILE] OUTPUT_DIR CONFIG_DIR VALIDATION_JSON METRICS_JSON PLOTS_DIR FIGURES_DIR
        TABLES_DIR

CONFIG_DIR (the run's GCBM configuration) gives the area disturbed at least once; params.yaml
`report.inventory` the GWP set, CO accounting and HWP pool; `project.dir` the input project
whose DVC hash goes into the provenance; VALIDATION_JSON (the validate stage's report) the validation
table, which report.md shows too.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_params, params_option, run_stage, usage  # noqa: E402

from flintcloud.errors import ReportError  # noqa: E402
from flintcloud.jsonfile import load_json  # noqa: E402
from flintcloud.report.inventory import parse_inventory_settings  # noqa: E402
from flintcloud.report.provenance import collect_provenance  # noqa: E402
from flintcloud.report.summarize import summarize_run  # noqa: E402


def main(args: list[str]) -> None:
    args, params_file = params_option(args)  # a scenario's params file: its project, for the provenance
    usage("summarize", args, ["OUTPUT_DIR", "CONFIG_DIR", "VALIDATION_JSON", "METRICS_JSON", "PLOTS_DIR", "FIGURES_DIR",
                              "TABLES_DIR"])
    output_dir, config_dir, validation, metrics, plots, figures, tables = (Path(a) for a in args)
    params = load_params(params_file)
    # the inventory settings are params.yaml's (a scenario's params file has no report section)
    settings = parse_inventory_settings((load_params().get("report") or {}).get("inventory"))
    provenance = collect_provenance(Path.cwd(), (params.get("project") or {}).get("dir"), output_dir)
    m = summarize_run(output_dir, metrics, plots, figures, tables_dir=tables, inventory=settings,
                      config_dir=config_dir, provenance=provenance,
                      validation=load_json(validation, ReportError, "validation report"))
    print(
        f"summarize: {m['start_year']}-{m['end_year']}, total ecosystem C {m['total_ecosystem_c_end_tc']:.1f} tC, "
        f"cumulative NBP {m['cumulative_nbp_tc']:.1f} tC, net emissions {m['net_emissions_tco2e']:.1f} tCO2e "
        f"({m['gwp_set']}) -> {metrics}, {plots}/, {figures}/, {tables}/"
    )


if __name__ == "__main__":
    run_stage("summarize", main)
