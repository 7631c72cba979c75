"""The report's tables as files: one CSV per table and one .xlsx workbook (a sheet per table).

CSV columns keep machine names that end in their unit (`net_tco2e`, `area_ha`, `stock_end_tc`);
the workbook's headers are the labels of `column_label` with the unit in brackets, and its
first sheet lists every table with its title. report.md shows the same tables.

`write_tables(tables, out_dir, context)` is the I/O (atomic: the folder is replaced whole);
`column_label`, `sheet_names` and `workbook_bytes` are pure. The workbook is byte-reproducible
(fixed timestamps), so DVC sees the same file for the same numbers.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from flintcloud.atomic import atomic_dir
from flintcloud.errors import ReportError

WORKBOOK = "report_tables.xlsx"
FIXED_TIME = datetime(2000, 1, 1, 0, 0, 0)

# Table name (CSV stem, sheet) -> title; {start}/{end} filled from the run. Report order.
TITLES = {
    "provenance": "Provenance: the code, input data and engine of this run",
    "headline": "Headline figures",
    "inventory_summary": "Net emissions (+) and removals (-) by year and land class, tCO2e, beside NBP",
    "inventory": "GHG inventory by year and UNFCCC land class (tCO2e; emissions positive)",
    "emissions_by_gas": "Gross emissions by gas and year (t of gas and tCO2e)",
    "hwp": "Harvested wood products pool (IPCC Tier 1 first-order decay)",
    "disturbance_losses": "Carbon lost by disturbance type, {start}-{end}",
    "by_land_class": "By UNFCCC land class: stocks at the end of {start} and {end}, NBP and emissions {start}-{end}",
    "by_age_class": "By age class: stocks at the end of {start} and {end}, NBP and emissions {start}-{end}",
    "stock_changes": "Stock changes by year (tC/yr)",
    "validation": "Validation of the inputs",
    "gwp": "Conversions and global warming potentials used",
}
CLASSIFIER_PREFIX = "by_classifier_"
CLASSIFIER_TITLE = "By classifier {name}: stocks at the end of {start} and {end}, NBP and emissions {start}-{end}"

# CSV column -> (label, unit); unit None = no unit.
COLUMNS = {
    "year": ("Year", None),
    "figure": ("Figure", None),
    "value": ("Value", None),
    "unit": ("Unit", None),
    "quantity": ("Quantity", None),
    "item": ("Provenance", None),
    "check": ("Check", None),
    "result": ("Result", None),
    "note": ("Note", None),
    "unfccc_land_class": ("UNFCCC land class", None),
    "category": ("Category", None),
    "age_range": ("Age class", "years"),
    "disturbance_type": ("Disturbance type", None),
    "commodity": ("Commodity", None),
    "area_ha": ("Area", "ha"),
    "removals_tco2e": ("Removals by growth", "tCO2e"),
    "co2_emissions_tco2e": ("CO2 from decay and disturbance", "tCO2e"),
    "harvested_wood_tco2e": ("Harvested wood, instant oxidation", "tCO2e"),
    "co_as_co2_tco2e": ("CO oxidised to CO2", "tCO2e"),
    "ch4_tco2e": ("CH4", "tCO2e"),
    "net_tco2e": ("Net emissions (+) / removals (-)", "tCO2e"),
    "ch4_t": ("CH4", "t CH4"),
    "co_t": ("CO", "t CO"),
    "nbp_tc": ("NBP (> 0 = sink)", "tC"),
    "co2_ecosystem_t": ("CO2 from decay and disturbance", "t CO2"),
    "co2_harvested_wood_t": ("CO2 from harvested wood (instant oxidation)", "t CO2"),
    "co2_from_co_t": ("CO2 from oxidised CO", "t CO2"),
    "co2_t": ("CO2, all", "t CO2"),
    "co2_tco2e": ("CO2", "tCO2e"),
    "total_tco2e": ("Total", "tCO2e"),
    "share": ("Share of harvested C", "fraction"),
    "half_life_yr": ("Half-life", "years"),
    "inflow_tc": ("Inflow", "tC"),
    "stock_start_tc": ("Stock, start", "tC"),
    "stock_end_tc": ("Stock, end", "tC"),
    "decay_tc": ("Decay (emitted as CO2)", "tC"),
    "stock_change_tc": ("Stock change", "tC"),
    "net_emissions_tco2e": ("Net emissions (+) / removals (-)", "tCO2e"),
    "area_events_ha": ("Area disturbed, sum of events", "ha"),
    "area_once_ha": ("Area disturbed at least once", "ha"),
    "emissions_tc": ("Emitted (CO2 + CH4 + CO)", "tC"),
    "emissions_tco2e": ("Emissions", "tCO2e"),
    "to_products_tc": ("Removed to products", "tC"),
    "biomass_to_dom_tc": ("Biomass to dead organic matter", "tC"),
    "losses_tc": ("Biomass and DOM carbon affected", "tC"),
    "area_start_ha": ("Area, end of {start}", "ha"),
    "stock_start_tc_per_ha": ("Stock, end of {start}", "tC/ha"),
    "area_end_ha": ("Area, end of {end}", "ha"),
    "stock_end_tc_per_ha": ("Stock, end of {end}", "tC/ha"),
    "gross_emissions_tco2e": ("Gross emissions", "tCO2e"),
    "npp": ("NPP", "tC/yr"),
    "rh": ("Rh", "tC/yr"),
    "nep": ("NEP", "tC/yr"),
    "nbp": ("NBP", "tC/yr"),
    "delta_total_ecosystem": ("Delta total ecosystem", "tC/yr"),
    "total_emissions": ("Total emissions", "tC/yr"),
    "disturbance_losses": ("Disturbance losses (NEP - NBP)", "tC/yr"),
}
# In breakdown tables stock_start_tc / stock_end_tc are at the end of the first / last year.
BREAKDOWN_COLUMNS = {"stock_start_tc": ("Stock, end of {start}", "tC"), "stock_end_tc": ("Stock, end of {end}", "tC")}


def headline_table(metrics: dict) -> pd.DataFrame:
    """The report's headline figures (flintcloud.report.markdown.HEADLINE) as numbers with units."""
    from flintcloud.report.markdown import HEADLINE
    from flintcloud.report.summarize import METRIC_UNITS

    ctx = {"start": metrics.get("start_year"), "end": metrics.get("end_year")}
    rows = [{"figure": label.format(**ctx), "value": metrics[key], "unit": METRIC_UNITS.get(key, "")}
            for key, label in HEADLINE.items() if key in metrics]
    return pd.DataFrame(rows, columns=["figure", "value", "unit"])


