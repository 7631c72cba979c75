"""Scenarios side by side: every alternative against the baseline (stage `compare_scenarios`).

From each scenario's run folder (compiled_gcbm_output.db, gcbm_output.db, spatial/) this computes,
per scenario and as scenario minus baseline: annual and cumulative NBP, total emissions (the compiled
`Total Emissions` indicator), disturbance emissions (C to CO2, CH4 and CO), removals to products and
stocks by pool; and difference maps of end-year total ecosystem C and cumulative NBP, every
scenario's map of one quantity on one symmetric colour scale.

Pure functions (`annual_table`, `scenario_metrics`, `minus_baseline`, `comparison_tables`,
`symmetric_bound`, the figure builders, `render_markdown`) take and return plain values;
`read_scenario_result` and `write_scenario_comparison` do the I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.mdtext import escape_markdown
from flintcloud.params import OUTPUT_LAYOUT
from flintcloud.report.summarize import (
    EMISSION_POOLS,
    PRODUCTS_POOL,
    CompiledTables,
    Maps,
    read_compiled_tables,
    read_initial_pools,
    read_maps,
    summarize_tables,
)

# Annual columns (tC; fluxes per year, stocks at the end of the year) and their labels.
ANNUAL_COLUMNS = {
    "nbp_tc": "NBP (tC/yr)",
    "cumulative_nbp_tc": "Cumulative NBP (tC)",
    "total_emissions_tc": "Total emissions (tC/yr)",
    "disturbance_emissions_tc": "Disturbance emissions (tC/yr)",
    "to_products_tc": "Removals to products (tC/yr)",
    "total_ecosystem_tc": "Total ecosystem C (tC)",
    "total_biomass_tc": "Biomass C (tC)",
    "deadwood_tc": "Deadwood C (tC)",
    "litter_tc": "Litter C (tC)",
    "soil_carbon_tc": "Soil C (tC)",
}
# Whole-run figures in the comparison (name -> (label, unit)).
SUMMARY_METRICS = {
    "cumulative_nbp_tc": ("Cumulative NBP", "tC"),
    "total_emissions_tc": ("Total emissions", "tC"),
    "disturbance_emissions_tc": ("Disturbance emissions (CO2+CH4+CO as C)", "tC"),
    "to_products_tc": ("Removals to products", "tC"),
    "total_ecosystem_c_end_tc": ("Total ecosystem C, end year", "tC"),
    "total_biomass_c_end_tc": ("Biomass C, end year", "tC"),
    "deadwood_c_end_tc": ("Deadwood C, end year", "tC"),
    "litter_c_end_tc": ("Litter C, end year", "tC"),
    "soil_c_end_tc": ("Soil C, end year", "tC"),
    "area_disturbed_ha": ("Area disturbed (sum of events)", "ha"),
    "area_ha": ("Simulated area", "ha"),
}
STOCK_COLUMNS = {"total_ecosystem": "total_ecosystem_tc", "total_biomass": "total_biomass_tc",
                 "deadwood": "deadwood_tc", "litter": "litter_tc", "soil_carbon": "soil_carbon_tc"}
MAP_QUANTITIES = {"total_ecosystem_end": "Total ecosystem C, end year (tC/ha)",
                  "cumulative_nbp": "Cumulative NBP (tC/ha)"}


@dataclass
class ScenarioResult:
    """One scenario's run, as the comparison needs it."""

    name: str
    title: str
    annual: pd.DataFrame  # index year, ANNUAL_COLUMNS
    metrics: dict[str, float]
    maps: Maps | None = None
    changes: list[dict] = field(default_factory=list)  # scenario.json "changes"


# ----------------------------------------------------------------------------- pure


