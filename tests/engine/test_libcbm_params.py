"""Translation of gcbm_input.db into libcbm's cbm_defaults schema."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.engine.libcbm_engine import open_libcbm
from flintcloud.engine.libcbm_params import build_libcbm_db, gcbm_matrices
from flintcloud.errors import DatabaseError
from flintcloud.inputdb.reader import read_input_db


@pytest.fixture(scope="module")
def demo_db(flint_demo):
    return read_input_db(flint_demo / "input_database" / "gcbm_input.db")


def _build(db, tmp_path, units=((33, 1), (33, 4))):
    return build_libcbm_db(
        db, tmp_path / "libcbm.db", pd.DataFrame(list(units), columns=["spatial_unit_id", "growth_curve_id"]),
        slow_mixing_rate=0.006, minimum_rotation=10, disturbance_type_ids=[2],
    )


def test_units_carry_the_projects_turnover_root_and_spinup_parameters(demo_db, tmp_path):
    params = _build(demo_db, tmp_path)
    assert list(params.units["unit_id"]) == [1, 2]
    with sqlite3.connect(params.db_path) as conn:
        spu = pd.read_sql("SELECT * FROM spatial_unit ORDER BY id", conn)
        turnover = pd.read_sql("SELECT * FROM turnover_parameter ORDER BY id", conn)
        root = pd.read_sql("SELECT * FROM root_parameter", conn)
        spin = pd.read_sql("SELECT * FROM spinup_parameter ORDER BY id", conn)
        mixing = conn.execute("SELECT rate FROM slow_mixing_rate").fetchall()
    # root parameters: the demo's single row, stored as the row libcbm reads (id 1)
    assert root.to_dict("records") == [dict(demo_db.root_parameters.iloc[0])]
    assert (spu["root_parameter_id"] == 1).all()
    # turnover: growth curve 4 is Spruce (genus 1) in eco boundary 1 (Taiga Plains): GCBM's genus row
    tg = demo_db.turnover_by_genus
    want = tg[(tg["eco_boundary_id"] == 1) & (tg["genus_id"] == 1)].iloc[0]
    row = turnover.set_index("id").loc[2]
    assert row["sw_foliage"] == want["foliage"] and row["stem_turnover"] == want["stem"]
    assert row["sw_branch_snag"] == want["branch_snag"] and row["fine_ag_split"] == want["fine_ag_split"]
    assert row["hw_foliage"] == 0.0  # no hardwood component: GCBM's COALESCE(..., 0)
    # spinup: the project's return interval and max rotations, minimum rotation from spinup.json
    su = demo_db.spatial_units.set_index("spatial_unit_id").loc[33]
    assert spin[["return_interval", "min_rotations", "max_rotations"]].iloc[0].tolist() == [
        su["return_interval"], 10, su["max_rotations"]]
    assert mixing == [(0.006,)]


def test_disturbance_matrix_keeps_one_minus_outgoing(demo_db, tmp_path):
    """GCBM's proportional operation: a source keeps 1 - sum(outgoing), not the stored diagonal."""
    params = _build(demo_db, tmp_path)
    dm = params.matrix_of[(2, 1)]
    dmv = demo_db.disturbance_matrix_values
    rows = dmv[dmv["disturbance_matrix_id"] == dm]
    agvf = rows[(rows["source_pool"] == "AboveGroundVeryFastSoil")]
    stored_diag = float(agvf.loc[agvf["sink_pool"] == "AboveGroundVeryFastSoil", "proportion"].iloc[0])
    keep = 1.0 - float(agvf.loc[agvf["sink_pool"] != "AboveGroundVeryFastSoil", "proportion"].sum())
    assert stored_diag != keep
    with open_libcbm(params) as core:
        pools = core.new_pools(1)
        pools[0, core.pool_index["AboveGroundVeryFastSoil"]] = 10.0
        flux = core.new_flux(1)
        done = core.disturb(np.array([1]), np.array([2]), pools, np.array([True]), flux)
    assert done.tolist() == [0]
    assert pools[0, core.pool_index["AboveGroundVeryFastSoil"]] == pytest.approx(10.0 * keep, rel=1e-12)
    assert pools[0, core.pool_index["Input"]] == 1.0
    # every tC that left is in a disturbance flux
    assert flux.sum() == pytest.approx(10.0 * (1.0 - keep), rel=1e-12)
    src, sink, prop = gcbm_matrices(rows, {n: i for i, n in enumerate(params.pool_names)})[dm]
    assert (src != sink).all()


def test_missing_volume_to_biomass_factor_is_named(demo_db, tmp_path):
    vba = demo_db.vol_to_bio_associations
    bad = dataclasses.replace(demo_db, vol_to_bio_associations=vba[vba["spatial_unit_id"] != 33])
    with pytest.raises(DatabaseError, match="no volume-to-biomass factor .* spatial unit 33.*vol_to_bio_factor_association"):
        _build(bad, tmp_path)