def provenance_rows(metrics: dict, esc=str) -> list[tuple[str, str]]:
    """(item, value) rows of the run's provenance (metrics' flintcloud.report.provenance keys), each
    value from the metrics passed through `esc` (report.md escapes them); [] without provenance."""
    if "git_commit" not in metrics:
        return []
    dirty = metrics.get("git_dirty")
    state = {True: "with uncommitted changes", False: "clean"}.get(dirty, "state unknown")
    return [
        ("Code", f"git commit {esc(metrics.get('git_commit'))} ({state})"),
        ("Input project", f"{esc(metrics.get('input_project', 'unknown'))}, DVC md5 "
                          f"{esc(metrics.get('input_project_md5', 'unknown'))}"),
        ("Engine", f"{esc(metrics.get('engine', 'unknown'))} ({esc(metrics.get('engine_version', 'unknown'))})"),
        ("Versions", f"flintcloud {esc(metrics.get('flintcloud_version', 'unknown'))}, "
                     f"libcbm {esc(metrics.get('libcbm_version', 'unknown'))}"),
    ]


def provenance_table(metrics: dict) -> pd.DataFrame | None:
    """report.md's Provenance table (item, value); None without provenance."""
    rows = provenance_rows(metrics)
    return pd.DataFrame(rows, columns=["item", "value"]) if rows else None


VALIDATION_SKIP = {"problems", "errors", "warnings", "ok", "valid", "passed", "n_errors", "n_warnings", "root"}


def validation_facts(validation: dict) -> dict[str, str]:
    """What validate's JSON (ValidationReport.to_dict()) found, as report.md's "Validation of the inputs"
    table shows it: check (underscores as spaces) -> result; short lists joined, nested values left out."""
    facts: dict[str, str] = {}
    summary = validation.get("summary") if isinstance(validation.get("summary"), dict) else {}
    for source in (validation, summary):
        for k, v in source.items():
            if k in VALIDATION_SKIP or v is None:
                continue
            if isinstance(v, (str, int, float, bool)):
                facts[k.replace("_", " ")] = str(v)
            elif isinstance(v, list) and len(v) <= 10 and all(isinstance(x, (str, int, float)) for x in v):
                facts[k.replace("_", " ")] = ", ".join(str(x) for x in v)
    return facts


def validation_problems(validation: dict) -> tuple[list, list]:
    """(problems, warnings) of validate's JSON (older reports name the errors `problems`)."""
    return validation.get("errors") or validation.get("problems") or [], validation.get("warnings") or []


def validation_passed(validation: dict) -> bool:
    problems, _ = validation_problems(validation)
    return bool(validation.get("valid", validation.get("ok", not problems))) and not problems


