"""Old stands: ages on and past a growth curve's last age (moja.canada ComponentBiomassCarbonCurve).

GCBM keeps each component's carbon curve for ages 0..standMaxAge (the curve's last age, 350 in the
FLINT.Cloud demo) and returns a zero aboveground increment for any age >= standMaxAge, so a stand past
the end of its curve keeps the biomass the curve has at its last age; the root increment follows the
aboveground pools as at any age. GCBM's own numbers for declining old stands (to age 286):
tests/test_gcbm_reference_cases.py (aged40, builtin-demo).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flintcloud.engine import simulate

pytestmark = pytest.mark.shared

AG = ["SoftwoodMerch", "SoftwoodFoliage", "SoftwoodOther", "HardwoodMerch", "HardwoodFoliage", "HardwoodOther"]
LIVE = AG + ["SoftwoodCoarseRoots", "SoftwoodFineRoots", "HardwoodCoarseRoots", "HardwoodFineRoots"]


@pytest.fixture(scope="module")
def old_bs_stands(demo_run_inputs):
    """The demo's BS/5 stand (its curve declines from 356.9 to 355.7 m3/ha between ages 340 and 350) at
    ages 345 and 400, no events."""
    config, stands, db = demo_run_inputs
    st = stands.stands
    bs = int(np.flatnonzero(((st["Classifier1"] == "BS") & (st["Classifier2"] == "5")).to_numpy())[0])
    two = st.iloc[[bs, bs]].reset_index(drop=True).copy()
    two["age"] = [345, 400]
    steps = []
    quiet = dataclasses.replace(stands, stands=two, events=stands.events.iloc[0:0])
    simulate(config, quiet, db, [steps.append], progress=False)
    cols = [steps[0].pool_names.index(p) for p in AG]
    live = [steps[0].pool_names.index(p) for p in LIVE]
    return {s.year: s for s in steps}, cols, live


def test_stand_declines_until_the_curves_last_age_then_holds(old_bs_stands):
    by_year, ag, _ = old_bs_stands
    young = [by_year[y].pools[0, ag].sum() for y in [0] + list(range(2010, 2021))]
    assert [int(by_year[y].age[0]) for y in (2014, 2015)] == [350, 351]
    assert all(b < a for a, b in zip(young[:6], young[1:6]))  # ages 345..349: the curve declines
    assert young[6:] == pytest.approx([young[5]] * 6, rel=1e-12, abs=0)  # from age 350 on: zero increment


def test_stand_past_the_curve_keeps_the_curves_last_biomass(old_bs_stands):
    by_year, ag, live = old_bs_stands
    old = np.array([by_year[y].pools[1, live] for y in [0] + list(range(2010, 2021))])
    assert int(by_year[2020].age[1]) == 411
    np.testing.assert_allclose(old, np.broadcast_to(old[0], old.shape), rtol=1e-12, atol=0)
    # the stand that reached age 350 in the run holds what the one spun up past 350 holds
    np.testing.assert_allclose(by_year[2020].pools[0, ag], by_year[2020].pools[1, ag], rtol=1e-9)
