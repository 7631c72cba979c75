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


def test_no_module_builds_its_own_read_only_uri():
    """Every read-only open goes through sqlite_ro.ro_uri (a hand-built `file:{path}?mode=ro` breaks on `#`)."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "flintcloud"
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "sqlite_ro.py" and re.search(r"mode=ro", p.read_text(encoding="utf-8"))]
    assert offenders == []
