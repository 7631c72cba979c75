"""Transitions as GCBM applies them (moja.canada CBMTransitionRulesModule, TransitionRuleTransform,
YieldTableGrowthModule; ../shared/notes/gcbm-semantics.md items 10-11).

On a copy of the FLINT.Cloud demo's db with transitions and Wildfire ``transition_rule`` rows added:
rule matching (exact values beat ``?``, a mismatch disqualifies, ties and case as GCBM's SQL has them),
a sidecar transition id beating the rules, the regeneration delay (no growth, no turnover, no age
increment; decay goes on), relative and absolute age resets, and the classifier set reported in the
disturbance year, and a transition to a set with no growth curve. GCBM's own numbers for such a case: tests/test_gcbm_reference_cases.py (transitions).
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.engine import simulate
from flintcloud.engine.transition_rules import TransitionRuleMatcher

pytestmark = pytest.mark.shared

# (id, transition_type_id (1 absolute, 2 relative), age, regen_delay, Classifier1, Classifier2)
TRANSITIONS = [
    (101, 1, 0, 2, "BP", "?"),
    (102, 2, -10, 0, "?", "?"),
    (103, 1, 20, 0, "?", "?"),
    (104, 1, 0, 0, "WB", "?"),
    (105, 1, 0, 0, "JP", "?"),
    (106, 1, 0, 0, "GA", "?"),
    (107, 1, 0, 0, "WB", "?"),  # JP/6 -> WB/6: a set with no growth curve
]
# Wildfire rules: (Classifier1, Classifier2) -> transition
RULES = [(("TA", "?"), 101), (("TA", "7"), 104), (("BS", "?"), 105), (("?", "5"), 106)]

# GCBM's query as TransitionRuleTransform::buildSql formats it (transitionruletransform.h), verbatim.
GCBM_BASE_SQL = """
        SELECT
            disturbance_type,
            transition_id
        FROM (
            SELECT
                ROW_NUMBER() OVER (PARTITION BY disturbance_type ORDER BY score DESC) AS tr_rank,
                disturbance_type,
                transition_id
            FROM (
                SELECT
                    dt.name AS disturbance_type,
                    tr.transition_id,
                    SUM(CASE
                            WHEN c.name IN (%1%) THEN
                                CASE
                                    WHEN cv.value LIKE '?' THEN 1
                                    %2%
                                    ELSE -1000
                                END
                            ELSE -1000
                        END
                    ) AS score
                FROM transition_rule tr
                INNER JOIN transition_rule_classifier_value trv
                    ON trv.transition_rule_id = tr.id
                INNER JOIN classifier_value cv
                    ON trv.classifier_value_id = cv.id
                INNER JOIN classifier c
                    ON cv.classifier_id = c.id
                INNER JOIN disturbance_type dt
                    ON tr.disturbance_type_id = dt.id
                GROUP BY
                    tr.transition_id,
                    tr.disturbance_type_id
                HAVING SUM(
                    CASE
                        WHEN c.name IN (%1%) THEN
                            CASE
                                WHEN cv.value LIKE '?' THEN 1
                                %2%
                                ELSE -1000
                            END
                        ELSE -1000
                    END
                ) > 0
            ) AS transition_ranking
        ) AS best_matches
        WHERE tr_rank = 1
