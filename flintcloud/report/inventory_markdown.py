"""report.md sections of the GHG-inventory view: provenance, inventory, gases, HWP, breakdowns,
disturbance losses. Pure: tables and metrics in, Markdown text out.

Every table here is one of summarize's `reports/tables/<name>.csv` (flintcloud.report.tables),
shown with the same unit-bearing headers as the workbook. Text that comes from the project
(classifier names and values, disturbance type names, paths) goes through `escape_markdown`.
"""

from __future__ import annotations

import math

import pandas as pd

from flintcloud.mdtext import escape_markdown
from flintcloud.report.tables import (
    CLASSIFIER_PREFIX,
    WORKBOOK,
    column_label,
    ordered_names,
    provenance_rows,
    table_title,
)

INTRO = {
    "inventory_summary": (
        "UNFCCC sign convention: emissions positive, removals negative, in tonnes of CO2 equivalent. "
        "NBP is the ecosystem's carbon balance (> 0 = sink); -NBP x 44/12 is the same carbon as CO2. "
        "The land lines count harvested wood as emitted in the year of harvest (instant oxidation)."
    ),
    "emissions_by_gas": "Gross emissions from the ecosystem and from harvested wood (instant oxidation).",
    "hwp": "Carbon harvested into products stays in the HWP pool and decays with the commodity's half-life.",
    "disturbance_losses": (
        "Carbon each disturbance type took from the ecosystem (emitted, removed to products) or moved from "
        "living biomass to dead organic matter (still in the ecosystem, decaying later). Areas: the sum of "
        "events counts a stand disturbed twice twice; 'at least once' counts it once."
    ),
}
DETAILS = {"inventory", "hwp"}  # long tables shown folded


def _fmt(v, decimals: int) -> str:
    if hasattr(v, "item"):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"  # not applicable (an HWP line has no area; no area, no tC/ha)
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.{decimals}f}"
    return escape_markdown(v)


def md_table(name: str, df: pd.DataFrame, decimals: int, context: dict) -> str:
    """A GitHub table with the workbook's headers; project text escaped, numbers right-aligned."""
    if df.empty:
        return "_none in this run_\n"
    head = "| " + " | ".join(escape_markdown(column_label(name, c, context)) for c in df.columns) + " |"
    align = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else ":---" for c in df.columns) + "|"
    rows = ["| " + " | ".join(_fmt(v, decimals) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join([head, align, *rows]) + "\n"


def provenance_section(metrics: dict) -> str:
    """Which code, input data and engine made these numbers (metrics' provenance keys): the rows of
    tables/provenance.csv, values escaped."""
    rows = provenance_rows(metrics, escape_markdown)
    if not rows:
        return ""
    lines = ["| Provenance | |", "|:---|:---|", *[f"| {k} | {v} |" for k, v in rows]]
    return "\n".join(lines) + "\n"


def inventory_sections(tables: dict[str, pd.DataFrame], decimals: int, context: dict, tables_rel: str) -> str:
    """The inventory part of report.md from summarize's report tables (names as in tables.TITLES)."""
    out: list[str] = []

    def table(name: str, level: str = "###") -> None:
        if name not in tables:
            return
        title = escape_markdown(table_title(name, context))
        out.extend([f"{level} {title}", ""])
        if name in INTRO:
            out.extend([INTRO[name], ""])
        body = md_table(name, tables[name], decimals, context)
        if name in DETAILS:
            out.extend([f"<details><summary>{title} ({len(tables[name])} rows)</summary>", "", body, "</details>", ""])
        else:
            out.extend([body, ""])

    if "inventory_summary" in tables:
        out.extend(["## Greenhouse-gas inventory", ""])
        table("gwp")
        for name in ("inventory_summary", "inventory", "emissions_by_gas", "hwp"):
            table(name)
    breakdowns = [n for n in ordered_names(tables) if n.startswith(CLASSIFIER_PREFIX)]
    breakdowns += [n for n in ("by_land_class", "by_age_class") if n in tables]
    if breakdowns:
        out.extend(["## Breakdowns by stratum", "",
                    "Stocks are total ecosystem carbon at the end of each year; NBP and emissions are summed over "
                    "the run in the stratum each stand was in that year (stands change age class, and a "
                    "transition can change a classifier). Each table's total row is the landscape's.", ""])
        for name in breakdowns:
            table(name)
    if "disturbance_losses" in tables:
        out.extend(["## Disturbances", ""])
        table("disturbance_losses", level="###")
    out.extend([f"Every table of this report is also in {escape_markdown(tables_rel + '/')} as CSV (one file per "
                "table, the provenance and the validation of the inputs included) and in one workbook, "
                f"{escape_markdown(tables_rel + '/' + WORKBOOK)} (a sheet per table, units in the headers).", ""])
    return "\n".join(out)
