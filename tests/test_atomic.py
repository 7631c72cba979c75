"""flintcloud.atomic: all-or-nothing outputs with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from flintcloud.atomic import atomic_dir, atomic_file, atomic_path


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_file_replaces_on_success_and_keeps_old_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    with atomic_file(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_atomic_dir_swaps_whole_folder_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("partial")
            raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("complete")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_path_gives_a_fresh_name(tmp_path):
    target = tmp_path / "x.db"
    with atomic_path(target) as tmp:
        assert not tmp.exists() and tmp.suffix == ".db"
        tmp.write_bytes(b"sqlite")
    assert target.read_bytes() == b"sqlite"


def test_outputs_get_the_umask_mode_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "r.json") as fh:
            fh.write("{}")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "r.json") == 0o644
    assert _mode(tmp_path / "d") == 0o755