"""


def _gcbm_matches(db_path, cset: dict[str, str]) -> dict[str, int]:
    names = ",".join(f"'{n}'" for n in cset)
    values = "".join(f"WHEN c.name LIKE '{n}' AND cv.value LIKE '{v}' THEN 4 " for n, v in cset.items())
    sql = GCBM_BASE_SQL.replace("%1%", names).replace("%2%", values)
    with sqlite3.connect(db_path) as conn:
        return {str(d): int(t) for d, t in conn.execute(sql).fetchall()}


@pytest.fixture(scope="module")
def rules_db(demo_run_inputs, tmp_path_factory):
    _, _, db = demo_run_inputs
    path = tmp_path_factory.mktemp("rules") / "gcbm_input.db"
    shutil.copy2(db.path, path)
    with sqlite3.connect(path) as conn:
        cv = {(c, v): i for i, c, v in conn.execute(
            "SELECT cv.id, c.name, cv.value FROM classifier_value cv JOIN classifier c ON c.id = cv.classifier_id")}
        wildfire = conn.execute("SELECT id FROM disturbance_type WHERE name = 'Wildfire'").fetchone()[0]
        for tid, ttype, age, delay, c1, c2 in TRANSITIONS:
            conn.execute("INSERT INTO transition (id, transition_type_id, age, regen_delay, description) "
                         "VALUES (?, ?, ?, ?, ?)", (tid, ttype, age, delay, f"test {tid}"))
            conn.executemany("INSERT INTO transition_classifier_value (transition_id, classifier_value_id) VALUES (?, ?)",
                             [(tid, cv[("Classifier1", c1)]), (tid, cv[("Classifier2", c2)])])
        for rid, ((c1, c2), tid) in enumerate(RULES, start=1):
            conn.execute("INSERT INTO transition_rule (id, transition_id, disturbance_type_id) VALUES (?, ?, ?)",
                         (rid, tid, wildfire))
            conn.executemany("INSERT INTO transition_rule_classifier_value (transition_rule_id, classifier_value_id) "
                             "VALUES (?, ?)", [(rid, cv[("Classifier1", c1)]), (rid, cv[("Classifier2", c2)])])
    return path


def test_rule_query_is_gcbms(rules_db):
    """The matcher's bound-parameter query gives what GCBM's formatted SQL gives, for every set."""
    matcher = TransitionRuleMatcher(rules_db)
    try:
        for c1 in ("BF", "BP", "BS", "GA", "JP", "TA", "WB", "WS", "ta", "T_"):
            for c2 in ("5", "6", "7", "8"):
                cset = {"Classifier2": c2, "Classifier1": c1}
                assert matcher.matches(cset) == _gcbm_matches(rules_db, cset), cset
    finally:
        matcher.close()


def test_rule_precedence_wildcards_ties_and_mismatches(rules_db):
    matcher = TransitionRuleMatcher(rules_db)
    try:
        def wildfire(c1, c2):
            return matcher.transition({"Classifier1": c1, "Classifier2": c2}, "Wildfire")

        assert wildfire("TA", "7") == 104  # (TA, 7) scores 8, (TA, ?) 5: the exact rule wins
        assert wildfire("TA", "6") == 101  # only (TA, ?) matches
        assert wildfire("BF", "5") == 106  # (?, 5): a mismatch on Classifier1 is -1000, '?' is +1
        assert wildfire("WB", "7") == -1  # no rule with a positive score
        assert matcher.transition({"Classifier1": "TA", "Classifier2": "7"}, "Clearcut harvesting with salvage") == -1
        # (BS, ?) and (?, 5) both score 5 on BS/5: GCBM's ROW_NUMBER() picks one, and so does the engine
        tie = wildfire("BS", "5")
        assert tie in (105, 106) and tie == _gcbm_matches(rules_db, {"Classifier1": "BS", "Classifier2": "5"})["Wildfire"]
        assert wildfire("ta", "7") == 104  # SQL LIKE: case-insensitive, as in GCBM
    finally:
        matcher.close()


def _stand(stands, c1: str, c2: str) -> int:
    st = stands.stands
    return int(np.flatnonzero(((st["Classifier1"] == c1) & (st["Classifier2"] == c2)).to_numpy())[0])


def _events(stands, db, rows) -> pd.DataFrame:
    """rows: (stand id, year, disturbance type name, sidecar transition or None)."""
    ev = pd.DataFrame({
        "stand_id": [r[0] for r in rows], "year": [r[1] for r in rows],
        "disturbance_type": [r[2] for r in rows],
        "disturbance_type_id": pd.array([db.disturbance_type_id(r[2]) for r in rows], dtype="Int64"),
        "transition": pd.array([r[3] for r in rows], dtype="Int64"),
        "layer": [f"disturbances_{r[1]}" for r in rows], "order": 0,
    })
    return ev[list(stands.events.columns)]


@pytest.fixture(scope="module")
def run_with_rules(demo_run_inputs, rules_db):
    from flintcloud.inputdb.reader import read_input_db

    config, stands, _ = demo_run_inputs
    db = read_input_db(rules_db)
    ids = {k: _stand(stands, *k) for k in [("TA", "7"), ("TA", "5"), ("BP", "6"), ("WB", "7"), ("BS", "5"), ("JP", "6")]}
    low = "Mountain pine beetle — Low impact"
    ev = _events(stands, db, [
        (ids["TA", "7"], 2011, "Wildfire", None),   # rule: (TA, 7) -> 104, WB
        (ids["TA", "5"], 2011, "Wildfire", None),   # rule: (TA, ?) -> 101, BP after a 2-year delay
        (ids["JP", "6"], 2011, "Wildfire", 107),    # to WB/6, which has no growth curve
        (ids["BS", "5"], 2011, "Wildfire", 1),      # sidecar transition 1 wins over the rules
        (ids["BP", "6"], 2012, low, 102),           # relative -10
        (ids["WB", "7"], 2012, low, 103),           # absolute 20
    ])
    steps = []
    simulate(config, dataclasses.replace(stands, events=ev), db, [steps.append], progress=False)
    return ids, steps


def _module_flux(step, sid: int, module: str) -> float:
    cols = [i for i, k in enumerate(step.flux_keys) if k.module == module]
    return float(np.abs(step.fluxes[sid, cols]).sum())


def test_rule_matched_transition_changes_the_classifier_set_in_the_disturbance_year(run_with_rules):
    ids, steps = run_with_rules
    by_year = {s.year: s for s in steps}
    sid = ids["TA", "7"]
    assert by_year[2010].classifiers.loc[sid, "Classifier1"] == "TA"
    assert by_year[2011].previous_classifiers.loc[sid, "Classifier1"] == "TA"
    assert by_year[2011].classifiers.loc[sid, "Classifier1"] == "WB"  # already in 2011's output
    assert by_year[2011].classifiers.loc[sid, "Classifier2"] == "7"  # '?' keeps the value
    assert int(by_year[2011].age[sid]) == 1  # absolute 0, then the year's growth
    sid = ids["BS", "5"]
    assert by_year[2011].classifiers.loc[sid, "Classifier1"] == "BS"  # transition 1: no classifier change


def test_regeneration_delay_stops_growth_turnover_and_ageing_not_decay(run_with_rules):
    ids, steps = run_with_rules
    sid = ids["TA", "5"]
    by_year = {s.year: s for s in steps}
    assert by_year[2011].classifiers.loc[sid, "Classifier1"] == "BP"
    assert [int(by_year[y].age[sid]) for y in (2010, 2011, 2012, 2013, 2014)] == [6, 0, 0, 1, 2]
    growth = [_module_flux(by_year[y], sid, "CBMGrowthModule") for y in (2011, 2012, 2013)]
    assert growth[0] == 0.0 and growth[1] == 0.0 and growth[2] > 0  # no growth nor turnover while delayed
    assert all(_module_flux(by_year[y], sid, "CBMDecayModule") > 0 for y in (2011, 2012, 2013))
    names = steps[0].pool_names
    live = [names.index(p) for p in names if p.startswith(("Softwood", "Hardwood")) and "Snag" not in p]
    assert by_year[2012].pools[sid, live].sum() == by_year[2011].pools[sid, live].sum()  # nothing grows in 2012


def test_relative_and_absolute_age_resets(run_with_rules):
    ids, steps = run_with_rules
    by_year = {s.year: s for s in steps}
    bp, wb = ids["BP", "6"], ids["WB", "7"]
    assert int(by_year[2012].previous_age[bp]) == 87
    assert int(by_year[2012].age[bp]) == 87 - 10 + 1  # relative -10 at the event, then a year's growth
    assert int(by_year[2012].age[wb]) == 20 + 1  # absolute 20
    assert int(by_year[2013].age[wb]) == 22


def test_transition_to_a_set_without_growth_curve_stops_growth_and_decay(run_with_rules):
    """YieldTableGrowthModule::getYieldCurve sets is_decaying false when growth_curve_id is empty, and
    CBMDecayModule then skips the stand (until a land-class change restarts decay)."""
    ids, steps = run_with_rules
    sid = ids["JP", "6"]
    by_year = {s.year: s for s in steps}
    assert _module_flux(by_year[2010], sid, "CBMDecayModule") > 0
    assert by_year[2011].classifiers.loc[sid, "Classifier1"] == "WB"
    for year in range(2011, 2021):
        assert _module_flux(by_year[year], sid, "CBMGrowthModule") == 0.0
        assert _module_flux(by_year[year], sid, "CBMDecayModule") == 0.0
    assert np.array_equal(by_year[2020].pools[sid], by_year[2011].pools[sid])
    assert int(by_year[2020].age[sid]) == 0
