"""reports/report.md: a readable account of one run, fit to be posted as it is in a
pull-request comment (GitHub-flavoured Markdown, image links relative to the report).

`build_report` is pure (dicts and DataFrames in, text out); `write_report` reads the
summarize/validate outputs and writes the file atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from flintcloud.atomic import atomic_file
from flintcloud.errors import ReportError
from flintcloud.jsonfile import load_json
from flintcloud.mdtext import code_fence, code_span, plain_or_escaped, relative_link
from flintcloud.report import inventory_markdown
from flintcloud.report.summarize import METRIC_UNITS
from flintcloud.report.tables import validation_facts, validation_passed, validation_problems

# Headline rows: metrics.json key -> label ({end}/{start} filled from the metrics).
HEADLINE = {
    "total_ecosystem_c_end_tc": "Total ecosystem carbon, end of {end}",
    "total_ecosystem_c_end_tc_per_ha": "Total ecosystem carbon density, end of {end}",
    "total_biomass_c_end_tc": "Total biomass carbon, end of {end}",
    "dead_organic_matter_c_end_tc": "Dead organic matter carbon (deadwood + litter), end of {end}",
    "soil_c_end_tc": "Soil carbon, end of {end}",
    "cumulative_nbp_tc": "Cumulative NBP, {start}-{end} (net biome production; > 0 = sink)",
    "delta_total_ecosystem_tc": "Change in total ecosystem carbon since the start of {start}",
    "cumulative_nep_tc": "Cumulative NEP, {start}-{end}",
    "net_emissions_tco2e": "Net emissions (+) / removals (-), {start}-{end} (UNFCCC sign; with HWP when enabled)",
    "net_emissions_forest_tco2e": "Net emissions (+) / removals (-) of the land, {start}-{end} (harvest = instant oxidation)",
    "gross_emissions_tco2e": "Gross emissions (CO2 + CH4), {start}-{end}",
    "co2_emissions_t": "CO2 emitted, {start}-{end} (decay, disturbance, harvested wood)",
    "ch4_emissions_t": "CH4 emitted, {start}-{end}",
    "co_emissions_t": "CO emitted, {start}-{end}",
    "hwp_stock_end_tc": "Harvested wood products stock, end of {end}",
    "hwp_net_emissions_tco2e": "Harvested wood products net emissions (+) / removals (-), {start}-{end}",
    "mean_npp_tc_per_yr": "Mean NPP",
    "mean_npp_tc_per_ha_yr": "Mean NPP per hectare",
    "total_disturbance_emissions_tc": "Disturbance emissions (CO2 + CH4 + CO as C), {start}-{end}",
    "total_to_products_tc": "Carbon removed to forest products (harvest), {start}-{end}",
    "biomass_to_dom_disturbance_tc": "Carbon moved from biomass to dead organic matter by disturbances, {start}-{end}",
    "area_disturbed_ha": "Area disturbed, {start}-{end} (sum of events: a stand disturbed twice counts twice)",
    "area_disturbed_once_ha": "Area disturbed at least once, {start}-{end}",
    "area_ha": "Simulated forest area, {end}",
}
# Figure file stem -> caption, in report order.
CHARTS = {
    "stocks": "Carbon stocks by year (tC); the dotted line marks the state after spinup",
    "stock_changes": "Stock changes by year (tC/yr): NPP, Rh, NEP, NBP; bars: disturbance losses (NEP - NBP)",
    "disturbance_emissions": "Carbon emitted, removed to products and moved from biomass to dead organic matter, "
                             "by disturbance type, over the run (tC); area disturbed as the sum of events and at "
                             "least once (ha)",
    "age_classes": "Age-class distribution at the end of the first and of the last year (ha)",
    "net_emissions": "Net emissions (+) and removals (-) by year, UNFCCC sign convention (tCO2e)",
}
MAPS = {
    "map_total_ecosystem_c": "Total ecosystem carbon at the end year (tC/ha)",
    "map_cumulative_nbp": "Cumulative NBP over the run (tC/ha; blue = carbon gained, red = lost)",
}
INDICATOR_LABELS = {"npp": "NPP", "rh": "Rh", "nep": "NEP", "nbp": "NBP"}
UNITS_NOTE = (
    "Units: tC = tonnes of carbon (not CO2; multiply by 44/12 for CO2); tC/yr per simulated "
    "year; ha = hectares; maps in tC per hectare of pixel. Stocks are at the end of each year; "
    "the row before the first year is the state after spinup."
)


def _fmt(value, decimals: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10000 else f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.{decimals}f}"
    return str(value)


def md_table(df: pd.DataFrame, decimals: int, right: tuple[str, ...] = ()) -> str:
    """A GitHub Markdown table; numbers (and `right` columns) right-aligned, numbers
    formatted with `decimals`."""
    if df.empty:
        return "_none_\n"
    head = "| " + " | ".join(plain_or_escaped(c) for c in df.columns) + " |"
    align = "|" + "|".join(
        "---:" if c in right or pd.api.types.is_numeric_dtype(df[c]) else ":---" for c in df.columns
    ) + "|"
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            if hasattr(v, "item"):
                v = v.item()
            cells.append(plain_or_escaped(v) if isinstance(v, str) else _fmt(v, decimals).replace("|", "\\|"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, align, *rows]) + "\n"


def headline_table(metrics: dict, decimals: int) -> pd.DataFrame:
    rows = []
    ctx = {"start": metrics.get("start_year"), "end": metrics.get("end_year")}
    for key, label in HEADLINE.items():
        if key not in metrics:
            continue
        unit = METRIC_UNITS.get(key, "")
        d = decimals if not unit.endswith("/ha") and "per_ha" not in key else max(decimals, 2)
        rows.append({"Figure": label.format(**ctx), "Value": _fmt(metrics[key], d), "Unit": unit})
    return pd.DataFrame(rows, columns=["Figure", "Value", "Unit"])


def validation_section(validation: dict | None) -> str:
    """Summarise validate's JSON (flintcloud.validate.ValidationReport.to_dict(): valid,
    errors/warnings as {check, message, ...}, summary {...}): status, facts, every
    problem and warning."""
    if validation is None:
        return "_No validation result was found._\n"
    if not isinstance(validation, dict):
        text = json.dumps(validation, indent=2)[:2000]
        return f"{code_fence(text)}\n{text}\n{code_fence(text)}\n"
    problems, warnings = validation_problems(validation)
    lines = [f"**{'Passed' if validation_passed(validation) else 'Failed'}**"
             + (f" - {len(problems)} problem(s)" if problems else "")
             + (f", {len(warnings)} warning(s)" if warnings else "") + "."]
    facts = validation_facts(validation)  # the rows of tables/validation.csv after its status
    if facts:
        table = pd.DataFrame({"Check": list(facts), "Result": list(facts.values())})
        lines += ["", md_table(table, 0).rstrip()]
    for title, items in (("Problems", problems), ("Warnings", warnings)):
        if items:
            lines += ["", f"{title}:", ""] + [f"- {plain_or_escaped(_item(p))}" for p in items]
    return "\n".join(lines).rstrip() + "\n"


def _item(p) -> str:
    if isinstance(p, dict) and "message" in p:
        return str(p["message"])
    return p if isinstance(p, str) else json.dumps(p, sort_keys=True)


def build_report(
    *,
    params: dict,
    metrics: dict,
    tables: dict[str, pd.DataFrame],
    figures: list[str],
    figures_rel: str,
    validation: dict | None,
    report_tables: dict[str, pd.DataFrame] | None = None,
    tables_rel: str = "tables",
) -> str:
    """The report text. `figures` are the PNG stems present; `figures_rel` is the figures
    folder relative to the report file (links stay relative so the report moves with it).
    `report_tables`: summarize's report tables (flintcloud.report.tables; the inventory view),
    in `tables_rel` relative to the report."""
    rep = params.get("report") or {}
    decimals = int(rep.get("decimals", 1))
    title = rep.get("title") or "flintcloud run"
    sim = params.get("simulation") or {}
    project = (params.get("project") or {}).get("dir", "?")
    for key in ("start_year", "end_year"):
        if key not in metrics:
            raise ReportError(f"metrics lack {key!r}; expected summarize's metrics.json")
    start, end = metrics["start_year"], metrics["end_year"]

    out = [f"# {plain_or_escaped(title)}", ""]
    out.append(
        f"GCBM (CBM-CFS3) simulation of {code_span(project)}, {start}-{end} ({metrics.get('n_years', end - start + 1)} years), "
        f"engine {code_span(sim.get('engine', '?'))}, {_fmt(metrics.get('area_ha', float('nan')), decimals)} ha of forest."
    )
    provenance = inventory_markdown.provenance_section(metrics)
    if provenance:
        out += ["", provenance.rstrip()]
    out += ["", "## Headline figures", "", md_table(headline_table(metrics, decimals), decimals, right=("Value",))]

    def image(stem: str, caption: str) -> list[str]:
        return [f"![{caption}]({figures_rel}/{stem}.png)", "", f"*{caption}*", ""]

    charts = [s for s in CHARTS if s in figures]
    if charts:
        out += ["## Charts", ""]
        for stem in charts:
            out += image(stem, CHARTS[stem])
    if rep.get("include_maps", True):
        maps = [s for s in MAPS if s in figures]
        if maps:
            out += ["## Maps", ""]
            for stem in maps:
                out += image(stem, MAPS[stem])

    if report_tables:
        context = {"start": start, "end": end}
        out.append(inventory_markdown.inventory_sections(report_tables, decimals, context, tables_rel))
    changes = tables.get("stock_changes")
    if changes is not None and not changes.empty:
        cols = {c: INDICATOR_LABELS.get(c, c.replace("_", " ")) for c in changes.columns}
        out += ["## Stock changes by year (tC/yr)", "", md_table(changes.rename(columns=cols), decimals)]
    dist = tables.get("disturbance_emissions")
    if dist is not None and not (report_tables and "disturbance_losses" in report_tables):
        out += ["## Disturbances", ""]
        if dist.empty:
            out += ["No disturbance events in this run.", ""]
        else:
            out.append(md_table(dist.rename(columns={"disturbance_type": "disturbance type",
                                                     "area_disturbed_ha": "area disturbed (ha)",
                                                     "emissions_tc": "emissions (tC)",
                                                     "to_products_tc": "to products (tC)"}), decimals))
    out += ["## Validation of the inputs", "", validation_section(validation)]
    shown = {k: params[k] for k in ("project", "simulation", "outputs", "report") if k in params}
    shown_yaml = yaml.safe_dump(shown, sort_keys=False, default_flow_style=None, width=100).rstrip()
    out += [
        "## Parameters",
        "",
        "<details><summary>params.yaml used for this run</summary>",
        "",
        f"{code_fence(shown_yaml)}yaml",
        shown_yaml,
        code_fence(shown_yaml),
        "",
        "</details>",
        "",
        UNITS_NOTE,
        "",
    ]
    return "\n".join(out)


def _read_json(path: Path, what: str):
    return load_json(path, ReportError, what)


def write_report(
    report_path: str | Path,
    *,
    params: dict,
    metrics_path: str | Path,
    plots_dir: str | Path,
    figures_dir: str | Path,
    validation_path: str | Path | None,
    tables_dir: str | Path | None = None,
) -> str:
    """Read summarize's and validate's outputs, build report.md and write it atomically.
    `tables_dir`: summarize's report tables (CSV), shown as the inventory sections."""
    report_path = Path(report_path)
    metrics = _read_json(metrics_path, "metrics file")
    validation = None
    if validation_path is not None and Path(validation_path).exists():
        validation = _read_json(validation_path, "validation result")
    tables = {}
    for name in ("stock_changes", "disturbance_emissions"):
        p = Path(plots_dir) / f"{name}.csv"
        if not p.is_file():
            raise ReportError(f"plot table {str(p)!r} not found (expected the summarize stage's output)")
        tables[name] = pd.read_csv(p)
    figures_dir = Path(figures_dir)
    figures = sorted(p.stem for p in figures_dir.glob("*.png"))
    try:  # a report never links outside its own folder tree (cml would upload the target)
        rel = relative_link(figures_dir.resolve(), report_path.resolve().parent)
    except ValueError as err:
        raise ReportError(f"figures folder {str(figures_dir)!r} is outside the report's folder: {err}") from err
    report_tables, tables_rel = None, "tables"
    if tables_dir is not None:
        from flintcloud.report.tables import read_tables

        report_tables = read_tables(tables_dir)
        try:
            tables_rel = relative_link(Path(tables_dir).resolve(), report_path.resolve().parent)
        except ValueError as err:
            raise ReportError(f"tables folder {str(tables_dir)!r} is outside the report's folder: {err}") from err
    text = build_report(params=params, metrics=metrics, tables=tables, figures=figures, figures_rel=rel,
                        validation=validation, report_tables=report_tables, tables_rel=tables_rel)
    with atomic_file(report_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text
