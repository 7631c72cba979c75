"""Transition rules in the libcbm engine (CBMTransitionRulesModule), paths no other test executes:
a transition that changes classifiers re-matches growth curves, and the relative age reset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from flintcloud.engine import simulate

MILD = "Mountain pine beetle — Low impact"  # leaves the stand standing: no biomass age reset


def _steps(config, stands, db):
    steps = []
    simulate(config, stands, db, [steps.append], progress=False)
    return steps


def _with_rules(db, rules: list[tuple], changes: list[tuple]):
    """db with extra transitions: rules (id, reset_type, age, regen_delay); changes (id, classifier, value)."""
    trans = pd.concat([db.transitions, pd.DataFrame(rules, columns=db.transitions.columns)], ignore_index=True)
    tcls = pd.concat([db.transition_classifiers, pd.DataFrame(changes, columns=db.transition_classifiers.columns)],
                     ignore_index=True)
    return dataclasses.replace(db, transitions=trans, transition_classifiers=tcls)


def _one_event(stands, db, sid: int, year: int, name: str, transition: int):
    """stands with a single event: `name` on stand `sid` in `year`, with `transition`."""
    ev = pd.DataFrame({
        "stand_id": [sid], "year": [year], "disturbance_type": [name],
        "disturbance_type_id": pd.array([db.disturbance_type_id(name)], dtype="Int64"),
        "transition": pd.array([transition], dtype="Int64"), "layer": ["test"], "order": [0],
    })
    return dataclasses.replace(stands, events=ev.astype({"disturbance_type": object}))


def _stand(stands, c1: str, c2: str) -> int:
    st = stands.stands
    hits = np.flatnonzero(((st["Classifier1"] == c1) & (st["Classifier2"] == c2) & (st["age"] > 20)).to_numpy())
    assert hits.size, (c1, c2)
    return int(hits[0])


def test_a_transition_that_changes_classifiers_rematches_the_growth_curve(demo_run_inputs):
    config, stands, db = demo_run_inputs
    sid = _stand(stands, "TA", "7")  # growth curve 8
    db = _with_rules(db, [(2, "absolute", -1, 0), (3, "absolute", -1, 0)],
                     [(2, "Classifier1", "BF"), (2, "Classifier2", "7"),  # -> growth curve 1
                      (3, "Classifier1", "?"), (3, "Classifier2", "?")])  # same reset, no classifier change
    changed = _steps(config, _one_event(stands, db, sid, 2012, MILD, 2), db)
    same = _steps(config, _one_event(stands, db, sid, 2012, MILD, 3), db)

    by_year = {s.year: s for s in changed}
    assert tuple(by_year[2012].previous_classifiers.loc[sid, ["Classifier1", "Classifier2"]]) == ("TA", "7")
    assert tuple(by_year[2012].classifiers.loc[sid, ["Classifier1", "Classifier2"]]) == ("BF", "7")
    assert tuple(by_year[2020].classifiers.loc[sid, ["Classifier1", "Classifier2"]]) == ("BF", "7")
    assert tuple(same[-1].classifiers.loc[sid, ["Classifier1", "Classifier2"]]) == ("TA", "7")
    # identical until the transition; then the stand grows on BF/7's curve instead of TA/7's
    growth = [i for i, k in enumerate(changed[1].flux_keys) if k.module == "CBMGrowthModule"]
    for a, b in zip(changed[:3], same[:3]):  # spinup, 2010, 2011
        np.testing.assert_array_equal(a.pools[sid], b.pools[sid])
    later = [abs(a.fluxes[sid, growth].sum() - b.fluxes[sid, growth].sum()) for a, b in zip(changed[4:], same[4:])]
    assert min(later) > 1e-6
    # every other stand is untouched by the re-match
    others = np.arange(len(stands.stands)) != sid
    np.testing.assert_allclose(changed[-1].pools[others], same[-1].pools[others], rtol=0, atol=0)


@pytest.mark.parametrize("offset", [-5, -1000])
def test_relative_age_reset_moves_the_age_back_and_stops_at_zero(demo_run_inputs, offset):
    config, stands, db = demo_run_inputs
    sid = _stand(stands, "TA", "7")
    db = _with_rules(db, [(2, "relative", offset, 0)], [(2, "Classifier1", "?")])
    steps = _steps(config, _one_event(stands, db, sid, 2012, MILD, 2), db)
    by_year = {s.year: s for s in steps}
    before = int(by_year[2012].previous_age[sid])
    assert before == int(by_year[2011].age[sid]) > 20
    # CBMTransitionRulesModule: age + offset, never below 0; the stand then grows one year
    assert int(by_year[2012].age[sid]) == max(0, before + offset) + 1
    assert int(by_year[2013].age[sid]) == max(0, before + offset) + 2
