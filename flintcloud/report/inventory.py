"""A greenhouse-gas inventory view of a run: gases and CO2e, UNFCCC-signed tables, breakdowns.

Everything here is pure (DataFrames in, DataFrames out) and reads GCBM.CompileResults' tables
as `flintcloud.report.summarize.read_compiled_tables` returns them (every column kept, so
the classifier, `unfccc_land_class` and `age_range` columns are there).

Accounting, per year and stratum, from v_stock_change_indicators (tC):

    NPP - NBP = CO2 + CH4 + CO + Products          (carbon leaving the ecosystem)

checked for every year (`ReportError` when the compiled tables do not balance, e.g. a
custom indicator set without the gas indicators). In the UNFCCC convention (emissions
positive, removals negative, tCO2e):

    removals          = -NPP x 44/12                         (gross growth)
    CO2 emissions     = CO2 x 44/12                          (decay and disturbance)
    harvested wood    = Products x 44/12                     (instant oxidation at harvest)
    CO as CO2         = CO x 44/12       when co: oxidised   (else reported in t CO only)
    CH4               = CH4 x 16/12 x GWP(CH4)
    net               = the sum of the above

so with `co: oxidised` the net is -NBP x 44/12 plus CH4's extra warming,
CH4 x (16/12 x GWP - 44/12): no carbon is counted twice. With `co: separate` the carbon
emitted as CO is left out of the CO2e total and reported as t CO (an indirect gas).
With an HWP pool (flintcloud.report.hwp) a `Harvested wood products` line adds
-(change in HWP stock) x 44/12, as the UNFCCC tables report HWP beside forest land.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from flintcloud.errors import ConfigError, ReportError
from flintcloud.report.gwp import C_TO_CH4, C_TO_CO, C_TO_CO2, GwpSet, gwp_set
from flintcloud.report.hwp import HwpSettings, hwp_pool, parse_hwp_settings

CO_MODES = ("oxidised", "separate")

# v_stock_change_indicators indicator -> component column (tC/yr)
COMPONENTS = {
    "NPP": "npp_tc",
    "Rh": "rh_tc",
    "NEP": "nep_tc",
    "NBP": "nbp_tc",
    "Total CO2 Emissions": "co2_c_tc",
    "Total CH4 Emissions": "ch4_c_tc",
    "Total CO Emissions": "co_c_tc",
    "Total Harvest (Biomass + Snags)": "products_tc",
    "Disturbance Losses": "disturbance_losses_tc",
}
# Without these the inventory cannot be made (the others are absent when zero, e.g. no fire).
REQUIRED_COMPONENTS = ("NPP", "NBP", "Total CO2 Emissions")
BALANCE_RTOL = 1e-6
BALANCE_ATOL = 1e-3  # tC

LAND_CLASS_NAMES = {
    "FL": "forest land",
    "UFL": "unmanaged forest land",
    "CL": "cropland",
    "GL": "grassland",
    "WL": "wetlands",
    "SL": "settlements",
    "OL": "other land",
}
HWP_CATEGORY = "Harvested wood products"
TOTAL = "total"


@dataclass(frozen=True)
class InventorySettings:
    gwp: str = "AR5"
    co: str = "oxidised"
    hwp: HwpSettings = field(default_factory=HwpSettings)

    @property
    def gwp_values(self) -> GwpSet:
        return gwp_set(self.gwp)


def parse_inventory_settings(obj: object, where: str = "report.inventory") -> InventorySettings:
    """InventorySettings from params.yaml `report.inventory` (None = defaults)."""
    if obj is None:
        return InventorySettings()
    if not isinstance(obj, dict):
        raise ConfigError(f"params.yaml {where} must be a mapping, got {obj!r}")
    known = {"gwp", "co", "hwp"}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ConfigError(f"params.yaml {where}: unknown key(s) {unknown}; expected {sorted(known)}")
    gwp = gwp_set(obj.get("gwp", "AR5")).name
    co = obj.get("co", "oxidised")
    if co not in CO_MODES:
        raise ConfigError(f"params.yaml {where}.co must be one of {list(CO_MODES)}, got {co!r}")
    return InventorySettings(gwp=gwp, co=co, hwp=parse_hwp_settings(obj.get("hwp"), f"{where}.hwp"))


# ---------------------------------------------------------------- components


def land_class_label(code: str) -> str:
    """'UNFCCC_FL_R_FL' -> 'Forest land remaining forest land'; 'UNFCCC_CL_R_FL' -> 'Cropland
    converted to forest land' (GCBM writes UNFCCC_<historic>_R_<current>)."""
    m = re.fullmatch(r"UNFCCC_([A-Z]+)_R_([A-Z]+)", str(code))
    if not m:
        return str(code)
    hist, cur = (LAND_CLASS_NAMES.get(x, x) for x in m.groups())
    text = f"{hist} remaining {cur}" if m.group(1) == m.group(2) else f"{hist} converted to {cur}"
    return text[0].upper() + text[1:]


