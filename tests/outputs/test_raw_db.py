from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.sqlite_ro import connect_ro
from flintcloud.errors import OutputError
from flintcloud.outputs.raw_db import RawOutputWriter, age_class_ids, age_class_table

from outputs_fixtures import POOLS, make_step, three_stand_run


def _write(path, steps, **kw):
    with RawOutputWriter(path, ["Classifier1", "Classifier2"], **kw) as writer:
        for s in steps:
            writer(s)
    return path


def _q(path, sql):
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query(sql, conn)


def test_schema_matches_gcbm_reference(tmp_path, gcbm_reference_output):
    ours = _write(tmp_path / "gcbm_output.db", three_stand_run())
    ref = gcbm_reference_output / "gcbm_output.db"

    def schema(path):
        with connect_ro(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: [(c[1], c[2]) for c in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}

    assert schema(ours) == schema(ref)


def test_age_classes_match_gcbm_reference(gcbm_reference_output):
    ref = _q(gcbm_reference_output / "gcbm_output.db", "SELECT id, startAge, endAge FROM AgeClassDimension ORDER BY id")
    ours = age_class_table(20, 300)
    assert ours.values.tolist() == ref.values.tolist()


def test_age_class_helper_edges():
    table = age_class_table(20, 290)
    assert table.iloc[-2].tolist() == [16, 280, 289]  # next-to-last class ends at age_maximum - 1
    assert table.iloc[-1].tolist() == [17, 290, -1]
    ids = age_class_ids(np.array([-1, 0, 19, 20, 289, 290, 1000]), 20, 290)
    assert ids.tolist() == [1, 2, 2, 3, 16, 17, 17]


def test_three_stands_star_schema(tmp_path, run_steps):
    db = _write(tmp_path / "out.db", run_steps)
    dates = _q(db, "SELECT * FROM DateDimension ORDER BY id")
    assert dates[["step", "year", "month", "day"]].values.tolist() == [[0, 0, 0, 0], [1, 2010, 1, 1], [2, 2011, 1, 1]]
    assert _q(db, "SELECT * FROM ClassifierSetDimension ORDER BY id").values.tolist() == [[1, "TA", "7"], [2, "BF", "6"]]
    assert _q(db, "SELECT poolName FROM PoolDimension ORDER BY id")["poolName"].tolist() == POOLS

    loc = _q(db, "SELECT * FROM LocationDimension ORDER BY id")
    # step 0 and 1: (TA,7) age 45/46 -> class 40-59 (id 4), (BF,6) 150/151 -> 140-159 (id 9);
    # step 2: stand 1 burnt -> age 0 -> its own location in class 0-19 (id 2).
    assert loc[["classifierSetDimId", "dateDimId", "ageClassDimId", "area"]].values.tolist() == [
        [1, 1, 4, 3.5], [2, 1, 9, 0.25], [1, 2, 4, 3.5], [2, 2, 9, 0.25], [1, 3, 4, 1.5], [1, 3, 2, 2.0], [2, 3, 9, 0.25],
    ]
    ages = _q(db, "SELECT a.locationDimId, a.ageClassDimId, a.area, l.ageClassDimId AS loc_age, l.area AS loc_area "
                  "FROM AgeArea a JOIN LocationDimension l ON l.id = a.locationDimId")
    assert len(ages) == 7 and (ages["ageClassDimId"] == ages["loc_age"]).all() and (ages["area"] == ages["loc_area"]).all()

    # Pools in tC = tC/ha x area, every pool of every location.
    pools = _q(db, "SELECT d.year, p.poolId, SUM(p.poolValue) AS tc FROM Pools p JOIN LocationDimension l "
                   "ON l.id = p.locationDimId JOIN DateDimension d ON d.id = l.dateDimId GROUP BY 1, 2 ORDER BY 1, 2")
    assert len(_q(db, "SELECT * FROM Pools")) == 7 * len(POOLS)
    for i, step in enumerate(run_steps):
        got = pools[pools["year"] == step.year]["tc"].to_numpy()
        np.testing.assert_allclose(got, step.area_ha @ step.pools, rtol=1e-12)

    dist = _q(db, "SELECT * FROM DisturbanceDimension")
    assert dist[["locationDimId", "disturbanceTypeDimId", "previousLocationDimId", "area"]].values.tolist() == [[6, 1, 3, 2.0]]
    assert _q(db, "SELECT * FROM DisturbanceTypeDimension").values.tolist() == [[1, 1, "Wildfire"]]

    fluxes = _q(db, "SELECT f.*, s.poolName AS src, t.poolName AS dst, m.moduleName FROM Fluxes f "
                    "JOIN PoolDimension s ON s.id = f.poolSrcDimId JOIN PoolDimension t ON t.id = f.poolDstDimId "
                    "JOIN ModuleInfoDimension m ON m.id = f.moduleInfoDimId")
    assert len(fluxes) == 13  # zero fluxes are not recorded, none at step 0
    assert (fluxes["fluxValue"] != 0).all()
    assert fluxes["locationDimId"].min() >= 3
    burnt = fluxes[fluxes["disturbanceDimId"].notna()]
    assert sorted(burnt[["src", "dst", "fluxValue"]].values.tolist()) == [
        ["SoftwoodMerch", "CO2", 60.0], ["SoftwoodMerch", "SoftwoodStemSnag", 20.0]]
    assert set(burnt["moduleName"]) == {"CBMDisturbanceEventModule"}
    assert (burnt["locationDimId"] == 6).all()
    neg = fluxes[(fluxes["src"] == "Atmosphere") & (fluxes["dst"] == "HardwoodMerch") & (fluxes["locationDimId"] == 4)]
    assert neg["fluxValue"].tolist() == [-0.0625]
    total = fluxes.groupby("moduleName")["fluxValue"].sum()
    assert total["CBMGrowthModule"] == pytest.approx(7 + 1.75 - 0.0625 + 3 + 0.75 - 0.0625)
    assert total["CBMDecayModule"] == pytest.approx(3.5 + 0.75 + 1.5 + 2.0 + 0.75)
    mods = _q(db, "SELECT * FROM ModuleInfoDimension ORDER BY id")
    assert mods.values.tolist() == [
        [1, 3, 11, 0, 6, "CBMGrowthModule"], [2, 3, 11, 5, 7, "CBMDecayModule"], [3, 3, 11, 1, 3, "CBMDisturbanceEventModule"]]
    assert _q(db, "SELECT COUNT(*) AS n FROM ErrorDimension")["n"][0] == 0


def test_classifier_columns_in_name_order_like_gcbm(tmp_path, run_steps):
    """GCBM's demo config lists Classifier2 before Classifier1; its db has Classifier1 first."""
    with RawOutputWriter(tmp_path / "o.db", ["Classifier2", "Classifier1"]) as writer:
        for s in run_steps:
            writer(s)
    csets = _q(tmp_path / "o.db", "SELECT * FROM ClassifierSetDimension ORDER BY id")
    assert list(csets.columns) == ["id", "Classifier1", "Classifier2"]
    assert csets.values.tolist() == [[1, "TA", "7"], [2, "BF", "6"]]


def test_null_classifier_values_and_land_classes(tmp_path):
    pools = np.ones((3, len(POOLS)))
    step = make_step(0, pools=pools, age=[1, 2, 3], classifiers=[("TA", None), ("TA", None), ("TA", "7")],
                     land_class=["UNFCCC_FL_R_FL", "UNFCCC_CL_R_CL", "UNFCCC_FL_R_FL"])
    db = _write(tmp_path / "out.db", [step])
    csets = _q(db, "SELECT * FROM ClassifierSetDimension ORDER BY id")
    assert csets["Classifier2"].isna().tolist() == [True, False]
    assert _q(db, "SELECT name FROM LandClassDimension ORDER BY id")["name"].tolist() == ["UNFCCC_FL_R_FL", "UNFCCC_CL_R_CL"]
    assert len(_q(db, "SELECT * FROM LocationDimension")) == 3


def test_failed_run_keeps_previous_output(tmp_path, run_steps):
    target = tmp_path / "gcbm_output.db"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="engine blew up"):
        with RawOutputWriter(target, ["Classifier1", "Classifier2"]) as writer:
            writer(run_steps[0])
            raise RuntimeError("engine blew up")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gcbm_output.db"]


