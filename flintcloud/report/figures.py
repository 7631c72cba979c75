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
    "age_classes": ("Age-class distribution at the end year", "ha"),
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
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    finite = array[np.isfinite(array)]
    kwargs = {"cmap": "viridis"}
    if diverging and finite.size:
        lim = float(np.max(np.abs(finite))) or 1.0
        kwargs = {"cmap": "RdBu", "norm": TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)}
    im = ax.imshow(np.ma.masked_invalid(array), extent=extent, interpolation="nearest", **kwargs)
    fig.colorbar(im, ax=ax, label=units, shrink=0.85)
    ax.set_title(title)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("longitude (deg)" if geographic else "x (m)")
    ax.set_ylabel("latitude (deg)" if geographic else "y (m)")
    return fig


def charts(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """The four charts, named like the plot tables they draw."""
    out = {}
    title, unit = CHART_TITLES["stocks"]
    out["stocks"] = line_chart(tables["stocks"], STOCK_LINES, title, unit)
    title, unit = CHART_TITLES["stock_changes"]
    out["stock_changes"] = line_chart(tables["stock_changes"], CHANGE_LINES, title, unit, zero_line=True)
    title, unit = CHART_TITLES["disturbance_emissions"]
    d = tables["disturbance_emissions"]
    _require(d, ["disturbance_type", "emissions_tc", "to_products_tc"], title)
    out["disturbance_emissions"] = bar_chart(
        list(d["disturbance_type"]),
        {"emitted (CO2 + CH4 + CO)": list(d["emissions_tc"]), "to forest products": list(d["to_products_tc"])},
        title,
        unit,
    )
    title, unit = CHART_TITLES["age_classes"]
    a = tables["age_classes"]
    _require(a, ["age_range", "area_ha"], title)
    out["age_classes"] = bar_chart(list(a["age_range"]), {"area": list(a["area_ha"])}, title, unit, horizontal=False)
    return out


def maps(m) -> dict[str, Figure]:
    """Total Ecosystem C at the end year and cumulative NBP, from a summarize.Maps."""
    geographic = m.crs.upper() in {"EPSG:4326", "OGC:CRS84"} or not m.crs
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