def components(stock_change_indicators: pd.DataFrame, by: list[str], source: str = "compiled output") -> pd.DataFrame:
    """Per simulated year and `by` group: the COMPONENTS columns (tC/yr), mass balance checked."""
    df = stock_change_indicators
    missing_cols = [c for c in ["indicator", "year", "flux_tc", *by] if c not in df.columns]
    if missing_cols:
        raise ReportError(f"{source}: v_stock_change_indicators lacks column(s) {missing_cols}")
    present = set(df["indicator"].unique())
    missing = [i for i in REQUIRED_COMPONENTS if i not in present]
    if missing:
        raise ReportError(
            f"{source}: v_stock_change_indicators has no {missing} rows; the inventory view needs GCBM.CompileResults' "
            "stock-change indicators (NPP, NBP, Total CO2/CH4/CO Emissions, Total Harvest (Biomass + Snags))"
        )
    df = df[df["indicator"].isin(COMPONENTS) & (df["year"].astype(int) > 0)].copy()
    df["year"] = df["year"].astype(int)
    keys = ["year", *by]
    for k in by:
        df[k] = df[k].astype(str)
    wide = df.pivot_table(index=keys, columns="indicator", values="flux_tc", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(COMPONENTS), fill_value=0.0).rename(columns=COMPONENTS)
    wide.columns.name = None
    wide = wide.reset_index().sort_values(keys, ignore_index=True)
    check_balance(wide, source)
    return wide


def check_balance(comp: pd.DataFrame, source: str) -> None:
    """NPP - NBP must equal CO2 + CH4 + CO + Products (all tC) in every row."""
    lhs = comp["npp_tc"] - comp["nbp_tc"]
    rhs = comp["co2_c_tc"] + comp["ch4_c_tc"] + comp["co_c_tc"] + comp["products_tc"]
    bad = ~np.isclose(lhs, rhs, rtol=BALANCE_RTOL, atol=BALANCE_ATOL)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ReportError(
            f"{source}: the stock-change indicators do not balance in year {int(comp['year'].iloc[i])}: "
            f"NPP - NBP = {lhs.iloc[i]:.3f} tC but CO2 + CH4 + CO + Products = {rhs.iloc[i]:.3f} tC "
            "(an indicator is missing or differently defined)"
        )


def co2e(comp: pd.DataFrame, settings: InventorySettings) -> pd.DataFrame:
    """UNFCCC-signed columns (tCO2e, t gas) beside `comp`'s keys, per row of `comp`."""
    g = settings.gwp_values
    oxidised = settings.co == "oxidised"
    out = pd.DataFrame(index=comp.index)
    out["removals_tco2e"] = -comp["npp_tc"] * C_TO_CO2
    out["co2_emissions_tco2e"] = comp["co2_c_tc"] * C_TO_CO2
    out["harvested_wood_tco2e"] = comp["products_tc"] * C_TO_CO2
    out["co_as_co2_tco2e"] = comp["co_c_tc"] * C_TO_CO2 if oxidised else 0.0
    out["ch4_t"] = comp["ch4_c_tc"] * C_TO_CH4
    out["ch4_tco2e"] = out["ch4_t"] * g.ch4
    out["co_t"] = comp["co_c_tc"] * C_TO_CO
    out["net_tco2e"] = (out["removals_tco2e"] + out["co2_emissions_tco2e"] + out["harvested_wood_tco2e"]
                        + out["co_as_co2_tco2e"] + out["ch4_tco2e"])
    out["gross_emissions_tco2e"] = out["net_tco2e"] - out["removals_tco2e"]
    return out


# ---------------------------------------------------------------- tables