def annual_table(tables: CompiledTables) -> pd.DataFrame:
    """One row per simulated year (index), ANNUAL_COLUMNS, from the compiled tables."""
    summary = summarize_tables(tables)
    changes = summary.tables["stock_changes"].set_index("year")
    stocks = summary.tables["stocks"].set_index("year")
    years = changes.index
    fluxes = tables.disturbance_fluxes
    fluxes = fluxes[fluxes["year"] > 0]
    emitted = fluxes[fluxes["to_pool"].isin(EMISSION_POOLS)].groupby(fluxes["year"].astype(int))["flux_tc"].sum()
    products = fluxes[fluxes["to_pool"] == PRODUCTS_POOL].groupby(fluxes["year"].astype(int))["flux_tc"].sum()
    out = pd.DataFrame(index=pd.Index(years, name="year"))
    out["nbp_tc"] = changes["nbp"]
    out["cumulative_nbp_tc"] = changes["nbp"].cumsum()
    out["total_emissions_tc"] = changes["total_emissions"]
    out["disturbance_emissions_tc"] = emitted.reindex(years).fillna(0.0)
    out["to_products_tc"] = products.reindex(years).fillna(0.0)
    for col, name in STOCK_COLUMNS.items():
        out[name] = stocks[col].reindex(years)
    return out[list(ANNUAL_COLUMNS)].astype(float)


def scenario_metrics(annual: pd.DataFrame, summary_metrics: Mapping[str, float]) -> dict[str, float]:
    """Whole-run figures (SUMMARY_METRICS) from the annual table and summarize's metrics."""
    end = annual.iloc[-1]
    return {
        "start_year": int(annual.index.min()),
        "end_year": int(annual.index.max()),
        "cumulative_nbp_tc": round(float(annual["nbp_tc"].sum()), 3),
        "total_emissions_tc": round(float(annual["total_emissions_tc"].sum()), 3),
        "disturbance_emissions_tc": round(float(annual["disturbance_emissions_tc"].sum()), 3),
        "to_products_tc": round(float(annual["to_products_tc"].sum()), 3),
        "total_ecosystem_c_end_tc": round(float(end["total_ecosystem_tc"]), 3),
        "total_biomass_c_end_tc": round(float(end["total_biomass_tc"]), 3),
        "deadwood_c_end_tc": round(float(end["deadwood_tc"]), 3),
        "litter_c_end_tc": round(float(end["litter_tc"]), 3),
        "soil_c_end_tc": round(float(end["soil_carbon_tc"]), 3),
        "area_disturbed_ha": float(summary_metrics.get("area_disturbed_ha", math.nan)),
        "area_ha": float(summary_metrics.get("area_ha", math.nan)),
    }


