from __future__ import annotations

import contextlib
import sqlite3

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from gcbm_schema_db import write_gcbm_raw_db

from flintcloud.cli import main
from flintcloud.errors import ConfigError, DatabaseError
from flintcloud.outputs.compile import compile_results, default_indicators, read_compiled_table

A, B = ("SW", "good"), ("HW", "poor")
LOCATIONS = [  # id, classifier set, date id (1 = year 0, 2 = 2010, 3 = 2011), age class id, area
    (1, A, 1, 3, 10.0), (2, B, 1, 4, 5.0),
    (3, A, 2, 3, 10.0), (4, B, 2, 4, 5.0),
    (5, A, 3, 3, 6.0), (6, A, 3, 2, 4.0), (7, B, 3, 4, 5.0),
]
POOLS = [
    (1, "SoftwoodMerch", 100.0), (1, "AboveGroundSlowSoil", 50.0), (2, "HardwoodMerch", 40.0), (2, "AboveGroundSlowSoil", 20.0),
    (3, "SoftwoodMerch", 110.0), (3, "AboveGroundSlowSoil", 48.0), (4, "HardwoodMerch", 39.0), (4, "AboveGroundSlowSoil", 19.0),
    (5, "SoftwoodMerch", 72.0), (5, "AboveGroundSlowSoil", 27.6), (6, "SoftwoodMerch", 8.0), (6, "AboveGroundSlowSoil", 18.4),
    (7, "HardwoodMerch", 41.0), (7, "AboveGroundSlowSoil", 18.0),
]
FLUXES = [
    (3, "CBMGrowthModule", None, "Atmosphere", "SoftwoodMerch", 10.0),
    (3, "CBMDecayModule", None, "AboveGroundSlowSoil", "CO2", 2.0),
    (4, "CBMGrowthModule", None, "Atmosphere", "HardwoodMerch", -1.0),  # negative growth
    (4, "CBMDecayModule", None, "AboveGroundSlowSoil", "CO2", 1.0),
    (5, "CBMGrowthModule", None, "Atmosphere", "SoftwoodMerch", 6.0),
    (5, "CBMDecayModule", None, "AboveGroundSlowSoil", "CO2", 1.2),
    (6, "CBMGrowthModule", None, "Atmosphere", "SoftwoodMerch", 4.0),
    (6, "CBMDecayModule", None, "AboveGroundSlowSoil", "CO2", 0.8),
    (6, "CBMDisturbanceEventModule", 1, "SoftwoodMerch", "CO2", 30.0),
    (6, "CBMDisturbanceEventModule", 1, "SoftwoodMerch", "Products", 10.0),
    (7, "CBMGrowthModule", None, "Atmosphere", "HardwoodMerch", 2.0),
    (7, "CBMDecayModule", None, "AboveGroundSlowSoil", "CO2", 1.0),
]
DISTURBANCES = [(1, 6, 1, 3, 4.0)]

GCBM_TABLES = {
    "v_pool_indicators", "v_flux_indicators", "v_flux_indicator_aggregates", "v_stock_change_indicators",
    "v_age_indicators", "v_error_indicators", "v_total_disturbed_areas", "v_disturbance_indicators",
    "v_disturbance_fluxes", "v_flux_indicators_density", "v_flux_indicator_aggregates_density",
    "v_stock_change_indicators_density",
}


@pytest.fixture
def small_raw(tmp_path):
    return write_gcbm_raw_db(tmp_path / "raw.db", LOCATIONS, POOLS, FLUXES, DISTURBANCES)


def _by_year(df, indicator, value="flux_tc"):
    return df[df["indicator"] == indicator].groupby("year")[value].sum().to_dict()


