"""libcbm engine: grouping is exact, mass balance holds, bad inputs are named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from flintcloud.engine import simulate
from flintcloud.engine.libcbm_engine import match_growth_curves
from flintcloud.engine.step import DISTURBANCE, StepTotals
from flintcloud.errors import DatabaseError, EngineUnavailableError, SimulationError
from flintcloud.landscape.grid import pixel_area_ha

ECOSYSTEM = {
    "SoftwoodMerch", "SoftwoodFoliage", "SoftwoodOther", "SoftwoodCoarseRoots", "SoftwoodFineRoots",
    "HardwoodMerch", "HardwoodFoliage", "HardwoodOther", "HardwoodCoarseRoots", "HardwoodFineRoots",
    "AboveGroundVeryFastSoil", "BelowGroundVeryFastSoil", "AboveGroundFastSoil", "BelowGroundFastSoil",
    "MediumSoil", "AboveGroundSlowSoil", "BelowGroundSlowSoil",
    "SoftwoodStemSnag", "SoftwoodBranchSnag", "HardwoodStemSnag", "HardwoodBranchSnag",
}


def _ungrouped(stands):
    """One stand per pixel, each with its own pixel area and copies of its stand's events."""
    rows, cols = np.nonzero(stands.pixel_stand >= 0)
    sid = stands.pixel_stand[rows, cols]
    area = pixel_area_ha(stands.grid)[rows]
    st = stands.stands.iloc[sid].reset_index(drop=True).copy()
    st["area_ha"] = area
    st["n_pixels"] = 1
    ev = stands.events.merge(pd.DataFrame({"stand_id": sid, "pixel": np.arange(len(sid))}), on="stand_id")
    ev = ev.drop(columns="stand_id").rename(columns={"pixel": "stand_id"})
    return dataclasses.replace(stands, stands=st, events=ev.reset_index(drop=True))


def test_grouped_equals_ungrouped(demo_run_inputs):
    config, stands, db = demo_run_inputs
    grouped, pixels = StepTotals(), StepTotals()
    simulate(config, stands, db, [grouped], progress=False)
    ungrouped = _ungrouped(stands)
    assert len(ungrouped.stands) == stands.n_pixels == 11347
    simulate(config, ungrouped, db, [pixels], progress=False)
    a, b = grouped.pool_frame(), pixels.pool_frame()
    m = a.merge(b, on=["year", "pool"], suffixes=("_g", "_u"))
    assert len(m) == len(a) == len(b) == 12 * 30
    rel = (m["value_g"] - m["value_u"]).abs() / m["value_u"].abs().clip(lower=1e-9)
    assert rel.max() < 1e-12, m.loc[rel.idxmax()]
    fa, fb = grouped.flux_frame(), pixels.flux_frame()
    fm = fa.merge(fb, on=["year", "module", "source", "sink", "disturbance_type_id"], how="outer")
    frel = (fm["value_x"] - fm["value_y"]).abs() / fm["value_y"].abs().clip(lower=1e-9)
    assert frel.max() < 1e-12, fm.loc[frel.idxmax()]
    assert grouped.disturbed_area.keys() == pixels.disturbed_area.keys()
    for k, v in grouped.disturbed_area.items():
        assert v == pytest.approx(pixels.disturbed_area[k], rel=1e-12)


def test_mass_balance_every_year(demo_run_inputs):
    config, stands, db = demo_run_inputs
    steps = []
    simulate(config, stands, db, [steps.append], progress=False)
    assert [s.year for s in steps] == [0] + list(range(2010, 2021))
    for prev, cur in zip(steps, steps[1:]):
        eco = [i for i, n in enumerate(cur.pool_names) if n in ECOSYSTEM]
        delta = cur.area_ha @ cur.pools[:, eco].sum(axis=1) - prev.area_ha @ prev.pools[:, eco].sum(axis=1)
        into = np.array([(k.source not in ECOSYSTEM) and (k.sink in ECOSYSTEM) for k in cur.flux_keys])
        out = np.array([(k.source in ECOSYSTEM) and (k.sink not in ECOSYSTEM) for k in cur.flux_keys])
        nbp = cur.area_ha @ (cur.fluxes[:, into].sum(axis=1) - cur.fluxes[:, out].sum(axis=1))
        assert abs(delta - nbp) <= 1e-6 * max(abs(nbp), 1.0), (cur.year, delta, nbp)
    # disturbances happen, and reset age as transition 1 says (absolute age 0)
    hit = steps[2].disturbance_type_id > 0  # 2011
    assert hit.any() and (steps[2].age[hit] == 1).all()  # reset to 0, then grew one year
    assert any(k.flux_source == DISTURBANCE for k in steps[2].flux_keys)