def validation_table(validation: dict | None) -> pd.DataFrame | None:
    """report.md's validation table (check, result): the status, the facts, then one row per problem and
    warning (check "problem: <check>" / "warning: <check>", result the message); None without a result."""
    if not isinstance(validation, dict):
        return None
    problems, warnings = validation_problems(validation)
    rows = [("status", "passed" if validation_passed(validation) else "failed")]
    rows += list(validation_facts(validation).items())
    for kind, items in (("problem", problems), ("warning", warnings)):
        for p in items:
            check = p.get("check") if isinstance(p, dict) else None
            message = p.get("message", p) if isinstance(p, dict) else p
            rows.append((f"{kind}: {check}" if check else kind, str(message)))
    return pd.DataFrame(rows, columns=["check", "result"])


def table_title(name: str, context: dict) -> str:
    if name.startswith(CLASSIFIER_PREFIX):
        return CLASSIFIER_TITLE.format(name=name[len(CLASSIFIER_PREFIX):], **context)
    return TITLES.get(name, name.replace("_", " ")).format(**context)


def column_label(name: str, column: str, context: dict) -> str:
    """'Net emissions (+) / removals (-) [tCO2e]'; a column without a label keeps its name (a classifier)."""
    spec = BREAKDOWN_COLUMNS.get(column) if name.startswith("by_") else None
    label, unit = spec or COLUMNS.get(column, (column, None))
    label = label.format(**context)
    return f"{label} [{unit}]" if unit else label


def ordered_names(names) -> list[str]:
    """Table names in report order: TITLES' order with the classifier breakdowns before the
    land-class one, then any other table by name."""
    names = list(names)
    order = list(TITLES)
    at = order.index("by_land_class")
    order[at:at] = sorted(n for n in names if n.startswith(CLASSIFIER_PREFIX))
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


def sheet_names(names: list[str]) -> dict[str, str]:
    """Excel-safe, unique sheet names (<= 31 characters, none of []:*?/\\)."""
    out: dict[str, str] = {}
    used: set[str] = {"contents"}
    for n in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", n.replace(CLASSIFIER_PREFIX, "by_"))[:31] or "table"
        cand, i = base, 2
        while cand.lower() in used:
            suffix = f"_{i}"
            cand, i = base[: 31 - len(suffix)] + suffix, i + 1
        used.add(cand.lower())
        out[n] = cand
    return out


def workbook_bytes(tables: dict[str, pd.DataFrame], context: dict) -> bytes:
    """The .xlsx: a `contents` sheet, then one sheet per table with unit-bearing headers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    names = ordered_names(tables)
    sheets = sheet_names(names)
    wb = Workbook()
    contents = wb.active
    contents.title = "contents"
    contents.append(["Sheet", "Table", "CSV file"])
    contents["A1"].font = contents["B1"].font = contents["C1"].font = Font(bold=True)
    for n in names:
        contents.append([sheets[n], table_title(n, context), f"{n}.csv"])
        df = tables[n]
        ws = wb.create_sheet(sheets[n])
        ws.append([table_title(n, context)])
        ws["A1"].font = Font(bold=True)
        ws.append([column_label(n, c, context) for c in df.columns])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        years = [c == "year" for c in df.columns]
        for rec in df.itertuples(index=False):
            ws.append([_cell(v, is_year) for v, is_year in zip(rec, years)])
        ws.freeze_panes = "B3"
    wb.properties.created = wb.properties.modified = FIXED_TIME
    wb.properties.creator = "flintcloud"
    raw = io.BytesIO()
    wb.save(raw)
    return _fixed_zip_times(raw.getvalue())


def _cell(v, is_year: bool = False):
    if hasattr(v, "item"):
        v = v.item()
    if is_year and isinstance(v, str) and v.isdigit():
        return int(v)  # a year column holds "total" too, so the CSV keeps it as text
    if isinstance(v, float) and v != v:  # NaN: an empty cell
        return None
    return v


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _fixed_zip_times(data: bytes) -> bytes:
    """The workbook with every time in it fixed: zip entry times, and docProps/core.xml's `modified`, which
    openpyxl sets to the clock when it saves (so the same tables give the same bytes on every run)."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", body)
            dst.writestr(fixed, body)
    return out.getvalue()


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path, context: dict) -> Path:
    """out_dir/<name>.csv for every table and out_dir/report_tables.xlsx; replaced atomically."""
    with atomic_dir(out_dir) as tmp:
        for name, df in tables.items():
            df.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6f")
        (tmp / WORKBOOK).write_bytes(workbook_bytes(tables, context))
    return Path(out_dir)


def read_tables(tables_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every <name>.csv in tables_dir (the report stage reads what summarize wrote)."""
    tables_dir = Path(tables_dir)
    if not tables_dir.is_dir():
        raise ReportError(f"report tables folder {str(tables_dir)!r} not found (expected the summarize stage's output)")
    out = {}
    for p in sorted(tables_dir.glob("*.csv")):
        try:
            out[p.stem] = pd.read_csv(p, keep_default_na=False, na_values=[""])  # a class "NA" stays "NA"
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ReportError(f"report table {str(p)!r} cannot be read: {err}") from err
    return out