def test_small_raw_db_indicator_values(small_raw, tmp_path):
    out = compile_results(small_raw, tmp_path / "compiled.db")
    with contextlib.closing(sqlite3.connect(out)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == GCBM_TABLES  # only the reporting tables, no helper tables

    pools = read_compiled_table(out, "v_pool_indicators")
    assert list(pools.columns) == [
        "indicator_id", "Species", "Site", "unfccc_land_class", "indicator", "year", "age_range", "pool_tc"]
    assert _by_year(pools, "Total Ecosystem", "pool_tc") == pytest.approx({2010: 216.0, 2011: 185.0})
    assert _by_year(pools, "Total Biomass", "pool_tc") == pytest.approx({2010: 149.0, 2011: 121.0})
    assert _by_year(pools, "Litter", "pool_tc") == pytest.approx({2010: 67.0, 2011: 64.0})
    assert 0 not in set(pools["year"])  # the post-spinup state is not reported

    sc = read_compiled_table(out, "v_stock_change_indicators")
    # 2011: NBP = gross growth 12 - (production 10 + DOM emissions 3 + biomass emissions 30) = Delta Total Ecosystem.
    assert _by_year(sc, "NBP")[2011] == pytest.approx(185.0 - 216.0)
    assert _by_year(sc, "NEP")[2011] == pytest.approx(9.0)
    assert _by_year(sc, "Rh") == pytest.approx({2010: 3.0, 2011: 3.0})
    assert _by_year(sc, "Total Emissions")[2011] == pytest.approx(33.0)
    assert _by_year(sc, "Disturbance Losses") == pytest.approx({2011: 40.0})
    # GCBM.CompileResults drops flux groups whose total is not positive: the HW stand's negative
    # growth in 2010 is not in NPP, so NBP 2010 is 10 - 3 and not the stock change (6).
    assert _by_year(sc, "NPP") == pytest.approx({2010: 10.0, 2011: 12.0})
    assert _by_year(sc, "NBP")[2010] == pytest.approx(7.0)
    npp = sc[(sc["indicator"] == "NPP") & (sc["year"] == 2010)]
    assert npp["Species"].tolist() == ["SW"]

    flux = read_compiled_table(out, "v_flux_indicators")
    fire = flux[flux["indicator"] == "BioCO2Emission"]
    assert fire[["year", "disturbance_code", "disturbance_type", "age_range", "flux_tc"]].values.tolist() == [
        [2011, 1, "Wildfire", "0-19", 30.0]]
    decay = flux[(flux["indicator"] == "DOMCO2Emission - Annual Process") & (flux["year"] == 2011)]
    assert decay["disturbance_code"].isna().all() and decay["flux_tc"].sum() == pytest.approx(3.0)

    ages = read_compiled_table(out, "v_age_indicators")
    assert ages.groupby("year")["area"].sum().to_dict() == pytest.approx({2010: 15.0, 2011: 15.0})
    assert sorted(ages[ages["year"] == 2011]["age_range"]) == ["0-19", "20-39", "40-59"]

    dist = read_compiled_table(out, "v_disturbance_indicators")
    assert dist[["Species", "Species_previous", "year", "pre_dist_age_range", "post_dist_age_range",
                 "dist_area", "dist_carbon", "dist_carbon_per_ha"]].values.tolist() == [
        ["SW", "SW", 2011, "20-39", "0-19", 4.0, 40.0, 10.0]]
    assert read_compiled_table(out, "v_total_disturbed_areas")["dist_area"].tolist() == [4.0]
    dflux = read_compiled_table(out, "v_disturbance_fluxes")
    assert sorted(dflux[["from_pool", "to_pool", "flux_tc"]].values.tolist()) == [
        ["SoftwoodMerch", "CO2", 30.0], ["SoftwoodMerch", "Products", 10.0]]

    dens = read_compiled_table(out, "v_stock_change_indicators_density")
    nbp = dens[dens["indicator"] == "NBP"].set_index("year")
    assert nbp.loc[2011, "flux_tc_per_ha"] == pytest.approx(-31.0 / 15.0)


def test_custom_indicators_case_insensitive(small_raw, tmp_path):
    indicators = {
        "pool_collections": {"Merch": ["SoftwoodMerch", "HardwoodMerch"], "air": ["CO2"], "sky": ["Atmosphere"]},
        "fluxes": {
            "Growth": {"source": "annual process", "from": "SKY", "to": "merch"},
            "Burn": {"source": "Disturbance", "from": "Merch", "to": "Air"},
            "Orphan": {"source": "Combined", "from": "Merch", "to": "no such collection"},
        },
        "flux_collections": {"All growth": ["Growth"], "Fire": ["Burn", "Orphan"]},
        "stock_changes": {"Net": {"+": ["All growth"], "-": ["Fire"]}},
        "pool_indicators": {"Merchantable": "MERCH"},
    }
    out = compile_results(small_raw, tmp_path / "c.db", indicators)
    sc = read_compiled_table(out, "v_stock_change_indicators")
    assert _by_year(sc, "Net") == pytest.approx({2010: 10.0, 2011: 12.0 - 30.0})
    assert _by_year(read_compiled_table(out, "v_pool_indicators"), "Merchantable", "pool_tc") == pytest.approx(
        {2010: 149.0, 2011: 121.0})


def test_errors_leave_previous_output(small_raw, tmp_path):
    target = tmp_path / "compiled.db"
    target.write_bytes(b"old")
    with pytest.raises(DatabaseError, match="does not exist"):
        compile_results(tmp_path / "missing.db", target)
    not_raw = tmp_path / "notraw.db"
    with contextlib.closing(sqlite3.connect(not_raw)) as conn:
        conn.execute("CREATE TABLE Pools (id)")
    with pytest.raises(DatabaseError, match=r"notraw.db.*table\(s\) \['AgeArea'"):
        compile_results(not_raw, target)
    bad = default_indicators()
    bad["fluxes"]["NPPish"] = {"source": "Sometimes", "from": "CO2", "to": "CO2"}
    with pytest.raises(ConfigError, match="'NPPish' has source 'Sometimes'"):
        compile_results(small_raw, target, bad)
    with pytest.raises(ConfigError, match=r"section\(s\) \['stock_changes'\]"):
        compile_results(small_raw, target, {k: v for k, v in default_indicators().items() if k != "stock_changes"})
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compiled.db", "notraw.db", "raw.db"]


def test_cli_compile(small_raw, tmp_path):
    out = tmp_path / "compiled.db"
    runner = CliRunner()
    res = runner.invoke(main, ["compile", str(small_raw), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(read_compiled_table(out, "v_age_indicators")) == 5
    again = runner.invoke(main, ["compile", str(small_raw), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in str(again.exception)
    assert runner.invoke(main, ["compile", str(small_raw), "--out", str(out), "--overwrite"]).exit_code == 0


def test_gcbm_reference_output(gcbm_reference_output, tmp_path):
    """GCBM's own raw output for the FLINT.Cloud demo compiles with mass balance and constant area.

    Row counts are those GCBM.CompileResults itself gives for this db (checked once with its
    compileresults.py; every row and value matched to 4e-11 relative).
    """
    out = compile_results(gcbm_reference_output / "gcbm_output.db", tmp_path / "compiled.db")
    counts = {t: len(read_compiled_table(out, t)) for t in GCBM_TABLES}
    assert counts == {
        "v_flux_indicators": 2726, "v_flux_indicator_aggregates": 2221, "v_stock_change_indicators": 2004,
        "v_pool_indicators": 1100, "v_age_indicators": 110, "v_error_indicators": 0, "v_total_disturbed_areas": 10,
        "v_disturbance_indicators": 10, "v_disturbance_fluxes": 227, "v_flux_indicators_density": 352,
        "v_flux_indicator_aggregates_density": 240, "v_stock_change_indicators_density": 218,
    }
    pools = read_compiled_table(out, "v_pool_indicators")
    sc = read_compiled_table(out, "v_stock_change_indicators")
    te = pd.Series(_by_year(pools, "Total Ecosystem", "pool_tc")).sort_index()
    nbp = pd.Series(_by_year(sc, "NBP")).sort_index()
    assert list(te.index) == list(range(2010, 2021))
    delta = te.diff().dropna()
    rel = ((delta - nbp.loc[delta.index]).abs() / nbp.loc[delta.index].abs()).max()
    assert rel < 1e-6
    ages = read_compiled_table(out, "v_age_indicators").groupby("year")["area"].sum()
    np.testing.assert_allclose(ages.to_numpy(), 510.620353071146, rtol=1e-12)
    assert len(ages) == 11
    with contextlib.closing(sqlite3.connect(gcbm_reference_output / "gcbm_output.db")) as conn:
        raw_dist = conn.execute("SELECT SUM(area) FROM DisturbanceDimension").fetchone()[0]
    assert read_compiled_table(out, "v_total_disturbed_areas")["dist_area"].sum() == pytest.approx(raw_dist, rel=1e-12)
    fire = read_compiled_table(out, "v_disturbance_indicators")
    assert set(fire["disturbance_type"]) == {
        "Wildfire", "Mountain pine beetle — Low impact", "Mountain pine beetle — Very severe impact"}


# GCBM.CompileResults' join for v_flux_indicators, written plainly: the oracle for the streaming version.
ORACLE_FLUX_SQL = """
SELECT fi.id AS flux_indicator_id, l.Species, l.Site, l.land_class AS unfccc_land_class, fi.name AS indicator,
       l.year, dt.disturbanceType AS disturbance_code, dt.disturbanceTypeName AS disturbance_type, l.age_range,
       SUM(CASE WHEN fi.change_type = 'annual process' AND f.disturbanceDimId IS NULL THEN f.fluxValue
                WHEN fi.change_type = 'disturbance' AND f.disturbanceDimId IS NOT NULL THEN f.fluxValue
                WHEN fi.change_type = 'combined' THEN f.fluxValue ELSE 0 END) AS flux_tc
FROM temp.flux_indicator fi
JOIN temp.collection_pool src ON src.collection = fi.source_collection
JOIN temp.collection_pool snk ON snk.collection = fi.sink_collection
JOIN raw.Fluxes f ON f.poolSrcDimId = src.pool_id AND f.poolDstDimId = snk.pool_id
JOIN temp.location l ON l.location_id = f.locationDimId
LEFT JOIN raw.DisturbanceDimension di ON di.id = f.disturbanceDimId
LEFT JOIN raw.DisturbanceTypeDimension dt ON dt.id = di.disturbanceTypeDimId
GROUP BY fi.id, l.Species, l.Site, l.land_class, fi.name, dt.disturbanceType, dt.disturbanceTypeName, l.age_range, l.year
HAVING flux_tc > 0
"""


def test_streaming_flux_indicators_equal_the_sql_join(tmp_path, monkeypatch):
    """Random raw db: several locations per reporting group, NULL classifiers, negative and orphan
    disturbance fluxes, a location without age class; chunks smaller than the table."""
    import flintcloud.outputs.compile as compile_mod

    rng = np.random.default_rng(11)
    csets = [("SW", "good"), ("SW", None), ("HW", "poor")]
    locations, pools, fluxes = [], [], []
    names = ["AboveGroundSlowSoil", "Atmosphere", "CO2", "HardwoodMerch", "Products", "SoftwoodMerch"]
    for i in range(1, 61):
        locations.append((i, csets[i % 3], 1 + i % 3, 2 + (i // 3) % 3, float(rng.uniform(1, 5))))
        pools += [(i, p, float(rng.choice([0.0, rng.uniform(0, 9)]))) for p in rng.choice(names, 3, replace=False)]
        for _ in range(8):
            dist = int(rng.choice([0, 0, 1, 2, 99])) or None  # 99: no DisturbanceDimension row
            src, dst = rng.choice(names, 2, replace=False)
            fluxes.append((i, "CBMDisturbanceEventModule" if dist else "CBMGrowthModule", dist, src, dst,
                           float(rng.normal(1.0, 2.0))))
    disturbances = [(1, 10, 1, 7, 2.0), (2, 20, 2, 8, 3.0)]
    raw = write_gcbm_raw_db(tmp_path / "raw.db", locations, pools, fluxes, disturbances,
                            dist_types=((1, 1, "Wildfire"), (2, 136, "Mountain pine beetle")))
    with contextlib.closing(sqlite3.connect(raw)) as conn:
        conn.execute("UPDATE LocationDimension SET ageClassDimId = NULL WHERE id = 5")
        conn.commit()

    captured = {}
    original = compile_mod._create_flux_indicators

    def spy(conn, classifiers, groups):
        original(conn, classifiers, groups)
        conn.execute(f"CREATE TEMP TABLE oracle_fi AS {ORACLE_FLUX_SQL}")
        captured["oracle"] = pd.read_sql_query("SELECT * FROM oracle_fi", conn)
        captured["pools"] = pd.read_sql_query(
            "SELECT pi.id AS indicator_id, l.Species, l.Site, l.land_class AS unfccc_land_class, pi.name AS indicator, "
            "l.year, l.age_range, SUM(p.poolValue) AS pool_tc FROM temp.pool_indicator pi "
            "JOIN temp.collection_pool cp ON cp.collection = pi.collection JOIN raw.Pools p ON p.poolId = cp.pool_id "
            "JOIN temp.location l ON l.location_id = p.locationDimId WHERE l.year > 0 "
            "GROUP BY pi.id, pi.name, l.year, l.age_range, l.Species, l.Site, l.land_class", conn)
        conn.execute(
            "CREATE TEMP TABLE oracle_agg AS SELECT fc.id AS flux_indicator_collection_id, fc.name AS indicator, "
            "fi.year, fi.Species, fi.Site, fi.unfccc_land_class, fi.age_range, SUM(fi.flux_tc) AS flux_tc "
            "FROM temp.flux_collection fc JOIN temp.flux_collection_member m ON m.collection_id = fc.id "
            "JOIN oracle_fi fi ON fi.flux_indicator_id = m.flux_indicator_id "
            "GROUP BY fc.id, fc.name, fi.year, fi.Species, fi.Site, fi.unfccc_land_class, fi.age_range")
        captured["agg"] = pd.read_sql_query("SELECT * FROM oracle_agg", conn)
        captured["stock"] = pd.read_sql_query(
            "SELECT sc.name AS indicator, a.Species, a.Site, a.unfccc_land_class, a.year, a.age_range, "
            "SUM(a.flux_tc * sc.sign) AS flux_tc FROM temp.stock_change sc JOIN oracle_agg a "
            "ON a.flux_indicator_collection_id = sc.collection_id "
            "GROUP BY sc.name, a.Species, a.Site, a.unfccc_land_class, a.age_range, a.year", conn)

    monkeypatch.setattr(compile_mod, "FLUX_CHUNK_ROWS", 37)
    monkeypatch.setattr(compile_mod, "_create_flux_indicators", spy)
    out = compile_results(raw, tmp_path / "c.db")
    ours = read_compiled_table(out, "v_flux_indicators")
    oracle = captured["oracle"]
    keys = [c for c in ours.columns if c != "flux_tc"]
    assert len(oracle) > 50 and oracle["disturbance_code"].notna().any() and oracle["Site"].isna().any()
    merged = oracle.merge(ours, on=keys, how="outer", suffixes=("_sql", "_ours"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["flux_tc_ours"], merged["flux_tc_sql"], rtol=1e-12)
    for table, name, value in (("v_flux_indicator_aggregates", "agg", "flux_tc"),
                               ("v_stock_change_indicators", "stock", "flux_tc"), ("v_pool_indicators", "pools", "pool_tc")):
        ours = read_compiled_table(out, table)
        want = captured[name]
        assert len(want) > 20 and list(want.columns) == list(ours.columns)
        keys = [c for c in ours.columns if c != value]
        merged = want.merge(ours, on=keys, how="outer", suffixes=("_sql", "_ours"), indicator=True)
        assert (merged["_merge"] == "both").all(), (table, merged[merged["_merge"] != "both"])
        np.testing.assert_allclose(merged[f"{value}_ours"], merged[f"{value}_sql"], rtol=1e-12, atol=1e-12)
    assert any(v == 0.0 for _, _, v in pools)  # zero pool values join like any other
