"""Issue 19 items 3 and 4, on real DVC repositories with a real `local` remote (the README promises
"safe to rerun"): an interrupted push is completed by the next `flintcloud remote push`, and a corrupted
workspace file is found by `flintcloud remote verify` and restored by `flintcloud remote pull`."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flintcloud import remote
from .conftest import STEP_TIMEOUT, build_project, flip_byte_keep_mtime, run

CLI = [sys.executable, "-W", "ignore", "-m", "flintcloud", "remote"]


def _objects(remote_dir: Path) -> list[Path]:
    return sorted(p for p in (remote_dir / "files" / "md5").rglob("*") if p.is_file())


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _fresh_clone_pull(project, dest: Path, env) -> None:
    clone = project.clone(dest)
    proc = run([*CLI, "pull"], clone.path, env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert clone.files("data/projects/demo") == project.files("data/projects/demo")
    assert clone.files("outputs") == project.files("outputs")


def test_push_completes_a_remote_whose_dir_manifest_lists_missing_files(local_env, tmp_path):
    project = build_project(tmp_path, local_env, n_files=30)
    remote_dir = tmp_path / "local-remote"
    run([*CLI, "push"], project.path, local_env)
    # What an interrupted push leaves: the .dir manifest on the remote, some of its files not.
    lost = [p for p in _objects(remote_dir) if not p.name.endswith(".dir")][::3][:10]
    contents = {}
    for p in lost:
        contents[p] = p.read_bytes()
        p.chmod(0o644)
        p.unlink()
    # DVC cannot see it: it takes the remote .dir as proof of its contents.
    assert "Everything is up to date" in project.dvc("push", "-r", "local").stdout
    assert "Cache and remote 'local' are in sync" in project.dvc("status", "-c").stdout

    proc = run([*CLI, "push"], project.path, local_env)
    assert "the remote lacked 10 object(s) although DVC reported it in sync" in proc.stderr
    assert "verified it holds all 35 object(s)" in proc.stdout  # 30 layers + db + .dir; outputs: 2 files + .dir
    for p, data in contents.items():
        assert p.read_bytes() == data and _md5(data) == p.parent.name + p.name
    _fresh_clone_pull(project, tmp_path / "clone", local_env)


def test_kill_9_during_push_then_push_again_gives_a_remote_a_fresh_clone_can_pull(local_env, tmp_path):
    project = build_project(tmp_path, local_env, n_files=300, file_size=32 * 1024)
    remote_dir = tmp_path / "local-remote"
    proc = subprocess.Popen([*CLI, "push"], cwd=project.path, env=local_env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not (remote_dir / "files").is_dir() or not _objects(remote_dir):
            assert proc.poll() is None, "the push finished before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # flintcloud and its `dvc push` child
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for _ in range(2):  # "push again twice"
        again = run([*CLI, "push"], project.path, local_env)
        assert "pushed to DVC remote 'local'" in again.stdout
    _, missing, checked = remote.missing_on_remote(project.path, env=local_env)
    assert missing == {} and checked == 300 + 1 + 1 + 2 + 1  # layers, db, its .dir, outputs' 2 files + .dir
    _fresh_clone_pull(project, tmp_path / "clone", local_env)


def test_corrupted_workspace_file_is_found_by_verify_and_restored_by_pull(local_env, tmp_path):
    project = build_project(tmp_path, local_env)
    run([*CLI, "push"], project.path, local_env)
    workspace = project.path / "data/projects/demo/gcbm_input.db"
    good = workspace.read_bytes()
    obj = project.path / ".dvc" / "cache" / "files" / "md5" / _md5(good)[:2] / _md5(good)[2:]
    flip_byte_keep_mtime(obj)
    workspace.unlink()
    project.dvc("checkout")  # the corrupted cache object reaches the workspace
    assert workspace.read_bytes() != good
    assert "Data and pipelines are up to date" in project.dvc("status").stdout  # DVC trusts the mtime

    verify = run([*CLI, "verify"], project.path, local_env, check=False)
    assert verify.returncode == 1 and "Traceback" not in verify.stderr
    line = [x for x in verify.stderr.splitlines() if x.startswith("flintcloud: error:")]
    assert len(line) == 1 and "1 workspace file(s) differ from their recorded hash" in line[0]
    assert f"data/projects/demo/gcbm_input.db has md5 {_md5(workspace.read_bytes())}" in line[0]

    pull = run([*CLI, "pull"], project.path, local_env)
    assert f"dropped corrupted cache object {obj}" in pull.stderr
    assert "restored corrupted workspace file data/projects/demo/gcbm_input.db" in pull.stderr
    assert workspace.read_bytes() == good and obj.read_bytes() == good
    ok = run([*CLI, "verify"], project.path, local_env)
    assert "workspace verified: every DVC-tracked file matches dvc.lock" in ok.stdout
