"""The fault fixtures themselves (conftest.tmpfs, read_only_dir) on the paths this machine does not take
by itself: GitHub's runners are non-root with passwordless sudo; a plain user has neither."""

from __future__ import annotations

import os
import stat

import pytest

from . import conftest
from .conftest import read_only_dir, tmpfs


def test_tmpfs_mounts_through_sudo_when_not_root(tmp_path, monkeypatch):
    """Not root, `sudo -n true` works -> `sudo -n mount ... uid=,gid=` (a stand-in sudo that logs and runs it)."""
    if os.geteuid() != 0:
        pytest.skip("the stand-in sudo runs mount as this user, so only root can play it (the real sudo "
                    "path runs in the disk-full test on a non-root machine with sudo)")
    log = tmp_path / "sudo.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sudo = bin_dir / "sudo"
    sudo.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n[ "$1" = -n ] && shift\nexec "$@"\n')
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    uid, gid = os.getuid(), os.getgid()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    where = tmp_path / "disk"
    with tmpfs(where, "size=1m") as disk:
        assert os.path.ismount(disk)
    assert not os.path.ismount(where)
    calls = log.read_text().splitlines()
    assert calls[0] == "-n true"
    assert calls[1].startswith(f"-n mount -t tmpfs -o size=1m,uid={uid},gid={gid},mode=0755 flintcloud-")
    assert calls[1].endswith(f" {where}")
    assert calls[2] == f"-n umount -l {where}"


def test_read_only_dir_falls_back_to_chmod_0555_without_a_mount(tmp_path, monkeypatch):
    """No root, no sudo: the read-only case still runs, on a chmod 0555 folder (EACCES), then restores it."""
    monkeypatch.setattr(conftest, "mount_prefix", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with read_only_dir(tmp_path / "ro") as (ro, cause):
        assert cause == "Permission denied"
        assert stat.S_IMODE(ro.stat().st_mode) == 0o555
    assert stat.S_IMODE((tmp_path / "ro").stat().st_mode) == 0o755


def test_tmpfs_without_root_or_sudo_skips_even_under_ci(tmp_path, monkeypatch):
    """The disk-full case cannot be provided without root or sudo: a skip with the reason, also with CI=true."""
    monkeypatch.setattr(conftest, "mount_prefix", lambda: None)
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.skip.Exception, match="needs root or passwordless sudo"):
        with tmpfs(tmp_path / "disk", "size=1m"):
            pass