def test_unknown_disturbance_type_is_named(demo_run_inputs):
    config, stands, db = demo_run_inputs
    ev = stands.events.copy()
    ev["disturbance_type"] = ev["disturbance_type"].astype(object)
    ev.loc[0, "disturbance_type"] = "Alien invasion"
    ev["disturbance_type_id"] = np.nan
    bad = dataclasses.replace(stands, events=ev)
    with pytest.raises(DatabaseError, match="'Alien invasion'.*disturbance_type"):
        simulate(config, bad, db, [], progress=False)


def test_classifier_set_without_growth_curve_is_named(demo_run_inputs):
    _, stands, db = demo_run_inputs
    cls = stands.stands[stands.classifier_names].astype(str).copy()
    assert (match_growth_curves(db, cls) > 0).all()
    cls.iloc[0, cls.columns.get_loc("Classifier1")] = "XX"
    with pytest.raises(SimulationError, match="no growth curve for classifier set .*'XX'.*growth_curve_classifier_value"):
        match_growth_curves(db, cls)


def test_unknown_engine(demo_run_inputs):
    config, stands, db = demo_run_inputs
    with pytest.raises(EngineUnavailableError, match="'nope'"):
        simulate(config, stands, db, [], engine="nope")


def _belize(belize_project):
    from flintcloud.run import prepare_run

    prepared = prepare_run(belize_project / "gcbm_project")  # the same reading path as flintcloud run
    config, stands, db = prepared.config, prepared.stands, prepared.inputs
    return config, stands, db


class _Balance:
    """Reporter: worst |dTotalEcosystem - NBP| / |NBP| over the years, landscape totals."""

    def __init__(self):
        self.prev = None
        self.worst = 0.0
        self.years = []
        self.area = []

    def __call__(self, s):
        eco = [i for i, n in enumerate(s.pool_names) if n in ECOSYSTEM]
        total = s.area_ha @ s.pools[:, eco].sum(axis=1)
        into = np.array([(k.source not in ECOSYSTEM) and (k.sink in ECOSYSTEM) for k in s.flux_keys])
        out = np.array([(k.source in ECOSYSTEM) and (k.sink not in ECOSYSTEM) for k in s.flux_keys])
        nbp = s.area_ha @ (s.fluxes[:, into].sum(axis=1) - s.fluxes[:, out].sum(axis=1))
        if self.prev is not None:
            self.worst = max(self.worst, abs(total - self.prev - nbp) / max(abs(nbp), 1e-9))
        self.prev = total
        self.years.append(s.year)
        self.area.append(float(s.area_ha.sum()))


def _check_belize(config, stands, db):
    balance = _Balance()
    summary = simulate(config, stands, db, [balance], progress=False)
    assert balance.years == [0] + list(range(1900, 2051))
    assert balance.worst < 1e-6
    assert max(balance.area) == min(balance.area) == pytest.approx(stands.area_ha, rel=1e-12)
    assert summary.years == 151 and summary.n_stands == len(stands.stands)
    return balance


def test_belize_sample_mass_balance(belize_project):
    """Belize (1900-2050, LifeZone classifier): every 20th stand, mass balance every year."""
    config, stands, db = _belize(belize_project)
    keep = np.arange(0, len(stands.stands), 20)
    sample = dataclasses.replace(
        stands, stands=stands.stands.iloc[keep].reset_index(drop=True), events=stands.events.iloc[0:0]
    )
    assert sample.stands["LifeZone"].nunique() > 1
    _check_belize(config, sample, db)


@pytest.mark.slow
def test_belize_full_mass_balance(belize_project):
    config, stands, db = _belize(belize_project)
    assert stands.n_pixels == 18320
    _check_belize(config, stands, db)


def _run_steps(config, stands, db):
    steps = []
    simulate(config, stands, db, [steps.append], progress=False)
    return steps


def test_deforestation_stops_growth_and_changes_land_class(demo_run_inputs):
    """A land-class transition (Deforestation -> OL): no growth afterwards, UNFCCC_FL_R_OL, decay goes on."""
    config, stands, db = demo_run_inputs
    ev = stands.events.copy()
    ev["disturbance_type"] = ev["disturbance_type"].astype(object)
    first = ev.index[ev["year"] == 2011][0]
    sid = int(ev.loc[first, "stand_id"])
    ev.loc[first, "disturbance_type"] = "Deforestation"
    ev.loc[first, "disturbance_type_id"] = db.disturbance_type_id("Deforestation")
    steps = _run_steps(config, dataclasses.replace(stands, events=ev), db)
    growth = [i for i, k in enumerate(steps[1].flux_keys) if k.source == "Atmosphere"]
    decay = [i for i, k in enumerate(steps[1].flux_keys) if k.module == "CBMDecayModule"]
    assert steps[1].fluxes[sid, growth].sum() > 0  # 2010: still forest
    assert steps[1].land_class[sid] == "UNFCCC_FL_R_FL"
    for s in steps[2:]:  # 2011 on
        assert s.land_class[sid] == "UNFCCC_FL_R_OL"
        assert s.fluxes[sid, growth].sum() == 0.0
        assert s.fluxes[sid, decay].sum() > 0
    others = np.array([i for i in range(len(stands.stands)) if i != sid])
    assert set(steps[-1].land_class[others]) == {"UNFCCC_FL_R_FL"}