def emissions_by_gas(comp: pd.DataFrame, settings: InventorySettings) -> pd.DataFrame:
    """Per year (and a total row): gross emissions by gas in t of gas and tCO2e. Harvested
    wood counted as CO2 at harvest (instant oxidation)."""
    g = settings.gwp_values
    by_year = comp.groupby("year")[["co2_c_tc", "ch4_c_tc", "co_c_tc", "products_tc"]].sum()
    out = pd.DataFrame(index=by_year.index)
    out["co2_ecosystem_t"] = by_year["co2_c_tc"] * C_TO_CO2
    out["co2_harvested_wood_t"] = by_year["products_tc"] * C_TO_CO2
    out["co2_from_co_t"] = by_year["co_c_tc"] * C_TO_CO2 if settings.co == "oxidised" else 0.0
    out["co2_t"] = out["co2_ecosystem_t"] + out["co2_harvested_wood_t"] + out["co2_from_co_t"]
    out["ch4_t"] = by_year["ch4_c_tc"] * C_TO_CH4
    out["co_t"] = by_year["co_c_tc"] * C_TO_CO
    out["co2_tco2e"] = out["co2_t"] * g.co2
    out["ch4_tco2e"] = out["ch4_t"] * g.ch4
    out["total_tco2e"] = out["co2_tco2e"] + out["ch4_tco2e"]
    return _with_total(out.reset_index())


