"""gcbm_input.db reader: clear errors for bad files, real values from the demo db."""

from __future__ import annotations

import sqlite3

import pytest

from flintcloud.errors import DatabaseError
from flintcloud.inputdb.reader import read_input_db


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.db"
    with pytest.raises(DatabaseError, match="nope.db.*does not exist"):
        read_input_db(path)
    assert not path.exists()  # sqlite3.connect would have created it


def test_not_sqlite_is_named(tmp_path):
    path = tmp_path / "gcbm_input.db"
    path.write_text("this is a csv, not a database\n")
    with pytest.raises(DatabaseError, match="gcbm_input.db.*not a SQLite database"):
        read_input_db(path)


def test_missing_table_and_column_are_named(tmp_path):
    path = tmp_path / "gcbm_input.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE pool (id INTEGER, label TEXT)")
    with pytest.raises(DatabaseError) as info:
        read_input_db(path)
    msg = str(info.value)
    assert "table 'pool' lacks column(s) 'name'" in msg
    assert "missing table 'decay_parameter'" in msg
    assert "gcbm_input.db" in msg


def test_reads_demo_parameters(flint_demo):
    db = read_input_db(flint_demo / "input_database" / "gcbm_input.db")
    assert db.classifier_names == ["Classifier1", "Classifier2"]
    assert db.spatial_unit_id("British Columbia", "Taiga Plains") == 33
    assert db.disturbance_type_id("Wildfire") == 2
    su = db.spatial_units.set_index("spatial_unit_id").loc[33]
    assert su["historic_disturbance_type"] == "Wildfire"
    assert su["max_rotations"] == 30
    assert sorted(db.growth_curve_components["growth_curve_id"].unique()) == list(range(1, 11))
    t = db.transitions.set_index("transition_id").loc[1]
    assert (t["reset_type"], t["age"], t["regen_delay"]) == ("absolute", 0, 0)
    with pytest.raises(DatabaseError, match="'No such fire'.*disturbance_type"):
        db.disturbance_type_id("No such fire")


def test_inspect_lists_every_problem_instead_of_raising(tmp_path):
    """validate's reading: one problem per table, the file's own problem, never an exception."""
    from flintcloud.inputdb.reader import REQUIRED_COLUMNS, inspect_input_db

    assert inspect_input_db(tmp_path / "nope.db") == (None, [inspect_input_db(tmp_path / "nope.db")[1][0]])
    assert inspect_input_db(tmp_path / "nope.db")[1][0].kind == "file"
    path = tmp_path / "gcbm_input.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE pool (id INTEGER, label TEXT)")
    conn.close()
    db, problems = inspect_input_db(path)
    assert db is None and {p.kind for p in problems} == {"schema"}
    assert [p.table for p in problems] == list(REQUIRED_COLUMNS)
    assert "table 'pool' lacks column(s) 'name'" in problems[0].message
    assert not list(tmp_path.glob("nope.db"))


def test_transition_rules_are_read_through_the_reader(tmp_path):
    """A db without a transition_rule table matches no rule (GCBM's TransitionRuleTransform finds none)."""
    from flintcloud.inputdb.reader import read_transition_rule_count, transition_rule_query

    path = tmp_path / "gcbm_input.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE pool (id INTEGER)")
    conn.close()
    assert read_transition_rule_count(path) == 0
    sql, params = transition_rule_query({"Species": "TA", "Site": None})
    assert sql.count("?") - sql.count("'?'") == len(params) == 2 * (2 + 2 * 2)
    assert params[:6] == ["Species", "Site", "Species", "TA", "Site", "NULL"]
