"""One read-only SQLite open for every database flintcloud reads (issue 12 item 3)."""

from __future__ import annotations

import sqlite3

import pytest

from flintcloud.sqlite_ro import connect_ro, ro_uri


@pytest.mark.parametrize("folder", ["run#1", "a?b", "100%", "with space"])
def test_ro_open_reads_a_db_under_a_folder_with_uri_characters(tmp_path, folder):
    d = tmp_path / folder
    d.mkdir()
    db = d / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (v INTEGER)")
        conn.execute("INSERT INTO t VALUES (42)")
    conn.close()
    with connect_ro(db) as ro:
        assert ro.execute("SELECT v FROM t").fetchall() == [(42,)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.execute("INSERT INTO t VALUES (1)")
    # nothing created beside the folder (the old f"file:{path}?mode=ro" made an empty file 'run')
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]


def test_ro_open_never_creates_a_missing_db(tmp_path):
    with pytest.raises(sqlite3.OperationalError):
        with connect_ro(tmp_path / "missing.db"):
            pass
    assert not (tmp_path / "missing.db").exists()
    assert ro_uri(tmp_path / "run#1" / "x.db").endswith("run%231/x.db?mode=ro")