def minus_baseline(alternative: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Scenario − baseline by year, on the years both simulated."""
    years = alternative.index.intersection(baseline.index)
    return alternative.loc[years] - baseline.loc[years]


def window_warnings(results: Sequence[ScenarioResult]) -> list[str]:
    """Sentences for scenarios whose simulated years or area differ from the baseline's."""
    base, out = results[0], []
    for r in results[1:]:
        if (r.metrics["start_year"], r.metrics["end_year"]) != (base.metrics["start_year"], base.metrics["end_year"]):
            out.append(f"{r.name} simulates {r.metrics['start_year']}-{r.metrics['end_year']}, the baseline "
                       f"{base.metrics['start_year']}-{base.metrics['end_year']}: differences by year cover the "
                       "shared years only, whole-run totals are not like for like")
        if not math.isclose(r.metrics["area_ha"], base.metrics["area_ha"], rel_tol=1e-9, abs_tol=1e-6):
            out.append(f"{r.name} simulates {r.metrics['area_ha']:,.1f} ha, the baseline "
                       f"{base.metrics['area_ha']:,.1f} ha")
    return out


def comparison_tables(results: Sequence[ScenarioResult]) -> dict[str, pd.DataFrame]:
    """annual (long: scenario, year, ANNUAL_COLUMNS), annual_minus_baseline (alternatives only),
    summary (scenario, metric, unit, value, minus_baseline) and end_stocks (scenario, pool, tC)."""
    base = results[0]
    annual, diff, summary, stocks = [], [], [], []
    for r in results:
        annual.append(r.annual.reset_index().assign(scenario=r.name))
        d = minus_baseline(r.annual, base.annual) if r is not base else None
        if d is not None:
            diff.append(d.reset_index().assign(scenario=r.name))
        for key, (_, unit) in SUMMARY_METRICS.items():
            value = r.metrics[key]
            summary.append({"scenario": r.name, "metric": key, "unit": unit, "value": value,
                            "minus_baseline": value - base.metrics[key]})
        end = r.annual.iloc[-1]
        for col in STOCK_COLUMNS.values():
            stocks.append({"scenario": r.name, "pool": col[:-3], "stock_tc": float(end[col]),
                           "minus_baseline_tc": float(end[col] - base.annual.iloc[-1][col])})
    cols = ["scenario", "year", *ANNUAL_COLUMNS]
    return {
        "annual": pd.concat(annual, ignore_index=True)[cols],
        "annual_minus_baseline": (pd.concat(diff, ignore_index=True)[cols] if diff
                                  else pd.DataFrame(columns=cols)),
        "summary": pd.DataFrame(summary),
        "end_stocks": pd.DataFrame(stocks),
    }


def comparison_metrics(results: Sequence[ScenarioResult]) -> dict:
    """metrics.json: {scenario: {metric: value, ..., minus_baseline: {metric: difference}}}."""
    base = results[0]
    out: dict = {}
    for r in results:
        entry = {k: r.metrics[k] for k in SUMMARY_METRICS}
        if r is not base:
            entry["minus_baseline"] = {k: round(r.metrics[k] - base.metrics[k], 3) for k in SUMMARY_METRICS}
        out[r.name] = entry
    return out


def map_difference(alternative: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """alternative − baseline on one grid (align_maps), NaN where either is outside the landscape;
    ReportError on other shapes."""
    if alternative.shape != baseline.shape:
        raise ReportError(f"maps differ in shape ({alternative.shape} vs {baseline.shape}): scenarios must share a grid")
    return alternative - baseline


GRID_TOLERANCE = 1e-6  # of a pixel: offsets between crop windows are whole pixels on one grid


def _grid_offsets(maps: Sequence[Maps]) -> list[tuple[int, int]]:
    """(row, col) of each map's first pixel on the first map's grid; ReportError when the maps are not
    windows of one north-up grid (pixel size, CRS, a fractional offset)."""
    a, b, c, d, e, f = maps[0].transform
    out = []
    for m in maps:
        ma, mb, mc, md, me, mf = m.transform
        if m.crs != maps[0].crs:
            raise ReportError(f"scenario maps are in different CRS ({m.crs} vs {maps[0].crs}): "
                              "scenarios must share a grid")
        if b or d or mb or md or not math.isclose(ma, a, rel_tol=1e-9) or not math.isclose(me, e, rel_tol=1e-9):
            raise ReportError(f"scenario maps have different pixels (transform {m.transform} vs {maps[0].transform}): "
                              "scenarios must share a grid")
        col, row = (mc - c) / a, (mf - f) / e
        if abs(col - round(col)) > GRID_TOLERANCE or abs(row - round(row)) > GRID_TOLERANCE:
            raise ReportError(f"scenario maps are offset by a fraction of a pixel ({row:g} rows, {col:g} columns): "
                              "scenarios must share a grid")
        out.append((round(row), round(col)))
    return out


def align_maps(maps: Sequence[Maps]) -> list[Maps]:
    """The maps on one grid: the union of their crop windows (read_maps crops each run to its own data
    footprint, and a scenario can move it), each array placed at its own offset, NaN elsewhere; extent and
    transform the union's. Pure; maps without a transform are returned as they are (one grid assumed)."""
    if not maps or any(m.transform is None for m in maps):
        return list(maps)
    offsets = _grid_offsets(maps)
    shapes = [m.total_ecosystem_end.shape for m in maps]
    row0 = min(r for r, _ in offsets)
    col0 = min(c for _, c in offsets)
    rows = max(r + h for (r, _), (h, _) in zip(offsets, shapes)) - row0
    cols = max(c + w for (_, c), (_, w) in zip(offsets, shapes)) - col0
    a, _, c, _, e, f = maps[0].transform
    transform = (a, 0.0, c + col0 * a, 0.0, e, f + row0 * e)
    extent = (transform[2], transform[2] + cols * a, transform[5] + rows * e, transform[5])

    def place(array: np.ndarray, r: int, col: int) -> np.ndarray:
        out = np.full((rows, cols), np.nan)
        out[r - row0:r - row0 + array.shape[0], col - col0:col - col0 + array.shape[1]] = array
        return out

    return [replace(m, total_ecosystem_end=place(m.total_ecosystem_end, r, col),
                    cumulative_nbp=place(m.cumulative_nbp, r, col), extent=extent, transform=transform)
            for m, (r, col) in zip(maps, offsets)]


def symmetric_bound(arrays: Sequence[np.ndarray]) -> float:
    """max |value| over every array (NaN ignored); 1.0 when all are empty or zero."""
    bound = 0.0
    for a in arrays:
        finite = a[np.isfinite(a)]
        if finite.size:
            bound = max(bound, float(np.abs(finite).max()))
    return bound or 1.0


def difference_maps_figure(results: Sequence[ScenarioResult]):
    """Rows: alternatives; columns: MAP_QUANTITIES as scenario − baseline; one symmetric scale per column."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from flintcloud.report.figures import is_geographic, map_aspect

    base, alts = results[0], [r for r in results[1:] if r.maps is not None]
    # every scenario's maps on one grid: the union of the runs' footprints
    base_maps, *alt_maps = align_maps([base.maps, *(r.maps for r in alts)])
    diffs = {q: [map_difference(getattr(m, q), getattr(base_maps, q)) for m in alt_maps] for q in MAP_QUANTITIES}
    bounds = {q: symmetric_bound(arrays) for q, arrays in diffs.items()}
    fig = Figure(figsize=(10, 4.2 * max(1, len(alts)) + 0.6), layout="constrained")
    axes = fig.subplots(max(1, len(alts)), len(MAP_QUANTITIES), squeeze=False)
    cmap = colormaps["RdBu"].with_extremes(bad="lightgray")
    for j, (q, label) in enumerate(MAP_QUANTITIES.items()):
        image = None
        for i, (r, m) in enumerate(zip(alts, alt_maps)):
            ax = axes[i][j]
            image = ax.imshow(diffs[q][i], cmap=cmap, vmin=-bounds[q], vmax=bounds[q], interpolation="nearest",
                              extent=m.extent, aspect=map_aspect(m.extent, is_geographic(m.crs)))
            ax.set_title(f"{r.name} − {base.name}\n{label}", fontsize=9)
            ax.tick_params(labelsize=7)
        if image is not None:
            fig.colorbar(image, ax=[axes[i][j] for i in range(len(alts))], label=f"scenario − {base.name}",
                         shrink=0.8)
    fig.suptitle("Difference maps (grey: outside the landscape; one colour scale per quantity for all scenarios)",
                 fontsize=10)
    return fig


def annual_figure(results: Sequence[ScenarioResult]):
    """Panels by year, one line per scenario: NBP, total emissions, removals to products, total ecosystem C."""
    from matplotlib.figure import Figure

    panels = ["nbp_tc", "total_emissions_tc", "to_products_tc", "total_ecosystem_tc"]
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, col in zip(axes, panels):
        for r in results:
            ax.plot(r.annual.index, r.annual[col], marker="o", ms=3, label=r.name)
        ax.set_title(ANNUAL_COLUMNS[col], fontsize=9)
        ax.set_ylabel(ANNUAL_COLUMNS[col].rsplit("(", 1)[-1].rstrip(")"), fontsize=8)
        ax.set_xlabel("year", fontsize=8)
        ax.axhline(0, color="black", lw=0.5)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=8)
    fig.suptitle("Scenarios by year")
    return fig


def cumulative_figure(results: Sequence[ScenarioResult]):
    """Cumulative NBP per scenario, and each alternative minus the baseline."""
    from matplotlib.figure import Figure

    base = results[0]
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for r in results:
        left.plot(r.annual.index, r.annual["cumulative_nbp_tc"], marker="o", ms=3, label=r.name)
    for r in results[1:]:
        d = minus_baseline(r.annual, base.annual)
        right.plot(d.index, d["cumulative_nbp_tc"], marker="o", ms=3, label=f"{r.name} − {base.name}")
    left.set_title("Cumulative NBP (> 0: sink)", fontsize=9)
    right.set_title(f"Cumulative NBP, scenario − {base.name}", fontsize=9)
    for ax in (left, right):
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylabel("tC", fontsize=8)
        ax.set_xlabel("year", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=8)
    return fig


def fmt_quantity(value: float, unit: str, signed: bool = False) -> str:
    """1234.5 tC -> '1,234.5 tC'; '+' on positive differences; -0.04 shows as 0.0, never '-0.0'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = round(float(value), 1) + 0.0
    text = f"{value:+,.1f}" if signed and value != 0 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def _describe(r: ScenarioResult) -> str:
    """What a scenario's inputs changed, one phrase per operation (pixel counts summed over layers)."""
    by_op: dict[str, list[dict]] = {}
    for c in r.changes:
        by_op.setdefault(c["operation"], []).append(c)
    parts = []
    for op, changes in by_op.items():
        layers = [c["layer"] for c in changes]
        first = changes[0]
        if first.get("dropped"):
            parts.append(f"dropped {', '.join(layers)}")
        elif "replaced_with" in first:
            parts.append(f"{first['layer']} replaced with {first['replaced_with']}")
        elif "offset_deg_c" in first:
            parts.append(f"{', '.join(layers)} {first['offset_deg_c']:+g} °C")
        elif "years_moved" in first:
            parts.append(f"events moved {first['years_moved']:+d} years in {len(layers)} layer(s)")
        elif "pixels_before" in first:
            before = sum(c["pixels_before"] for c in changes)
            after = sum(c["pixels_after"] for c in changes)
            parts.append(f"{op.rsplit('.', 1)[-1]}: {before:,} → {after:,} event pixels in {len(layers)} layer(s)")
    return "; ".join(parts)


def render_markdown(results: Sequence[ScenarioResult], params_overrides: Mapping[str, Mapping],
                    images: Mapping[str, str]) -> str:
    """reports/scenarios.md; user strings (names, titles, layers, params) escaped."""
    base = results[0]
    e = escape_markdown
    out = ["# Scenarios side by side\n",
           f"Every scenario against the baseline **{e(base.name)}** ({e(base.title)}). Values from each "
           "scenario's compiled GCBM output; NBP > 0 is a sink; harvest leaves the ecosystem as removals to "
           "products. Difference = scenario − baseline.\n"]
    warnings = window_warnings(results)
    for w in warnings:
        out.append(f"> **Warning:** {e(w)}.\n")
    out += ["## Scenarios\n", "| scenario | title | params changed | inputs changed |", "|---|---|---|---|"]
    for r in results:
        overrides = ", ".join(f"{k} = {v}" for k, v in (params_overrides.get(r.name) or {}).items())
        out.append(f"| {e(r.name)} | {e(r.title)} | {e(overrides) or '—'} | {e(_describe(r)) or '—'} |")
    out.append("")
    names = [r.name for r in results]
    out += ["## Whole run\n",
            "| figure | " + " | ".join(e(n) for n in names) + " | " + " | ".join(
                f"{e(n)} − {e(base.name)}" for n in names[1:]) + " |",
            "|---|" + "---:|" * (2 * len(names) - 1)]
    for key, (label, unit) in SUMMARY_METRICS.items():
        values = [fmt_quantity(r.metrics[key], unit) for r in results]
        diffs = [fmt_quantity(r.metrics[key] - base.metrics[key], unit, signed=True) for r in results[1:]]
        out.append(f"| {label} | " + " | ".join(values + diffs) + " |")
    out.append("")
    if "cumulative" in images:
        out += ["## Cumulative NBP\n", f"![cumulative NBP by scenario and minus the baseline]({images['cumulative']})\n"]
    out += ["## By year: cumulative NBP, scenario − baseline (tC)\n",
            "| year | " + " | ".join(e(n) for n in names[1:]) + " |", "|---:|" + "---:|" * (len(names) - 1)]
    diffs = [minus_baseline(r.annual, base.annual)["cumulative_nbp_tc"] for r in results[1:]]
    for year in base.annual.index:
        out.append(f"| {year} | " + " | ".join(fmt_quantity(d.get(year, math.nan), "", signed=True).strip()
                                                 for d in diffs) + " |")
    out.append("")
    if "annual" in images:
        out += ["## Annual fluxes and stocks\n", f"![annual NBP, emissions, products and stocks]({images['annual']})\n"]
    if "maps" in images:
        out += ["## Difference maps\n",
                f"![difference maps of end-year total ecosystem C and cumulative NBP]({images['maps']})\n"]
    out.append("Tables: `reports/scenario_comparison/plots/*.csv`; metrics: "
               "`reports/scenario_comparison/metrics.json` (`dvc metrics show`, `dvc plots show`).\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- I/O


def read_scenario_result(name: str, title: str, output_dir: str | Path, scenario_json: str | Path | None = None,
                         maps: bool = True) -> ScenarioResult:
    """A scenario's run folder (compiled + raw db, spatial/) read into a ScenarioResult."""
    output_dir = Path(output_dir)
    tables = read_compiled_tables(output_dir / OUTPUT_LAYOUT.compiled_db)
    tables.initial_pools = read_initial_pools(output_dir / OUTPUT_LAYOUT.raw_db)
    annual = annual_table(tables)
    summary = summarize_tables(tables)
    result = ScenarioResult(name, title, annual, scenario_metrics(annual, summary.metrics))
    if maps:
        result.maps = read_maps(output_dir / OUTPUT_LAYOUT.spatial_dir, [int(y) for y in annual.index])
    if scenario_json is not None and Path(scenario_json).is_file():
        result.changes = json.loads(Path(scenario_json).read_text(encoding="utf-8")).get("changes", [])
    return result


def write_scenario_comparison(results: Sequence[ScenarioResult], report_md: str | Path, out_dir: str | Path,
                              params_overrides: Mapping[str, Mapping] | None = None, dpi: int = 100) -> dict:
    """Write report_md, out_dir/metrics.json, out_dir/plots/*.csv and out_dir/figures/*.png; returns
    the metrics. Each is written to a temp path and moved into place."""
    if not results:
        raise ReportError("no scenario to compare")
    report_md, out_dir = Path(report_md), Path(out_dir)
    tables = comparison_tables(results)
    metrics = comparison_metrics(results)
    figures = {"cumulative": cumulative_figure(results), "annual": annual_figure(results)}
    if len(results) > 1 and all(r.maps is not None for r in results):
        figures["maps"] = difference_maps_figure(results)
    with atomic_dir(out_dir / "plots") as tmp:
        for name, table in tables.items():
            table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6f")
    with atomic_dir(out_dir / "figures") as tmp:
        for name, fig in figures.items():
            fig.savefig(tmp / f"{name}.png", dpi=dpi, metadata={"Software": None})
    with atomic_file(out_dir / "metrics.json") as fh:
        json.dump(metrics, fh, indent=2)
        fh.write("\n")
    import os

    rel = Path(os.path.relpath(out_dir / "figures", report_md.parent)).as_posix()
    images = {name: f"{rel}/{name}.png" for name in figures}
    with atomic_file(report_md) as fh:
        fh.write(render_markdown(results, params_overrides or {}, images))
    return metrics