def test_steps_out_of_order_and_bad_shapes(tmp_path, run_steps):
    writer = RawOutputWriter(tmp_path / "a.db", ["Classifier1", "Classifier2"])
    with pytest.raises(OutputError, match="expected StepOutput step 0"):
        writer(run_steps[1])
    assert not (tmp_path / "a.db").exists()

    bad = run_steps[0]
    bad.pools = bad.pools[:, :-1]
    with pytest.raises(OutputError, match=r"StepOutput.pools of step 0 has shape"):
        RawOutputWriter(tmp_path / "b.db", ["Classifier1", "Classifier2"])(bad)

    with pytest.raises(OutputError, match="lacks classifier column"):
        RawOutputWriter(tmp_path / "c.db", ["Species"])(three_stand_run()[0])

    with pytest.raises(OutputError, match="no StepOutput was reported"):
        RawOutputWriter(tmp_path / "d.db", ["Classifier1"]).close()
    assert list(tmp_path.iterdir()) == []


def test_disturbance_flux_without_disturbance_is_an_error(tmp_path, run_steps):
    run_steps[2].disturbance_type_id[:] = 0
    with pytest.raises(OutputError, match="disturbance fluxes on stands with disturbance_type_id 0"):
        _write(tmp_path / "x.db", run_steps)
    assert not (tmp_path / "x.db").exists()


