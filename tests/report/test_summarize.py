from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.errors import ReportError
from flintcloud.report import summarize as s

from .conftest import AREA, FIRE, YEARS, build_compiled_db, build_spatial, expected


def test_tables_and_metrics_match_the_compiled_db(compiled_db):
    exp = expected()
    summary = s.summarize_tables(s.read_compiled_tables(compiled_db))
    m = summary.metrics
    assert (m["start_year"], m["end_year"], m["n_years"]) == (2010, 2012, 3)
    assert m["total_ecosystem_c_end_tc"] == pytest.approx(exp["te"][2012])
    assert m["total_ecosystem_c_initial_tc"] == pytest.approx(exp["te"][0])
    # mass balance: cumulative NBP is the change in total ecosystem carbon
    assert m["cumulative_nbp_tc"] == pytest.approx(sum(exp["nbp"].values()))
    assert m["delta_total_ecosystem_tc"] == pytest.approx(m["cumulative_nbp_tc"], abs=1e-3)
    assert m["mean_npp_tc_per_yr"] == pytest.approx(200.0)
    assert m["mean_npp_tc_per_ha_yr"] == pytest.approx(2.0)
    assert m["area_ha"] == pytest.approx(exp["area"])
    assert m["total_ecosystem_c_end_tc_per_ha"] == pytest.approx(exp["te"][2012] / exp["area"], rel=1e-6)
    assert m["total_disturbance_emissions_tc"] == pytest.approx(exp["dist_emissions"])  # snag transfer excluded
    assert m["total_to_products_tc"] == pytest.approx(FIRE["products"])
    assert m["area_disturbed_ha"] == pytest.approx(FIRE["area"])
    assert set(m) <= set(s.METRIC_UNITS)

    stocks = summary.tables["stocks"]
    assert list(stocks["year"]) == [2009, 2010, 2011, 2012]  # post-spinup state shown as start - 1
    assert np.allclose(np.diff(stocks["total_ecosystem"]), summary.tables["stock_changes"]["nbp"])
    assert stocks["total_biomass"].iloc[-1] == pytest.approx(0.3 * exp["te"][2012])

    ages = summary.tables["age_classes"]
    assert list(ages["age_range"]) == ["1-20", "41-60"]
    assert ages["area_ha"].sum() == pytest.approx(sum(AREA.values()))

    dist = summary.tables["disturbance_emissions"]
    assert dist.to_dict("records") == [
        {"disturbance_type": "Wildfire", "area_disturbed_ha": 10.0, "emissions_tc": 170.0, "to_products_tc": 25.0,
         "biomass_to_dom_tc": 300.0}  # SoftwoodMerch -> SoftwoodStemSnag: live biomass to dead organic matter
    ]


def test_run_without_disturbance_tables_reports_zero(tmp_path):
    db = build_compiled_db(tmp_path / "c.db", with_disturbances=False)
    summary = s.summarize_tables(s.read_compiled_tables(db))
    assert summary.metrics["total_disturbance_emissions_tc"] == 0.0
    assert summary.metrics["area_disturbed_ha"] == 0.0
    assert summary.tables["disturbance_emissions"].empty
    assert summary.metrics["cumulative_nbp_tc"] == pytest.approx(3 * (200.0 - 160.0))


def test_age_classes_sorted_numerically():
    df = pd.DataFrame({"year": [5] * 4, "age_range": ["101-120", "21-40", "1-20", "300+"], "area": [1.0, 2, 3, 4]})
    out = s.age_class_distribution(df, 5)
    assert list(out["age_range"]) == ["1-20", "21-40", "101-120", "300+"]
    assert list(out["age_class"]) == [1, 2, 3, 4]


