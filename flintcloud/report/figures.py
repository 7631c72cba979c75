"""Charts and maps of a run, as matplotlib Figures (the caller saves them).

Built on `matplotlib.figure.Figure` directly, not pyplot: no global state, no GUI
backend, safe in a DVC stage or a test. Every axis label carries its unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from flintcloud.errors import ReportError

# Chart title and y-axis label per plot table; the same names as reports/plots/<name>.csv.
CHART_TITLES = {
    "stocks": ("Carbon stocks by year", "tC"),
    "stock_changes": ("Stock changes by year", "tC/yr"),
    "disturbance_emissions": ("Carbon lost by disturbance type (whole run)", "tC"),
    "age_classes": ("Age-class distribution", "ha"),
    "net_emissions": ("Net emissions (+) and removals (-) by year", "tCO2e"),
}
STOCK_LINES = ["total_ecosystem", "total_biomass", "deadwood", "litter", "soil_carbon"]
CHANGE_LINES = ["npp", "rh", "nep", "nbp"]


def _label(column: str) -> str:
    named = {"npp": "NPP", "rh": "Rh", "nep": "NEP", "nbp": "NBP"}
    return named.get(column, column.replace("_", " ").capitalize())


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"{what} table lacks column(s) {missing}; it has {list(df.columns)}")


def line_chart(df: pd.DataFrame, columns: list[str], title: str, ylabel: str, *, zero_line: bool = False) -> Figure:
    """Lines of `columns` against df['year']."""
    _require(df, ["year", *columns], title)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for col in columns:
        ax.plot(df["year"], df[col], marker="o", markersize=3, label=_label(col))
    if zero_line:
        ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel("year")
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def bar_chart(
    labels: list[str], series: dict[str, list[float]], title: str, unit: str, *, horizontal: bool = True
) -> Figure:
    """Bars per label, one colour per series (grouped); a text instead of bars when there are none."""
    n = len(labels)
    height = max(2.5, (0.35 * len(series) + 0.3) * n + 1.2) if horizontal else 4.5
    fig = Figure(figsize=(7, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    if not labels:
        ax.text(0.5, 0.5, "none in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    pos = np.arange(n)
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        if horizontal:
            ax.barh(pos + offset, values, height=width, label=name)
        else:
            ax.bar(pos + offset, values, width=width, label=name)
    if horizontal:
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
    else:
        ax.set_xticks(pos, labels, rotation=45, ha="right")
        ax.set_ylabel(unit)
    if len(series) > 1:
        ax.legend(fontsize="small")
    ax.grid(True, axis="x" if horizontal else "y", alpha=0.3)
    return fig


def is_geographic(crs: str | None) -> bool:
    """True when a map's CRS (any text rasterio reads: 'EPSG:4326', WKT, ...) measures in degrees of
    longitude and latitude; also when there is none, as GCBM's tiles are in degrees."""
    text = str(crs or "").strip()
    if not text or text == "None":
        return True
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return bool(CRS.from_user_input(text).is_geographic)
    except CRSError:
        return any(tag in text.upper() for tag in ("4326", "CRS84", "WGS 84"))


def map_aspect(extent: tuple[float, float, float, float], geographic: bool) -> float:
    """The y/x scale (matplotlib's `aspect`) that draws a map to scale: in degrees, one degree of
    longitude is cos(latitude) of one of latitude (1.7x at 54.5 N), so y is stretched by
    1/cos(mid-latitude of `extent` = (left, right, bottom, top)); 1 for a projected map."""
    if not geographic:
        return 1.0
    return 1.0 / max(float(np.cos(np.deg2rad((extent[2] + extent[3]) / 2.0))), 1e-6)


