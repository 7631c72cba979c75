"""The scenario comparison (reports/scenarios.md, metrics, plot tables, maps) against independent SQL
on each scenario's compiled database, on real runs of a small demo project."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config
from flintcloud.landscape.grid import Grid, pixel_area_ha
from flintcloud.report.scenarios import read_scenario_result, symmetric_bound, write_scenario_comparison
from flintcloud.run import run_project
from flintcloud.scenarios.build import build_scenario, read_params_file

from .conftest import CLEARCUT, base_params

ALTERNATIVES = {
    "no_clearcut": {"title": "No *clearcut* [harvest](http://x)",
                    "inputs": [{"drop_events": {"disturbance_type": CLEARCUT}}]},
    "wildfire_doubled": {"title": "Wildfire doubled",
                         "inputs": [{"scale_events": {"disturbance_type": "Wildfire", "factor": 2.0, "seed": 1}}]},
}
POOLS = {"total_ecosystem_tc": "Total Ecosystem", "total_biomass_tc": "Total Biomass", "deadwood_tc": "Deadwood",
         "litter_tc": "Litter", "soil_carbon_tc": "Soil Carbon"}


def _simulate(params: dict, project: Path, work: Path) -> Path:
    settings = settings_from_params(params, base_dir=Path("."))
    write_gcbm_config(project, work / "config", settings)
    run_project(work / "config", work / "output", overwrite=True)
    return work / "output"


@pytest.fixture(scope="module")
def runs(demo_project, tmp_path_factory):
    """{name: output dir} for the baseline and both alternatives, plus the comparison written."""
    root = tmp_path_factory.mktemp("scenario_runs")
    params = base_params(demo_project, ALTERNATIVES)
    params["simulation"]["end_year"] = 2014
    outputs = {"baseline": _simulate(params, demo_project, root / "baseline")}
    results = [read_scenario_result("baseline", "Base", outputs["baseline"])]
    for name in ALTERNATIVES:
        built = build_scenario(params, name, demo_project, root / name)
        outputs[name] = _simulate(read_params_file(built.params_path), built.project_dir, root / name)
        results.append(read_scenario_result(name, ALTERNATIVES[name]["title"], outputs[name],
                                            root / name / "scenario.json"))
    metrics = write_scenario_comparison(results, root / "reports" / "scenarios.md", root / "reports" / "cmp",
                                        {"no_clearcut": {}, "wildfire_doubled": {}})
    return {"outputs": outputs, "metrics": metrics, "results": results, "root": root}


def _sql(db: Path, query: str, *args) -> float:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return float(conn.execute(query, args).fetchone()[0] or 0.0)


def _independent(out: Path) -> dict:
    db = out / "compiled_gcbm_output.db"
    end = int(_sql(db, "SELECT MAX(year) FROM v_stock_change_indicators"))
    flux = "SELECT SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = ? AND year > 0"
    dist = "SELECT SUM(flux_tc) FROM v_disturbance_fluxes WHERE year > 0 AND to_pool IN ({})"
    values = {
        "cumulative_nbp_tc": _sql(db, flux, "NBP"),
        "total_emissions_tc": _sql(db, flux, "Total Emissions"),
        "disturbance_emissions_tc": _sql(db, dist.format("'CO2', 'CH4', 'CO'")),
        "to_products_tc": _sql(db, dist.format("'Products'")),
        "end_year": end,
    }
    for col, indicator in POOLS.items():
        key = {"total_ecosystem_tc": "total_ecosystem_c_end_tc", "total_biomass_tc": "total_biomass_c_end_tc",
               "deadwood_tc": "deadwood_c_end_tc", "litter_tc": "litter_c_end_tc",
               "soil_carbon_tc": "soil_c_end_tc"}[col]
        values[key] = _sql(db, "SELECT SUM(pool_tc) FROM v_pool_indicators WHERE indicator = ? AND year = ?",
                           indicator, end)
    values["annual_nbp"] = {int(y): v for y, v in sqlite3.connect(db).execute(
        "SELECT year, SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' AND year > 0 "
        "GROUP BY year ORDER BY year")}
    return values


def test_whole_run_figures_and_differences_equal_sql(runs):
    sql = {name: _independent(out) for name, out in runs["outputs"].items()}
    metrics = runs["metrics"]
    keys = ["cumulative_nbp_tc", "total_emissions_tc", "disturbance_emissions_tc", "to_products_tc",
            "total_ecosystem_c_end_tc", "total_biomass_c_end_tc", "deadwood_c_end_tc", "litter_c_end_tc",
            "soil_c_end_tc"]
    for name in runs["outputs"]:
        for key in keys:
            assert metrics[name][key] == pytest.approx(sql[name][key], abs=2e-3), (name, key)
        if name != "baseline":
            for key in keys:
                assert metrics[name]["minus_baseline"][key] == pytest.approx(
                    sql[name][key] - sql["baseline"][key], abs=5e-3), (name, key)
    # the scenarios did what they say
    assert sql["no_clearcut"]["to_products_tc"] == 0.0 < sql["baseline"]["to_products_tc"]
    assert sql["wildfire_doubled"]["disturbance_emissions_tc"] > 1.5 * sql["baseline"]["disturbance_emissions_tc"]
    assert sql["no_clearcut"]["cumulative_nbp_tc"] > sql["baseline"]["cumulative_nbp_tc"]
    # mass balance per scenario: cumulative NBP is the change in total ecosystem carbon
    for result in runs["results"]:
        annual = result.annual
        assert annual["cumulative_nbp_tc"].iloc[-1] == pytest.approx(annual["nbp_tc"].sum())


def test_annual_tables_equal_sql_year_by_year(runs):
    plots = runs["root"] / "reports" / "cmp" / "plots"
    annual = pd.read_csv(plots / "annual.csv")
    diff = pd.read_csv(plots / "annual_minus_baseline.csv")
    sql = {name: _independent(out)["annual_nbp"] for name, out in runs["outputs"].items()}
    assert sorted(annual["scenario"].unique()) == ["baseline", "no_clearcut", "wildfire_doubled"]
    assert sorted(diff["scenario"].unique()) == ["no_clearcut", "wildfire_doubled"]
    for name, by_year in sql.items():
        rows = annual[annual["scenario"] == name].set_index("year")
        assert list(rows.index) == sorted(by_year)
        cumulative = 0.0
        for year, nbp in by_year.items():
            cumulative += nbp
            assert rows.loc[year, "nbp_tc"] == pytest.approx(nbp, abs=1e-5)
            assert rows.loc[year, "cumulative_nbp_tc"] == pytest.approx(cumulative, abs=1e-4)
            if name != "baseline":
                base_cum = sum(v for y, v in sql["baseline"].items() if y <= year)
                d = diff[(diff["scenario"] == name) & (diff["year"] == year)]["cumulative_nbp_tc"].item()
                assert d == pytest.approx(cumulative - base_cum, abs=1e-4)
    stocks = pd.read_csv(plots / "end_stocks.csv")
    base_te = stocks[(stocks["scenario"] == "baseline") & (stocks["pool"] == "total_ecosystem")]["stock_tc"].item()
    assert base_te == pytest.approx(_independent(runs["outputs"]["baseline"])["total_ecosystem_c_end_tc"], abs=1e-3)


def _map_total(path: Path) -> float:
    with rasterio.open(path) as ds:
        arr = ds.read(1, masked=True).astype("float64")
        area = pixel_area_ha(Grid(ds.transform, ds.crs, ds.width, ds.height))
    return float((arr * np.asarray(area)[:, None]).sum())


def test_difference_maps_share_one_symmetric_scale_and_sum_to_the_table(runs):
    base, *alts = runs["results"]
    diffs = [a.maps.cumulative_nbp - base.maps.cumulative_nbp for a in alts]
    bound = symmetric_bound(diffs)
    assert bound == pytest.approx(max(float(np.nanmax(np.abs(d))) for d in diffs))
    assert bound > 0
    # the NBP maps summed over pixel areas are the tables' cumulative NBP (per scenario)
    for name, out in runs["outputs"].items():
        years = range(2010, 2015)
        total = sum(_map_total(out / "spatial" / f"NBP_{y}.tif") for y in years)
        assert total == pytest.approx(runs["metrics"][name]["cumulative_nbp_tc"], rel=1e-4)
    figures = runs["root"] / "reports" / "cmp" / "figures"
    assert {p.name for p in figures.iterdir()} == {"annual.png", "cumulative.png", "maps.png"}


def test_markdown_page_escapes_titles_and_links_its_figures(runs):
    md_path = runs["root"] / "reports" / "scenarios.md"
    text = md_path.read_text()
    assert "No \\*clearcut\\* \\[harvest\\]\\(http\\:" in text and "[harvest](http" not in text
    for link in [line.split("](", 1)[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]:
        assert (md_path.parent / link).is_file(), link
    m = runs["metrics"]["no_clearcut"]["minus_baseline"]["cumulative_nbp_tc"]
    assert f"{m:+,.1f} tC" in text
    assert "Warning" not in text  # same window and area


def test_metrics_json_written(runs):
    written = json.loads((runs["root"] / "reports" / "cmp" / "metrics.json").read_text())
    assert written == json.loads(json.dumps(runs["metrics"]))
    assert not math.isnan(written["wildfire_doubled"]["minus_baseline"]["cumulative_nbp_tc"])


def _spatial(folder: Path, years: range, rows: slice, cols: slice, seed: int) -> dict[str, np.ndarray]:
    """Total_Ecosystem_C and NBP GeoTIFFs on one 10 x 12 grid at 54.6 N, data only in rows x cols (the run's
    footprint); returns the full arrays written (NaN outside)."""
    from rasterio.transform import Affine

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "height": 10, "width": 12, "count": 1, "dtype": "float32", "crs": "EPSG:4326",
               "transform": Affine(0.001, 0.0, -106.0, 0.0, -0.001, 54.6), "nodata": -9999.0}
    written = {}
    for name in ("Total_Ecosystem_C", "NBP"):
        for y in years:
            arr = np.full((10, 12), -9999.0, dtype="float32")
            arr[rows, cols] = rng.uniform(-50, 250, size=arr[rows, cols].shape)
            with rasterio.open(folder / f"{name}_{y}.tif", "w", **profile) as ds:
                ds.write(arr, 1)
            written[f"{name}_{y}"] = np.where(arr == -9999.0, np.nan, arr.astype("float64"))
    return written


def test_maps_of_different_footprints_are_differenced_on_one_grid(tmp_path):
    """read_maps crops each run to its own footprint; a scenario that moves it (here rows 4-9, columns 1-6
    against the baseline's rows 2-6, columns 3-9) is differenced pixel by pixel on the union of the two."""
    from flintcloud.report.scenarios import ScenarioResult, align_maps, difference_maps_figure, map_difference
    from flintcloud.report.summarize import cumulative_map, read_maps

    years = range(2010, 2012)
    base = _spatial(tmp_path / "base", years, slice(2, 7), slice(3, 10), seed=1)
    alt = _spatial(tmp_path / "alt", years, slice(4, 10), slice(1, 7), seed=2)
    maps = [read_maps(tmp_path / name, list(years)) for name in ("base", "alt")]
    assert [m.total_ecosystem_end.shape for m in maps] == [(5, 7), (6, 6)]
    aligned = align_maps(maps)
    union = (slice(2, 10), slice(1, 10))  # rows 2-9, columns 1-9 of the grid
    expected_end = (alt["Total_Ecosystem_C_2011"] - base["Total_Ecosystem_C_2011"])[union]
    expected_nbp = (cumulative_map([alt[f"NBP_{y}"] for y in years])
                    - cumulative_map([base[f"NBP_{y}"] for y in years]))[union]
    end = map_difference(aligned[1].total_ecosystem_end, aligned[0].total_ecosystem_end)
    nbp = map_difference(aligned[1].cumulative_nbp, aligned[0].cumulative_nbp)
    assert end.shape == (8, 9) and np.array_equal(end, expected_end, equal_nan=True)
    assert np.array_equal(nbp, expected_nbp, equal_nan=True)
    assert np.isfinite(end).sum() == 3 * 4  # the overlap only: rows 4-6 x columns 3-6
    assert aligned[0].extent == pytest.approx((-106.0 + 0.001, -106.0 + 0.010, 54.6 - 0.010, 54.6 - 0.002))
    # the comparison's figure draws that difference in that extent
    results = [ScenarioResult(n, n, pd.DataFrame(), {}, maps=m) for n, m in zip(("base", "alt"), maps)]
    ax = difference_maps_figure(results).axes[0]
    assert ax.images[0].get_extent() == pytest.approx(list(aligned[0].extent))
    assert np.array_equal(np.ma.filled(ax.images[0].get_array(), np.nan), expected_end, equal_nan=True)


def test_maps_on_other_grids_are_refused(tmp_path):
    from dataclasses import replace

    from flintcloud.errors import ReportError
    from flintcloud.report.scenarios import align_maps
    from flintcloud.report.summarize import read_maps

    _spatial(tmp_path / "base", range(2010, 2011), slice(2, 7), slice(3, 10), seed=1)
    m = read_maps(tmp_path / "base", [2010])
    a, b, c, d, e, f = m.transform
    with pytest.raises(ReportError, match="offset by a fraction of a pixel"):
        align_maps([m, replace(m, transform=(a, b, c + a / 2, d, e, f))])
    with pytest.raises(ReportError, match="different pixels"):
        align_maps([m, replace(m, transform=(a * 2, b, c, d, e, f))])