def test_negative_initial_age_is_a_regeneration_delay(demo_run_inputs):
    config, stands, db = demo_run_inputs
    st = stands.stands.copy()
    sid = int(np.flatnonzero(st["age"].to_numpy() == 0)[0])
    st.loc[sid, "age"] = -3
    steps = _run_steps(config, dataclasses.replace(stands, stands=st, events=stands.events.iloc[0:0]), db)
    growth = [i for i, k in enumerate(steps[1].flux_keys) if k.module == "CBMGrowthModule"]
    assert [s.fluxes[sid, growth].sum() == 0 for s in steps[1:5]] == [True, True, True, False]
    assert [int(s.age[sid]) for s in steps[:6]] == [0, 0, 0, 0, 1, 2]


def test_unknown_spatial_unit_and_missing_temperature_are_named(demo_run_inputs):
    config, stands, db = demo_run_inputs
    st = stands.stands.copy()
    st.loc[0, "spatial_unit_id"] = 99999
    with pytest.raises(SimulationError, match=r"spatial unit id\(s\) \[99999\].*spatial_unit"):
        simulate(config, dataclasses.replace(stands, stands=st), db, [], progress=False)
    st = stands.stands.copy()
    st.loc[1, "mean_annual_temperature"] = np.nan
    with pytest.raises(SimulationError, match="1 stand.*no mean annual temperature"):
        simulate(config, dataclasses.replace(stands, stands=st), db, [], progress=False)


def test_overmature_stand_fluxes_account_for_every_pool(demo_run_inputs):
    """A stand on the declining part of its curve (WB/7 declines from age 200): GCBM moves the decline
    to DOM inside CBMGrowthModule, so each pool's change equals its recorded inflows minus outflows."""
    config, stands, db = demo_run_inputs
    st = stands.stands.copy()
    sid = int(np.flatnonzero((st["Classifier1"] == "WB").to_numpy())[0])
    st.loc[sid, "age"] = 205
    steps = _run_steps(config, dataclasses.replace(stands, stands=st, events=stands.events.iloc[0:0]), db)
    names = steps[0].pool_names
    keys = steps[1].flux_keys
    for prev, cur in zip(steps[1:], steps[2:]):
        for j, pool in enumerate(names):
            if pool not in ECOSYSTEM:
                continue
            inflow = sum(cur.fluxes[sid, i] for i, k in enumerate(keys) if k.sink == pool)
            outflow = sum(cur.fluxes[sid, i] for i, k in enumerate(keys) if k.source == pool)
            change = cur.pools[sid, j] - prev.pools[sid, j]
            assert change == pytest.approx(inflow - outflow, abs=1e-9), (cur.year, pool)
    merch_decline = [k for k in keys if k.source == "SoftwoodMerch" and k.sink == "SoftwoodStemSnag"]
    assert merch_decline and steps[5].pools[sid, names.index("SoftwoodMerch")] < steps[1].pools[sid, names.index("SoftwoodMerch")]


def _with_spinup_query(config, query):
    return dataclasses.replace(config, spinup=dataclasses.replace(config.spinup, parameters_query=query))


def test_spinup_query_last_pass_type_is_used(demo_run_inputs):
    """spinup.json's spinup_parameters query is run as GCBM runs it: its last-pass type is the one applied."""
    config, stands, db = demo_run_inputs
    quiet = dataclasses.replace(stands, events=stands.events.iloc[0:0])
    query = config.spinup.parameters_query
    assert "dt.name AS last_pass_disturbance_type" in query
    clearcut = query.replace("dt.name AS last_pass_disturbance_type",
                             "'Clearcut harvesting with salvage' AS last_pass_disturbance_type")
    base = _run_steps(config, quiet, db)[0]
    cut = _run_steps(_with_spinup_query(config, clearcut), quiet, db)[0]
    products = base.pool_names.index("Products")
    assert base.pools[:, products].sum() == 0.0  # a wildfire last pass makes no products
    assert (cut.pools[:, products] > 0).all()  # a clearcut last pass does, on every stand
    with pytest.raises(DatabaseError, match=r"\{var:no_such_variable\}"):
        simulate(_with_spinup_query(config, query.replace("{var:eco_boundary}", "{var:no_such_variable}")),
                 quiet, db, [], progress=False)
    with pytest.raises(SimulationError, match="returns no row.*'British Columbia'"):
        simulate(_with_spinup_query(config, query + " AND 1 = 0"), quiet, db, [], progress=False)
