"""The GHG-inventory view checked against independent SQL on compiled databases.

Two databases: the small fixture (tests/report/conftest.py, numbers known by construction) and
GCBM's own output for the FLINT.Cloud demo compiled by flintcloud.outputs.compile (wildfire and
two mountain pine beetle types; shared data, skipped when absent).
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.errors import ConfigError, ReportError
from flintcloud.outputs.compile import default_indicators
from flintcloud.report import inventory as inv
from flintcloud.report import summarize as s
from flintcloud.report.gwp import GWP_SETS, gwp_set

from .conftest import AREA, FIRE, NPP, RH, YEARS

R = 44.0 / 12.0


def q(db, sql, *args):
    with sqlite3.connect(db) as c:
        return c.execute(sql, args).fetchall()


def sc_by_year(db, indicator) -> dict[int, float]:
    return {int(y): v for y, v in q(db, "SELECT year, SUM(flux_tc) FROM v_stock_change_indicators "
                                        "WHERE indicator = ? AND year > 0 GROUP BY year", indicator)}


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory, gcbm_reference_output):
    from flintcloud.outputs.compile import compile_results

    db = tmp_path_factory.mktemp("ref") / "compiled_gcbm_output.db"
    return compile_results(gcbm_reference_output / "gcbm_output.db", db)


def settings(**kw) -> inv.InventorySettings:
    return inv.parse_inventory_settings(kw or None)


# ---------------------------------------------------------------- the fixture: numbers by construction


def test_fixture_gases_and_co2e_by_hand(compiled_db):
    view = inv.build_inventory(s.read_compiled_tables(compiled_db), settings(gwp="AR5"))
    gas = view.tables["emissions_by_gas"].set_index("year")
    y = str(FIRE["year"])
    rh = sum(RH.values())
    assert gas.loc[y, "co2_ecosystem_t"] == pytest.approx((rh + FIRE["co2"]) * R)
    assert gas.loc[y, "co2_harvested_wood_t"] == pytest.approx(FIRE["products"] * R)
    assert gas.loc[y, "co2_from_co_t"] == pytest.approx(FIRE["co"] * R)  # oxidised by default
    assert gas.loc[y, "ch4_t"] == pytest.approx(FIRE["ch4"] * 16 / 12)
    assert gas.loc[y, "co_t"] == pytest.approx(FIRE["co"] * 28 / 12)
    assert gas.loc[y, "ch4_tco2e"] == pytest.approx(FIRE["ch4"] * 16 / 12 * 28)
    assert gas.loc["2010", "ch4_t"] == 0.0
    inv_t = view.tables["inventory"]
    land = inv_t[(inv_t["year"] == FIRE["year"]) & (inv_t["unfccc_land_class"] == "UNFCCC_FL_R_FL")].iloc[0]
    assert land["category"] == "Forest land remaining forest land"
    assert land["removals_tco2e"] == pytest.approx(-sum(NPP.values()) * R)
    assert land["area_ha"] == pytest.approx(sum(AREA.values()))
    nbp = sum(NPP.values()) - rh - FIRE["co2"] - FIRE["ch4"] - FIRE["co"] - FIRE["products"]
    assert land["nbp_tc"] == pytest.approx(nbp)
    # net = -NBP x 44/12 plus CH4's warming beyond its carbon as CO2
    assert land["net_tco2e"] == pytest.approx(-nbp * R + FIRE["ch4"] * (16 / 12 * 28 - R))


def test_co_separate_leaves_co_out_of_the_co2e_totals(compiled_db):
    tables = s.read_compiled_tables(compiled_db)
    ox = inv.build_inventory(tables, settings(co="oxidised"))
    sep = inv.build_inventory(tables, settings(co="separate"))
    y = str(FIRE["year"])
    g_ox, g_sep = (v.tables["emissions_by_gas"].set_index("year").loc[y] for v in (ox, sep))
    assert g_sep["co2_from_co_t"] == 0.0 and g_sep["co_t"] == pytest.approx(g_ox["co_t"])
    assert g_ox["total_tco2e"] - g_sep["total_tco2e"] == pytest.approx(FIRE["co"] * R)
    assert ox.metrics["net_emissions_tco2e"] - sep.metrics["net_emissions_tco2e"] == pytest.approx(FIRE["co"] * R)


def test_each_gwp_set_scales_only_methane(compiled_db):
    tables = s.read_compiled_tables(compiled_db)
    ch4_t = FIRE["ch4"] * 16 / 12
    for name, gwp in (("AR4", 25.0), ("AR5", 28.0), ("AR6", 27.0)):
        view = inv.build_inventory(tables, settings(gwp=name, hwp={"enabled": False}))
        gas = view.tables["emissions_by_gas"].set_index("year").loc["total"]
        assert gas["ch4_tco2e"] == pytest.approx(ch4_t * gwp), name
        assert gas["co2_tco2e"] == pytest.approx(gas["co2_t"])
        assert view.metrics["gwp_set"] == name


def test_gwp_tables_hold_the_ipcc_values():
    assert {k: (v.ch4, v.n2o) for k, v in GWP_SETS.items()} == {
        "AR4": (25.0, 298.0), "AR5": (28.0, 265.0), "AR6": (27.0, 273.0)}
    assert all("Table" in v.source and "IPCC" in v.source for v in GWP_SETS.values())
    assert gwp_set("ar6").name == "AR6"


def test_missing_gas_indicator_is_caught_by_the_mass_balance(compiled_db):
    with sqlite3.connect(compiled_db) as c:
        c.execute("DELETE FROM v_stock_change_indicators WHERE indicator = 'Total CH4 Emissions'")
    with pytest.raises(ReportError, match=r"do not balance in year 2011: NPP - NBP = 355\.000 tC but .* 350\.000 tC"):
        inv.build_inventory(s.read_compiled_tables(compiled_db), settings())
    with sqlite3.connect(compiled_db) as c:
        c.execute("DELETE FROM v_stock_change_indicators WHERE indicator = 'Total CO2 Emissions'")
    with pytest.raises(ReportError, match=r"no \['Total CO2 Emissions'\] rows"):
        inv.build_inventory(s.read_compiled_tables(compiled_db), settings())


def test_fixture_breakdowns_and_disturbance_losses(compiled_db):
    view = inv.build_inventory(s.read_compiled_tables(compiled_db), settings(),
                               area_once={"Wildfire": 8.0, "_any": 8.0, "_events": 10.0})
    by = view.tables["by_classifier_Classifier1"].set_index("Classifier1")
    assert by.loc["TA", "area_end_ha"] == pytest.approx(AREA[("TA", "G")])
    assert by.loc["total", "area_start_ha"] == pytest.approx(sum(AREA.values()))
    assert by.loc["BP", "nbp_tc"] == pytest.approx(
        len(YEARS) * (NPP[("BP", "M")] - RH[("BP", "M")]) - (FIRE["co2"] + FIRE["ch4"] + FIRE["co"] + FIRE["products"]))
    losses = view.tables["disturbance_losses"].set_index("disturbance_type")
    assert losses.loc["Wildfire", "emissions_tc"] == pytest.approx(FIRE["co2"] + FIRE["ch4"] + FIRE["co"])
    assert losses.loc["Wildfire", "to_products_tc"] == pytest.approx(FIRE["products"])
    assert losses.loc["Wildfire", "biomass_to_dom_tc"] == pytest.approx(300.0)  # SoftwoodMerch -> SoftwoodStemSnag
    assert losses.loc["Wildfire", "area_events_ha"] == 10.0 and losses.loc["Wildfire", "area_once_ha"] == 8.0
    assert view.metrics["area_disturbed_once_ha"] == 8.0


# ---------------------------------------------------------------- GCBM's own output, independent SQL


@pytest.mark.shared
def test_reference_co2e_factors_against_sql(reference_db):
    view = inv.build_inventory(s.read_compiled_tables(reference_db), settings(gwp="AR5", hwp={"enabled": False}))
    gas = view.tables["emissions_by_gas"]
    gas = gas[gas["year"] != "total"].assign(year=lambda d: d["year"].astype(int)).set_index("year")
    co2, ch4, co = (sc_by_year(reference_db, f"Total {g} Emissions") for g in ("CO2", "CH4", "CO"))
    prod = sc_by_year(reference_db, "Total Harvest (Biomass + Snags)")
    assert ch4[2012] == pytest.approx(25.282934880866772)  # GCBM's number, as read by sqlite
    for y in gas.index:
        assert gas.loc[y, "co2_t"] == pytest.approx((co2[y] + prod.get(y, 0.0) + co.get(y, 0.0)) * 44 / 12, rel=1e-12)
        assert gas.loc[y, "ch4_t"] == pytest.approx(ch4.get(y, 0.0) * 16 / 12, rel=1e-12)
        assert gas.loc[y, "co_t"] == pytest.approx(co.get(y, 0.0) * 28 / 12, rel=1e-12)
        assert gas.loc[y, "ch4_tco2e"] == pytest.approx(ch4.get(y, 0.0) * 16 / 12 * 28, rel=1e-12)
    # the UNFCCC total is -NBP as CO2 plus methane's extra warming, year by year
    nbp = sc_by_year(reference_db, "NBP")
    summary = view.tables["inventory_summary"]
    summary = summary[summary["year"] != "total"].assign(year=lambda d: d["year"].astype(int)).set_index("year")
    for y, v in summary["Total (tCO2e)"].items():
        assert v == pytest.approx(-nbp[y] * 44 / 12 + ch4.get(y, 0.0) * (16 / 12 * 28 - 44 / 12), rel=1e-9, abs=1e-6)


@pytest.mark.shared
def test_reference_breakdowns_sum_to_the_totals(reference_db):
    tables = s.read_compiled_tables(reference_db)
    view = inv.build_inventory(tables, settings())
    assert tables.classifiers == ["Classifier1", "Classifier2"]
    area = dict(q(reference_db, "SELECT year, SUM(area) FROM v_age_indicators GROUP BY year"))
    te = dict(q(reference_db, "SELECT year, SUM(pool_tc) FROM v_pool_indicators WHERE indicator = 'Total Ecosystem' "
                              "GROUP BY year"))
    nbp = q(reference_db, "SELECT SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' AND year > 0")[0][0]
    net_total = view.metrics["net_emissions_forest_tco2e"]
    for name in ("by_classifier_Classifier1", "by_classifier_Classifier2", "by_land_class", "by_age_class"):
        df = view.tables[name]
        label = df.columns[0]
        parts, total = df[df[label] != "total"], df[df[label] == "total"].iloc[0]
        for col in ("area_start_ha", "stock_start_tc", "area_end_ha", "stock_end_tc", "nbp_tc",
                    "gross_emissions_tco2e", "net_emissions_tco2e"):
            assert parts[col].sum() == pytest.approx(total[col], rel=1e-9), (name, col)
        assert total["area_start_ha"] == pytest.approx(area[2010], rel=1e-9)
        assert total["area_end_ha"] == pytest.approx(area[2020], rel=1e-9)
        assert total["stock_start_tc"] == pytest.approx(te[2010], rel=1e-9)
        assert total["stock_end_tc"] == pytest.approx(te[2020], rel=1e-9)
        assert total["nbp_tc"] == pytest.approx(nbp, rel=1e-9)
        assert total["net_emissions_tco2e"] == pytest.approx(net_total, rel=1e-6)
    # one classifier value, independently
    ta = q(reference_db, "SELECT SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' AND year > 0 "
                         "AND Classifier1 = 'TA'")[0][0]
    by1 = view.tables["by_classifier_Classifier1"].set_index("Classifier1")
    assert by1.loc["TA", "nbp_tc"] == pytest.approx(ta, rel=1e-12)
    # land classes: the inventory's areas are the landscape's, every year
    rows = view.tables["inventory"]
    land = rows[~rows["unfccc_land_class"].isin(["total", "HWP"])]
    for y, a in land.groupby("year")["area_ha"].sum().items():
        assert a == pytest.approx(area[int(y)], rel=1e-12)


@pytest.mark.shared
def test_reference_disturbance_losses_against_sql(reference_db, flint_demo):
    from flintcloud.report.disturbed_area import read_area_disturbed_once

    once = read_area_disturbed_once(flint_demo / "config")
    view = inv.build_inventory(s.read_compiled_tables(reference_db), settings(), area_once=once)
    losses = view.tables["disturbance_losses"].set_index("disturbance_type")
    live = default_indicators()["pool_collections"]["Live biomass"]
    dom = default_indicators()["pool_collections"]["DOM"]
    marks = ",".join("?" * len(live))
    dmarks = ",".join("?" * len(dom))
    to_dom = dict(q(reference_db, f"SELECT disturbance_type, SUM(flux_tc) FROM v_disturbance_fluxes "
                                  f"WHERE from_pool IN ({marks}) AND to_pool IN ({dmarks}) GROUP BY 1", *live, *dom))
    emitted = dict(q(reference_db, "SELECT disturbance_type, SUM(flux_tc) FROM v_disturbance_fluxes "
                                   "WHERE to_pool IN ('CO2','CH4','CO') GROUP BY 1"))
    areas = dict(q(reference_db, "SELECT disturbance_type, SUM(dist_area) FROM v_total_disturbed_areas GROUP BY 1"))
    mpb = "Mountain pine beetle — Very severe impact"
    assert losses.loc[mpb, "emissions_tc"] == 0.0 and losses.loc[mpb, "to_products_tc"] == 0.0
    assert losses.loc[mpb, "biomass_to_dom_tc"] == pytest.approx(to_dom[mpb], rel=1e-12) and to_dom[mpb] > 1000
    for t, v in to_dom.items():
        assert losses.loc[t, "biomass_to_dom_tc"] == pytest.approx(v, rel=1e-12)
        assert losses.loc[t, "area_events_ha"] == pytest.approx(areas[t], rel=1e-12)
        # no stand of this demo is disturbed twice: at least once == sum of events
        assert losses.loc[t, "area_once_ha"] == pytest.approx(areas[t], rel=1e-9)
    assert losses.loc["Wildfire", "emissions_tc"] == pytest.approx(emitted["Wildfire"], rel=1e-12)
    # emissions + products of every type == GCBM's Disturbance Losses indicator (NEP - NBP)
    dl = q(reference_db, "SELECT SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'Disturbance Losses'")[0][0]
    assert (losses.loc["total", "emissions_tc"] + losses.loc["total", "to_products_tc"]) == pytest.approx(dl, rel=1e-9)


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("obj, message", [
    ({"gwp": "SAR"}, r"report.inventory.gwp: unknown GWP set 'SAR'; expected one of \['AR4', 'AR5', 'AR6'\]"),
    ({"co": "ignored"}, r"report.inventory.co must be one of \['oxidised', 'separate'\], got 'ignored'"),
    ({"gwps": "AR5"}, r"report.inventory: unknown key\(s\) \['gwps'\]"),
    ({"hwp": {"enabled": True, "shares": {"sawnwood": 0.7, "paper": 0.5}}}, r"hwp.shares sum to 1.2"),
    ({"hwp": {"enabled": True, "shares": {"pulp": 0.5}}}, r"hwp.shares.pulp: no half-life for 'pulp'"),
    ({"hwp": {"enabled": True}}, r"hwp: enabled but no shares"),
    ({"hwp": {"enabled": "yes"}}, r"hwp.enabled must be true or false, got 'yes'"),
    ({"hwp": {"half_lives": {"paper": 0}}}, r"hwp.half_lives.paper must be > 0 years, got 0.0"),
    ({"hwp": {"initial_stock": "full"}}, r"hwp.initial_stock must be one of \['empty', 'steady_state'\]"),
])
def test_bad_settings_name_the_key(obj, message):
    with pytest.raises(ConfigError, match=message):
        inv.parse_inventory_settings(obj)


def test_default_settings():
    st = inv.parse_inventory_settings(None)
    assert (st.gwp, st.co, st.hwp.enabled) == ("AR5", "oxidised", False)
    assert st.hwp.half_lives == {"sawnwood": 35.0, "wood_based_panels": 25.0, "paper": 2.0}


def test_land_class_labels():
    assert inv.land_class_label("UNFCCC_FL_R_FL") == "Forest land remaining forest land"
    assert inv.land_class_label("UNFCCC_CL_R_FL") == "Cropland converted to forest land"
    assert inv.land_class_label("UNFCCC_FL_R_SL") == "Forest land converted to settlements"
    assert inv.land_class_label("custom") == "custom"


def test_conversion_land_class_gets_its_own_inventory_line(compiled_db):
    with sqlite3.connect(compiled_db) as c:  # the BP stand was converted: its rows change land class
        for table in ("v_stock_change_indicators", "v_age_indicators", "v_pool_indicators"):
            c.execute(f"UPDATE {table} SET unfccc_land_class = 'UNFCCC_FL_R_CL' WHERE Classifier1 = 'BP'")
    view = inv.build_inventory(s.read_compiled_tables(compiled_db), settings())
    rows = view.tables["inventory"]
    y = rows[rows["year"] == 2010].set_index("unfccc_land_class")
    assert y.loc["UNFCCC_FL_R_CL", "category"] == "Forest land converted to cropland"
    assert y.loc["UNFCCC_FL_R_CL", "area_ha"] == pytest.approx(AREA[("BP", "M")])
    assert y.loc["UNFCCC_FL_R_FL", "area_ha"] + y.loc["UNFCCC_FL_R_CL", "area_ha"] == pytest.approx(y.loc["total", "area_ha"])
    assert y.loc["total", "net_tco2e"] == pytest.approx(
        y.loc["UNFCCC_FL_R_FL", "net_tco2e"] + y.loc["UNFCCC_FL_R_CL", "net_tco2e"])
    summary = view.tables["inventory_summary"]
    assert "Forest land converted to cropland (tCO2e)" in summary.columns
    lc = view.tables["by_land_class"].set_index("unfccc_land_class")
    assert lc.loc["UNFCCC_FL_R_CL", "area_end_ha"] == pytest.approx(AREA[("BP", "M")])
    assert np.isclose(lc.drop(index="total")["area_end_ha"].sum(), lc.loc["total", "area_end_ha"])
    assert set(pd.unique(lc["category"])) >= {"Forest land converted to cropland", "Total"}