def transform_extent(transform: tuple, rows: tuple[int, int],
                     cols: tuple[int, int]) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of the pixels rows[0]:rows[1], cols[0]:cols[1] of a north-up grid
    whose affine transform is (a, b, c, d, e, f) (GCBM writes no rotation)."""
    a, _, c, _, e, f = transform[:6]
    return (c + cols[0] * a, c + cols[1] * a, f + rows[1] * e, f + rows[0] * e)


def map_figure(
    array: np.ndarray,
    extent: tuple[float, float, float, float],
    title: str,
    units: str,
    *,
    diverging: bool = False,
    geographic: bool = True,
) -> Figure:
    """A raster map with a colour bar; NaN (outside the simulated area) is transparent."""
    if array.ndim != 2:
        raise ReportError(f"map {title!r}: expected a 2-D array, got shape {array.shape}")
    aspect = map_aspect(extent, geographic)
    span_x, span_y = abs(extent[1] - extent[0]), abs(extent[3] - extent[2]) * aspect
    shape = span_y / span_x if span_x > 0 else 1.0  # height / width of the map as drawn
    fig = Figure(figsize=(float(np.clip(4.2 / max(shape, 1e-6) + 1.8, 4.5, 10.0)), 5), layout="constrained")
    ax = fig.add_subplot()
    finite = array[np.isfinite(array)]
    kwargs = {"cmap": "viridis"}
    if diverging and finite.size:
        lim = float(np.max(np.abs(finite))) or 1.0
        kwargs = {"cmap": "RdBu", "norm": TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)}
    im = ax.imshow(np.ma.masked_invalid(array), extent=extent, interpolation="nearest", **kwargs)
    fig.colorbar(im, ax=ax, label=units, shrink=0.85)
    ax.set_title(title)
    ax.set_aspect(aspect)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("longitude (deg)" if geographic else "x (m)")
    ax.set_ylabel("latitude (deg)" if geographic else "y (m)")
    return fig


def charts(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """The charts, named like the plot tables they draw (plus `net_emissions` when the
    inventory tables are given)."""
    out = {}
    changes = tables["stock_changes"]
    first_year = int(changes["year"].min()) if len(changes) else None
    last_year = int(changes["year"].max()) if len(changes) else None
    title, unit = CHART_TITLES["stocks"]
    out["stocks"] = stocks_chart(tables["stocks"], first_year, title, unit)
    title, unit = CHART_TITLES["stock_changes"]
    out["stock_changes"] = flux_chart(changes, title, unit)
    title, unit = CHART_TITLES["disturbance_emissions"]
    out["disturbance_emissions"] = disturbance_chart(
        tables.get("disturbance_losses"), tables["disturbance_emissions"], title, unit)
    title, unit = CHART_TITLES["age_classes"]
    a = tables["age_classes"]
    _require(a, ["age_range", "area_ha"], title)
    series = {}
    if "area_ha_start" in a.columns:
        series[f"end of {first_year}"] = list(a["area_ha_start"])
    series[f"end of {last_year}"] = list(a["area_ha"])
    out["age_classes"] = bar_chart(list(a["age_range"]), series, f"{title}, end of {first_year} and {last_year}"
                                   if len(series) > 1 else f"{title} at the end year", unit, horizontal=False)
    if "inventory" in tables:
        title, unit = CHART_TITLES["net_emissions"]
        out["net_emissions"] = net_emissions_chart(tables["inventory"], title, unit)
    return out


def stocks_chart(df: pd.DataFrame, first_year: int | None, title: str, unit: str) -> Figure:
    """Stock lines; the row before the first simulated year (the state after spinup) is marked."""
    fig = line_chart(df, STOCK_LINES, title, unit)
    years = list(df["year"])
    if first_year is not None and years and min(years) < first_year:
        ax = fig.axes[0]
        x0 = min(years)
        ax.axvline(x0, color="0.4", linestyle=":", linewidth=1.2)
        ax.annotate(f"after spinup\n(start of {first_year})", xy=(x0, 0.62), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points", fontsize="small", color="0.3", va="top",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    return fig


def flux_chart(df: pd.DataFrame, title: str, unit: str) -> Figure:
    """NPP, Rh, NEP, NBP lines; the gap between NEP and NBP (disturbance losses: carbon emitted
    by disturbances and removed to products) shaded and drawn as bars."""
    fig = line_chart(df, CHANGE_LINES, title, unit, zero_line=True)
    if "disturbance_losses" in df.columns:
        ax = fig.axes[0]
        ax.fill_between(df["year"], df["nep"], df["nbp"], color="tab:red", alpha=0.12, linewidth=0)
        ax.bar(df["year"], -df["disturbance_losses"], width=0.5, color="tab:purple", alpha=0.45,
               label="disturbance losses\n(NEP - NBP, drawn < 0)")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def disturbance_chart(losses: pd.DataFrame | None, fallback: pd.DataFrame, title: str, unit: str) -> Figure:
    """Per disturbance type: carbon emitted, removed to products and moved from biomass to dead
    organic matter (tC); beside it the area disturbed, as the sum of events and at least once."""
    if losses is None:
        d = fallback
        _require(d, ["disturbance_type", "emissions_tc", "to_products_tc"], title)
        series = {"emitted (CO2 + CH4 + CO)": list(d["emissions_tc"]), "to forest products": list(d["to_products_tc"])}
        if "biomass_to_dom_tc" in d.columns:
            series["biomass to dead organic matter"] = list(d["biomass_to_dom_tc"])
        return bar_chart(list(d["disturbance_type"]), series, title, unit)
    d = losses[losses["disturbance_type"].astype(str) != "total"]
    _require(d, ["disturbance_type", "emissions_tc", "to_products_tc", "biomass_to_dom_tc", "area_events_ha"], title)
    labels = list(d["disturbance_type"].astype(str))
    n = len(labels)
    fig = Figure(figsize=(10, max(2.8, 0.9 * n + 1.6)), layout="constrained")
    fig.suptitle(title)
    if not labels:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no disturbance in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    ax_c, ax_a = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    pos = np.arange(n)
    carbon = {"emitted (CO2 + CH4 + CO)": d["emissions_tc"], "to forest products": d["to_products_tc"],
              "biomass to dead organic matter": d["biomass_to_dom_tc"]}
    w = 0.8 / len(carbon)
    for i, (name, values) in enumerate(carbon.items()):
        ax_c.barh(pos + (i - 1) * w, values, height=w, label=name)
    ax_c.set_yticks(pos, labels)
    ax_c.invert_yaxis()
    ax_c.set_xlabel(unit)
    ax_c.set_title("carbon", fontsize="medium")
    ax_c.legend(fontsize="small", loc="lower right")
    ax_c.grid(True, axis="x", alpha=0.3)
    once = d["area_once_ha"] if "area_once_ha" in d.columns else None
    has_once = once is not None and once.notna().any()
    w = 0.8 / (2 if has_once else 1)
    ax_a.barh(pos - (w / 2 if has_once else 0), d["area_events_ha"], height=w, color="0.55",
              label="sum of events (a stand hit twice counts twice)")
    if has_once:
        ax_a.barh(pos + w / 2, once.fillna(0.0), height=w, color="0.25", label="disturbed at least once")
    ax_a.set_xlabel("ha")
    ax_a.set_title("area disturbed", fontsize="medium")
    ax_a.legend(fontsize="small", loc="lower right")
    ax_a.grid(True, axis="x", alpha=0.3)
    return fig


NET_PARTS = {
    "removals_tco2e": ("removals by growth", "tab:green"),
    "co2_emissions_tco2e": ("CO2, decay and disturbance", "tab:brown"),
    "harvested_wood_tco2e": ("harvested wood (instant oxidation)", "tab:orange"),
    "co_as_co2_tco2e": ("CO oxidised to CO2", "tab:gray"),
    "ch4_tco2e": ("CH4", "tab:red"),
}


def net_emissions_chart(inv: pd.DataFrame, title: str, unit: str) -> Figure:
    """Stacked bars per year of the inventory's parts (emissions up, removals down), the HWP line
    when there is one, and the net total as a line: the UNFCCC sign convention."""
    _require(inv, ["year", "unfccc_land_class", "net_tco2e", *NET_PARTS], title)
    land = inv[~inv["unfccc_land_class"].isin(["total", "HWP"])]
    land = land.assign(year=land["year"].astype(int)).groupby("year")[list(NET_PARTS)].sum()
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    years = land.index.to_numpy()
    up = np.zeros(len(years))
    down = np.zeros(len(years))
    parts = {k: (label, color, land[k].to_numpy()) for k, (label, color) in NET_PARTS.items()}
    hwp = inv[inv["unfccc_land_class"] == "HWP"]
    if len(hwp):
        h = hwp.assign(year=hwp["year"].astype(int)).set_index("year")["net_tco2e"].reindex(years).fillna(0.0)
        parts["hwp"] = ("harvested wood products pool", "tab:olive", h.to_numpy())
    for label, color, values in parts.values():
        if not np.any(values):
            continue
        base = np.where(values >= 0, up, down)
        ax.bar(years, values, bottom=base, width=0.7, color=color, label=label, alpha=0.85)
        up += np.clip(values, 0, None)
        down += np.clip(values, None, 0)
    total = inv[inv["unfccc_land_class"] == "total"]
    ax.plot(total["year"].astype(int), total["net_tco2e"], color="black", marker="o", markersize=3, label="net")
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel("year")
    ax.set_ylabel(unit)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def maps(m) -> dict[str, Figure]:
    """Total Ecosystem C at the end year and cumulative NBP, from a summarize.Maps."""
    geographic = is_geographic(m.crs)
    return {
        "map_total_ecosystem_c": map_figure(
            m.total_ecosystem_end, m.extent, f"Total Ecosystem C, {m.end_year}", "tC/ha", geographic=geographic
        ),
        "map_cumulative_nbp": map_figure(
            m.cumulative_nbp,
            m.extent,
            f"Cumulative NBP, {min(m.years)}-{m.end_year}",
            "tC/ha",
            diverging=True,
            geographic=geographic,
        ),
    }