def test_missing_db_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="compiled output db .*nope.db.* not found"):
        s.read_compiled_tables(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()  # no empty db created


def test_missing_table_and_column_are_named(tmp_path):
    db = build_compiled_db(tmp_path / "c.db")
    with sqlite3.connect(db) as c:
        c.execute("DROP TABLE v_age_indicators")
    with pytest.raises(ReportError, match="no table 'v_age_indicators'"):
        s.read_compiled_tables(db)
    db2 = build_compiled_db(tmp_path / "d.db")
    with sqlite3.connect(db2) as c:
        c.execute("ALTER TABLE v_pool_indicators RENAME COLUMN pool_tc TO value")
    with pytest.raises(ReportError, match=r"'v_pool_indicators' lacks column\(s\) \['pool_tc'\]"):
        s.read_compiled_tables(db2)


def test_not_sqlite_is_a_report_error(tmp_path):
    bad = tmp_path / "compiled.db"
    bad.write_text("not a database")
    with pytest.raises(ReportError, match="cannot read compiled output db"):
        s.read_compiled_tables(bad)


def test_cumulative_map_keeps_nodata_only_where_always_nodata():
    a = np.array([[1.0, np.nan], [np.nan, 2.0]])
    b = np.array([[1.0, np.nan], [3.0, 2.0]])
    out = s.cumulative_map([a, b])
    assert out[0, 0] == 2.0 and np.isnan(out[0, 1]) and out[1, 0] == 3.0 and out[1, 1] == 4.0


def test_read_maps_sums_nbp_and_reports_missing_years(tmp_path):
    spatial = build_spatial(tmp_path / "spatial")
    m = s.read_maps(spatial, YEARS)
    assert m.end_year == 2012
    assert np.isnan(m.total_ecosystem_end[0, 0]) and np.isnan(m.cumulative_nbp[0, 0])
    assert m.total_ecosystem_end[1, 1] == pytest.approx(102.0)
    assert m.cumulative_nbp[1, 1] == pytest.approx(0.5 + 1.5 + 2.5)
    (spatial / "NBP_2011.tif").unlink()
    with pytest.raises(ReportError, match=r"spatial outputs missing .*\['NBP_2011.tif'\]"):
        s.read_maps(spatial, YEARS)


def test_summarize_run_writes_metrics_plots_and_figures(run_dir, tmp_path):
    reports = tmp_path / "reports"
    metrics = s.summarize_run(run_dir, reports / "metrics.json", reports / "plots", reports / "figures")
    on_disk = json.loads((reports / "metrics.json").read_text())
    assert on_disk == metrics
    assert on_disk["total_ecosystem_c_end_tc"] == pytest.approx(expected()["te"][2012])
    assert sorted(p.name for p in (reports / "plots").iterdir()) == [
        "age_classes.csv", "disturbance_emissions.csv", "emissions.csv", "stock_changes.csv", "stocks.csv"]
    stocks = pd.read_csv(reports / "plots" / "stocks.csv")
    assert list(stocks["year"]) == [2009, 2010, 2011, 2012]
    pngs = sorted(p.name for p in (reports / "figures").iterdir())
    assert pngs == ["age_classes.png", "disturbance_emissions.png", "map_cumulative_nbp.png",
                    "map_total_ecosystem_c.png", "net_emissions.png", "stock_changes.png", "stocks.png"]
    assert all((reports / "figures" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_failed_summary_leaves_previous_outputs(run_dir, tmp_path):
    reports = tmp_path / "reports"
    s.summarize_run(run_dir, reports / "metrics.json", reports / "plots", reports / "figures")
    before = (reports / "metrics.json").read_text()
    (run_dir / "spatial" / "NBP_2012.tif").unlink()
    with pytest.raises(ReportError):
        s.summarize_run(run_dir, reports / "metrics.json", reports / "plots", reports / "figures")
    assert (reports / "metrics.json").read_text() == before
    assert len(list((reports / "plots").iterdir())) == 5


@pytest.mark.shared
def test_summary_of_gcbm_reference_output_is_mass_balanced(gcbm_reference_output, tmp_path):
    """GCBM's own raw output for the FLINT.Cloud demo, compiled by flintcloud.outputs.compile."""
    from flintcloud.outputs.compile import compile_results

    db = tmp_path / "compiled_gcbm_output.db"
    compile_results(gcbm_reference_output / "gcbm_output.db", db)
    tables = s.read_compiled_tables(db)
    tables.initial_pools = s.read_initial_pools(gcbm_reference_output / "gcbm_output.db")
    summary = s.summarize_tables(tables)
    m, stocks, changes = summary.metrics, summary.tables["stocks"], summary.tables["stock_changes"]
    assert (m["start_year"], m["end_year"], m["n_years"]) == (2010, 2020, 11)
    # the post-spinup state (raw year 0) heads the stocks; over the whole run, change == cumulative NBP
    assert list(stocks["year"]) == list(range(2009, 2021))
    assert m["delta_total_ecosystem_tc"] == pytest.approx(m["cumulative_nbp_tc"], abs=2e-3)
    # GCBM: Total Ecosystem(y) - Total Ecosystem(y-1) == NBP(y)
    assert np.allclose(np.diff(stocks["total_ecosystem"]), changes["nbp"], rtol=1e-9, atol=1e-6)
    assert m["total_ecosystem_c_end_tc"] == pytest.approx(stocks["total_ecosystem"].iloc[-1], abs=1e-3)
    # disturbance emissions == what Total Emissions adds to decomposition (Rh) in disturbed years
    assert m["total_disturbance_emissions_tc"] == pytest.approx(
        (changes["total_emissions"] - changes["rh"]).sum(), rel=1e-6)
    dist = summary.tables["disturbance_emissions"].set_index("disturbance_type")
    assert dist.loc["Wildfire", "emissions_tc"] > 0
    assert set(dist.index) == {"Wildfire", "Mountain pine beetle — Low impact",
                               "Mountain pine beetle — Very severe impact"}
    # 11,347 pixels of 0.00025 deg near 55 N
    assert 500 < m["area_ha"] < 520
    assert summary.tables["age_classes"]["area_ha"].sum() == pytest.approx(m["area_ha"], abs=1e-3)


def test_maps_are_cropped_to_the_simulated_area(tmp_path):
    spatial = build_spatial(tmp_path / "spatial", shape=(6, 8))
    # only rows 2..3, cols 3..5 hold data in every raster
    import rasterio

    for tif in spatial.iterdir():
        with rasterio.open(tif, "r+") as ds:
            arr = ds.read(1)
            keep = np.zeros_like(arr, dtype=bool)
            keep[2:4, 3:6] = True
            arr[~keep] = ds.nodata
            ds.write(arr, 1)
    m = s.read_maps(spatial, YEARS)
    assert m.total_ecosystem_end.shape == (2, 3) and not np.isnan(m.total_ecosystem_end).any()
    left, right, bottom, top = m.extent
    assert left == pytest.approx(-106.0 + 3 * 0.00025) and right == pytest.approx(-106.0 + 6 * 0.00025)
    assert top == pytest.approx(55.0 - 2 * 0.00025) and bottom == pytest.approx(55.0 - 4 * 0.00025)


def test_data_bounds():
    valid = np.zeros((5, 5), dtype=bool)
    assert s.data_bounds(valid) == ((0, 5), (0, 5))
    valid[1, 2] = valid[3, 4] = True
    assert s.data_bounds(valid) == ((1, 4), (2, 5))


def test_initial_pools_become_the_row_before_the_first_year(compiled_db, tmp_path):
    with sqlite3.connect(compiled_db) as c:  # the fixture's year-0 rows stand in for a raw db
        c.execute("DELETE FROM v_pool_indicators WHERE year = 0")
    tables = s.read_compiled_tables(compiled_db)
    assert s.summarize_tables(tables).tables["stocks"]["year"].min() == 2010
    pools = pd.Series({"SoftwoodMerch": 100.0, "MediumSoil": 50.0, "BelowGroundSlowSoil": 25.0, "CO2": 999.0})
    collections = {"All": ["SoftwoodMerch", "MediumSoil", "BelowGroundSlowSoil"], "Live": ["SoftwoodMerch"],
                   "Soil": ["BelowGroundSlowSoil"]}
    indicators = {"Total Ecosystem": "All", "Total Biomass": "Live", "Soil Carbon": "Soil"}
    rows = s.initial_pool_indicators(pools, indicators, collections).set_index("indicator")["pool_tc"]
    assert rows["Total Ecosystem"] == 175.0 and rows["Total Biomass"] == 100.0 and rows["Soil Carbon"] == 25.0
    assert rows["Litter"] == 0.0  # no collection: nothing
    tables.initial_pools = pd.Series({"SoftwoodMerch": 3000.0, "MediumSoil": 6000.0})
    summary = s.summarize_tables(tables)
    stocks = summary.tables["stocks"]
    assert list(stocks["year"]) == [2009, 2010, 2011, 2012]
    assert stocks["total_ecosystem"].iloc[0] == pytest.approx(9000.0)
    assert summary.metrics["total_ecosystem_c_initial_tc"] == pytest.approx(9000.0)
    assert s.read_initial_pools(tmp_path / "absent.db") is None