def test_many_stands_aggregate_like_pandas(tmp_path):
    """20,000 random stands: location areas and pool totals equal a pandas groupby of the stands."""
    rng = np.random.default_rng(3)
    n = 20_000
    classifiers = list(zip(rng.choice(["TA", "BF", "BP", None], n), rng.choice(["5", "6", "7"], n)))
    age = rng.integers(0, 320, n)
    area = rng.uniform(0.04, 0.08, n)
    pools = rng.uniform(0, 50, (n, len(POOLS)))
    step = make_step(0, pools=pools, age=age, classifiers=classifiers, area=area)
    db = _write(tmp_path / "big.db", [step])
    got = _q(db, "SELECT c.Classifier1 AS c1, c.Classifier2 AS c2, a.startAge AS start, l.area, "
                 "(SELECT SUM(poolValue) FROM Pools p WHERE p.locationDimId = l.id AND p.poolId = 5) AS merch "
                 "FROM LocationDimension l JOIN ClassifierSetDimension c ON c.id = l.classifierSetDimId "
                 "JOIN AgeClassDimension a ON a.id = l.ageClassDimId")
    df = pd.DataFrame({"c1": [c[0] for c in classifiers], "c2": [c[1] for c in classifiers],
                       "start": np.where(age >= 300, 300, age // 20 * 20), "area": area, "merch": pools[:, 4] * area})
    want = df.groupby(["c1", "c2", "start"], dropna=False)[["area", "merch"]].sum().reset_index()
    merged = want.merge(got, on=["c1", "c2", "start"], how="outer", suffixes=("_want", "_got"))
    assert len(merged) == len(want) == len(got)
    np.testing.assert_allclose(merged["area_got"], merged["area_want"], rtol=1e-12)
    np.testing.assert_allclose(merged["merch_got"], merged["merch_want"], rtol=1e-12)
    assert got["c1"].isna().any()  # a missing classifier value is NULL, its own set