def inventory_table(comp_lc: pd.DataFrame, area_lc: pd.DataFrame, settings: InventorySettings,
                    hwp: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per year and land class (plus the HWP line and a per-year total): net emissions and
    removals in tCO2e, emissions positive, beside NBP (tC, > 0 = sink).

    comp_lc: components by year and unfccc_land_class; area_lc: year, unfccc_land_class, area_ha.
    """
    base = comp_lc.merge(area_lc, on=["year", "unfccc_land_class"], how="left")
    signed = co2e(base, settings)
    df = pd.concat([base[["year", "unfccc_land_class", "area_ha", "nbp_tc"]], signed], axis=1)
    df.insert(2, "category", df["unfccc_land_class"].map(land_class_label))
    df["area_ha"] = df["area_ha"].fillna(0.0)
    parts = [df]
    if hwp is not None:
        tot = hwp[hwp["commodity"] == TOTAL].set_index("year")
        h = pd.DataFrame({"year": tot.index, "unfccc_land_class": "HWP", "category": HWP_CATEGORY,
                          "net_tco2e": -tot["stock_change_tc"].to_numpy() * C_TO_CO2})
        parts.append(h)
    out = pd.concat(parts, ignore_index=True)
    num = [c for c in out.columns if c not in ("year", "unfccc_land_class", "category")]
    out[num] = out[num].astype(float)
    totals = out.groupby("year", as_index=False)[num].sum(min_count=1)
    totals["unfccc_land_class"] = TOTAL
    totals["category"] = "Total"
    out = pd.concat([out, totals], ignore_index=True)
    order = {TOTAL: 2, "HWP": 1}
    out["_o"] = out["unfccc_land_class"].map(order).fillna(0)
    out = out.sort_values(["year", "_o", "unfccc_land_class"], ignore_index=True).drop(columns="_o")
    cols = ["year", "unfccc_land_class", "category", "area_ha", "removals_tco2e", "co2_emissions_tco2e",
            "harvested_wood_tco2e", "co_as_co2_tco2e", "ch4_tco2e", "net_tco2e", "ch4_t", "co_t", "nbp_tc"]
    return out[cols]


def inventory_summary(inv: pd.DataFrame) -> pd.DataFrame:
    """Net emissions per year (tCO2e): one column per land class (+ HWP) and the total, beside NBP."""
    wide = inv.pivot_table(index="year", columns="category", values="net_tco2e", aggfunc="sum", sort=False)
    cats = list(dict.fromkeys(inv["category"]))
    wide = wide.reindex(columns=cats)
    wide.columns = [f"{c} (tCO2e)" for c in cats]
    nbp = inv[inv["unfccc_land_class"] == TOTAL].set_index("year")["nbp_tc"]
    wide["NBP (tC)"] = nbp
    wide["-NBP x 44/12 (tCO2)"] = -nbp * C_TO_CO2
    wide.columns.name = None
    out = wide.reset_index()
    return _with_total(out)


def hwp_table(products_by_year: pd.Series, settings: InventorySettings) -> pd.DataFrame | None:
    """The HWP accounts (flintcloud.report.hwp) with net emissions in tCO2e; None when disabled."""
    if not settings.hwp.enabled:
        return None
    df = hwp_pool(products_by_year, settings.hwp)
    df["half_life_yr"] = df["commodity"].map(settings.hwp.half_lives)
    df["share"] = df["commodity"].map(settings.hwp.shares)
    df["net_emissions_tco2e"] = -df["stock_change_tc"] * C_TO_CO2
    return df[["year", "commodity", "share", "half_life_yr", "inflow_tc", "stock_start_tc", "stock_end_tc",
               "decay_tc", "stock_change_tc", "net_emissions_tco2e"]]


def disturbance_losses(disturbance_fluxes: pd.DataFrame, disturbed_areas: pd.DataFrame, live_biomass: list[str],
                       dom: list[str], settings: InventorySettings,
                       area_once: dict[str, float] | None = None) -> pd.DataFrame:
    """Per disturbance type over the run: area (sum of events; at least once when known), carbon
    emitted by gas, to products, and moved from live biomass to dead organic matter (tC);
    the emissions also in tCO2e. A total row last."""
    cols = ["disturbance_type", "area_events_ha", "area_once_ha", "emissions_tc", "co2_t", "ch4_t", "co_t",
            "emissions_tco2e", "to_products_tc", "biomass_to_dom_tc", "losses_tc"]
    f = disturbance_fluxes
    if f.empty and disturbed_areas.empty:
        return pd.DataFrame(columns=cols)
    if "from_pool" not in f.columns:
        raise ReportError("v_disturbance_fluxes lacks column 'from_pool' (needed for biomass -> DOM transfers)")
    f = f.assign(disturbance_type=f["disturbance_type"].astype(str))
    g = settings.gwp_values

    def total(mask) -> pd.Series:
        return f[mask].groupby("disturbance_type")["flux_tc"].sum()

    c = {gas: total(f["to_pool"] == gas) for gas in ("CO2", "CH4", "CO")}
    df = pd.concat({
        "area_events_ha": disturbed_areas.assign(disturbance_type=disturbed_areas["disturbance_type"].astype(str))
        .groupby("disturbance_type")["dist_area"].sum(),
        "co2_c": c["CO2"], "ch4_c": c["CH4"], "co_c": c["CO"],
        "to_products_tc": total(f["to_pool"] == "Products"),
        "biomass_to_dom_tc": total(f["from_pool"].isin(live_biomass) & f["to_pool"].isin(dom)),
    }, axis=1).fillna(0.0)
    df = df[df.index.str.len() > 0]
    df["emissions_tc"] = df["co2_c"] + df["ch4_c"] + df["co_c"]
    df["co2_t"] = (df["co2_c"] + (df["co_c"] if settings.co == "oxidised" else 0.0)) * C_TO_CO2
    df["ch4_t"] = df["ch4_c"] * C_TO_CH4
    df["co_t"] = df["co_c"] * C_TO_CO
    df["emissions_tco2e"] = df["co2_t"] * g.co2 + df["ch4_t"] * g.ch4
    df["losses_tc"] = df["emissions_tc"] + df["to_products_tc"] + df["biomass_to_dom_tc"]
    df["area_once_ha"] = [area_once.get(t, np.nan) for t in df.index] if area_once else np.nan
    df.index.name = "disturbance_type"
    df = df.reset_index().sort_values(["losses_tc", "disturbance_type"], ascending=[False, True], ignore_index=True)
    out = df[cols]
    tot = out.drop(columns="disturbance_type").sum(min_count=1).to_frame().T
    tot.insert(0, "disturbance_type", TOTAL)
    if area_once is not None and "_any" in area_once:
        tot["area_once_ha"] = area_once["_any"]  # a stand hit by two types counts once here
    return pd.concat([out, tot], ignore_index=True)


def breakdown(tables, by: str, settings: InventorySettings, start: int, end: int) -> pd.DataFrame:
    """Stocks (tC, tC/ha) at the end of `start` and `end`, area, cumulative NBP and emissions per value
    of one stratum column (a classifier, `unfccc_land_class` or `age_range`), a total row last."""
    pools, ages = tables.pool_indicators, tables.age_indicators
    for name, df in (("v_pool_indicators", pools), ("v_age_indicators", ages),
                     ("v_stock_change_indicators", tables.stock_change_indicators)):
        if by not in df.columns:
            raise ReportError(f"{tables.source}: {name} has no column {by!r} to break down by")
    te = pools[pools["indicator"] == "Total Ecosystem"]

    def at(df: pd.DataFrame, year: int, col: str) -> pd.Series:
        sel = df[df["year"].astype(int) == year]
        return sel.groupby(sel[by].astype(str))[col].sum()

    comp = components(tables.stock_change_indicators, [by], tables.source)
    signed = pd.concat([comp[[by]], comp[["nbp_tc"]], co2e(comp, settings)], axis=1)
    run = signed.groupby(by)[["nbp_tc", "gross_emissions_tco2e", "net_tco2e"]].sum()
    df = pd.concat({
        "area_start_ha": at(ages, start, "area"),
        "stock_start_tc": at(te, start, "pool_tc"),
        "area_end_ha": at(ages, end, "area"),
        "stock_end_tc": at(te, end, "pool_tc"),
        "nbp_tc": run["nbp_tc"],
        "gross_emissions_tco2e": run["gross_emissions_tco2e"],
        "net_emissions_tco2e": run["net_tco2e"],
    }, axis=1).fillna(0.0)
    df.index.name = by
    df = df.reset_index()
    if by == "age_range":
        from flintcloud.report.summarize import _age_range_start

        df = df.assign(_o=df[by].map(_age_range_start)).sort_values(["_o", by], ignore_index=True).drop(columns="_o")
    else:
        df = df.sort_values(by, ignore_index=True)
    df = _with_total(df, label_col=by)
    if by == "unfccc_land_class":
        df.insert(1, "category", [land_class_label(c) if c != TOTAL else "Total" for c in df[by]])
    at_col = 4 if by == "unfccc_land_class" else 3
    df.insert(at_col, "stock_start_tc_per_ha", _per_ha(df["stock_start_tc"], df["area_start_ha"]))
    df.insert(at_col + 3, "stock_end_tc_per_ha", _per_ha(df["stock_end_tc"], df["area_end_ha"]))
    return df


def area_by_land_class(age_indicators: pd.DataFrame) -> pd.DataFrame:
    a = age_indicators[age_indicators["year"].astype(int) > 0]
    out = a.groupby([a["year"].astype(int), a["unfccc_land_class"].astype(str)])["area"].sum()
    return out.rename("area_ha").reset_index()


def _per_ha(tc: pd.Series, ha: pd.Series) -> pd.Series:
    return (tc / ha.where(ha > 0)).astype(float)


def _with_total(df: pd.DataFrame, label_col: str = "year") -> pd.DataFrame:
    """`df` with a last row labelled 'total' summing the numeric columns (label column as text)."""
    num = [c for c in df.columns if c != label_col and pd.api.types.is_numeric_dtype(df[c])]
    tot = {c: float(df[c].sum()) for c in num}
    tot[label_col] = TOTAL
    out = df.copy()
    out[label_col] = out[label_col].astype(str)
    return pd.concat([out, pd.DataFrame([tot])], ignore_index=True)[list(df.columns)]


# ---------------------------------------------------------------- everything


@dataclass
class Inventory:
    tables: dict[str, pd.DataFrame]
    metrics: dict
    # per year (tC/yr, whole landscape), for the charts
    components: pd.DataFrame


def build_inventory(tables, settings: InventorySettings, area_once: dict[str, float] | None = None) -> Inventory:
    """Every inventory table of the report (name -> DataFrame) and its headline metrics."""
    from flintcloud.outputs.compile import default_indicators

    if "unfccc_land_class" not in tables.stock_change_indicators.columns:
        raise ReportError(f"{tables.source}: v_stock_change_indicators has no unfccc_land_class column")
    comp_lc = components(tables.stock_change_indicators, ["unfccc_land_class"], tables.source)
    comp = comp_lc.groupby("year", as_index=False)[list(COMPONENTS.values())].sum()
    years = sorted(comp["year"].unique())
    start, end = int(years[0]), int(years[-1])
    hwp = hwp_table(comp.set_index("year")["products_tc"], settings)
    inv = inventory_table(comp_lc, area_by_land_class(tables.age_indicators), settings, hwp)
    collections = default_indicators()["pool_collections"]
    out = {
        "inventory_summary": inventory_summary(inv),
        "inventory": inv,
        "emissions_by_gas": emissions_by_gas(comp, settings),
    }
    if hwp is not None:
        out["hwp"] = hwp
    out["disturbance_losses"] = disturbance_losses(
        tables.disturbance_fluxes, tables.disturbed_areas, collections["Live biomass"], collections["DOM"], settings,
        area_once)
    for c in tables.classifiers:
        out[f"by_classifier_{c}"] = breakdown(tables, c, settings, start, end)
    out["by_land_class"] = breakdown(tables, "unfccc_land_class", settings, start, end)
    out["by_age_class"] = breakdown(tables, "age_range", settings, start, end)
    out["gwp"] = gwp_rows(settings)

    gas = out["emissions_by_gas"].set_index("year").loc[TOTAL]
    total = inv[inv["unfccc_land_class"] == TOTAL]
    losses = out["disturbance_losses"]
    m = {
        "gwp_set": settings.gwp,
        "co_accounting": settings.co,
        "co2_emissions_t": _r(gas["co2_t"]),
        "ch4_emissions_t": _r(gas["ch4_t"], 4),
        "co_emissions_t": _r(gas["co_t"], 4),
        "gross_emissions_tco2e": _r(gas["total_tco2e"]),
        "net_emissions_tco2e": _r(total["net_tco2e"].sum()),
        "net_emissions_forest_tco2e": _r(inv[~inv["unfccc_land_class"].isin([TOTAL, "HWP"])]["net_tco2e"].sum()),
        "biomass_to_dom_disturbance_tc": _r(losses[losses["disturbance_type"] == TOTAL]["biomass_to_dom_tc"].sum())
        if len(losses) else 0.0,
    }
    if area_once is not None and "_any" in area_once:
        m["area_disturbed_once_ha"] = _r(area_once["_any"], 4)
    if hwp is not None:
        h = hwp[hwp["commodity"] == TOTAL].set_index("year")
        m["hwp_stock_end_tc"] = _r(h.loc[end, "stock_end_tc"])
        m["hwp_net_emissions_tco2e"] = _r(h["net_emissions_tco2e"].sum())
    return Inventory(tables=out, metrics=m, components=comp)


def emissions_plot_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """reports/plots/emissions.csv: per year, net emissions (tCO2e: all, land only, HWP) and
    the gases (t), for `dvc plots` and `flintcloud compare` (numbers only, a `year` column)."""
    inv, gas = tables["inventory"], tables["emissions_by_gas"]
    net = inv.pivot_table(index="year", columns="unfccc_land_class", values="net_tco2e", aggfunc="sum")
    land = inv[~inv["unfccc_land_class"].isin([TOTAL, "HWP"])].groupby("year")["net_tco2e"].sum()
    g = gas[gas["year"].astype(str) != TOTAL].assign(year=lambda d: d["year"].astype(int)).set_index("year")
    out = pd.DataFrame({
        "net_tco2e": net[TOTAL],
        "net_land_tco2e": land,
        "hwp_net_tco2e": net["HWP"] if "HWP" in net.columns else 0.0,
    })
    out.index = out.index.astype(int)
    out = out.join(g[["co2_t", "ch4_t", "co_t", "total_tco2e"]].rename(columns={"total_tco2e": "gross_tco2e"}))
    out.index.name = "year"
    return out.reset_index()


def gwp_rows(settings: InventorySettings) -> pd.DataFrame:
    g = settings.gwp_values
    rows = [
        {"quantity": "GWP set", "value": g.name, "note": g.source},
        {"quantity": "GWP CO2", "value": f"{g.co2:g}", "note": "t CO2e per t CO2"},
        {"quantity": "GWP CH4", "value": f"{g.ch4:g}", "note": "t CO2e per t CH4"},
        {"quantity": "C to CO2", "value": "44/12", "note": "t CO2 per t C"},
        {"quantity": "C to CH4", "value": "16/12", "note": "t CH4 per t C"},
        {"quantity": "C to CO", "value": "28/12", "note": "t CO per t C"},
        {"quantity": "CO", "value": settings.co,
         "note": "carbon emitted as CO counted as CO2 (CO oxidises to CO2 in the atmosphere)" if settings.co == "oxidised"
         else "reported in t CO as an indirect gas, outside the CO2e totals"},
        {"quantity": "Harvested wood", "value": "instant oxidation",
         "note": "carbon to products counted as CO2 in the year of harvest (forest land lines)"},
    ]
    if settings.hwp.enabled:
        shares = ", ".join(f"{k} {v:g} (half-life {settings.hwp.half_lives[k]:g} yr)" for k, v in settings.hwp.shares.items())
        rows.append({"quantity": "HWP pool", "value": f"IPCC Tier 1, initial stock {settings.hwp.initial_stock}",
                     "note": f"shares of harvested carbon: {shares}; the rest oxidised at harvest"})
    return pd.DataFrame(rows)


def _r(x, nd: int = 3) -> float:
    return float(round(float(x), nd))
