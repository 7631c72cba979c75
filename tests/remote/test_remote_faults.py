"""Faults on a real remote: unreachable, a push killed half-way, corrupted objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flintcloud import remote
from flintcloud.errors import RemoteError

from . import azurite as azurite_harness
from .conftest import STEP_TIMEOUT, build_project, container_blobs, flip_byte_keep_mtime, run


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _object_path(cache: Path, content: bytes) -> Path:
    import hashlib

    md5 = hashlib.md5(content).hexdigest()
    return cache / "files" / "md5" / md5[:2] / md5[2:]


# ---------------------------------------------------------------- unreachable


@pytest.mark.azurite
def test_unreachable_azure_remote_fails_fast_naming_it_and_deletes_nothing(azure_env, tmp_path: Path, monkeypatch):
    env = dict(azure_env)
    dead_port = azurite_harness.free_port()  # nothing listens there
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite_harness.azurite_connection_string(dead_port)
    project = build_project(tmp_path, env)
    before_ws = _snapshot(project.path / "data")
    before_cache = _snapshot(project.path / ".dvc" / "cache")
    assert before_cache  # dvc add put the inputs in the cache

    def dvc_must_not_run(*args, **kwargs):  # DVC alone retries for ~80 s before a nameless error
        raise AssertionError("dvc was started against an unreachable remote")

    monkeypatch.setattr(remote, "_run_dvc", dvc_must_not_run)
    with pytest.raises(RemoteError, match=rf"DVC remote 'azure' \(azure://t\w+/dvc at http://127.0.0.1:{dead_port}/devstoreaccount1\) is unreachable"):
        remote.push(project.path, env=env)
    with pytest.raises(RemoteError, match=r"DVC remote 'azure' .* is unreachable"):
        remote.pull(project.path, env=env)
    monkeypatch.undo()

    # The CLI (what `make push REMOTE=azure` runs) prints one clear line and exits 1.
    proc = run([sys.executable, "-m", "flintcloud", "remote", "push", "-r", "azure"], project.path, env, check=False)
    assert proc.returncode == 1
    assert f"flintcloud: error: DVC remote 'azure' (azure://" in proc.stderr
    assert f"127.0.0.1:{dead_port}" in proc.stderr and "is unreachable" in proc.stderr

    assert _snapshot(project.path / "data") == before_ws
    assert _snapshot(project.path / ".dvc" / "cache") == before_cache


def test_missing_azure_credentials_name_the_variables(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env, run=False)
    with pytest.raises(RemoteError, match=r"DVC remote 'azure' \(azure://flintcloud/dvc\) needs credentials.*AZURE_STORAGE_CONNECTION_STRING"):
        remote.check_remote(project.path, "azure", env=local_env)


@pytest.mark.azurite
def test_azure_check_names_a_missing_container_and_rejected_credentials(azurite, azure_env, tmp_path: Path):
    project = build_project(tmp_path, azure_env, run=False)
    assert remote.check_remote(project.path, env=azure_env).name == "azure"

    env = dict(azure_env, FLINTCLOUD_AZURE_URL="azure://no-such-container/dvc")
    remote.configure_remotes(project.path, env)
    with pytest.raises(RemoteError, match=r"DVC remote 'azure' \(azure://no-such-container/dvc at .*\): container 'no-such-container' does not exist"):
        remote.check_remote(project.path, env=env)

    remote.configure_remotes(project.path, azure_env)
    wrong_key = azure_env["AZURE_STORAGE_CONNECTION_STRING"].replace(azurite_harness.AZURITE_KEY, "d3Jvbmcga2V5" * 4)
    with pytest.raises(RemoteError, match=r"DVC remote 'azure' \(azure://t\w+/dvc at .*\) rejected the credentials \(HTTP 403"):
        remote.check_remote(project.path, env=dict(azure_env, AZURE_STORAGE_CONNECTION_STRING=wrong_key))


def test_unreachable_local_remote_names_it(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env, run=False)
    env = dict(local_env, FLINTCLOUD_REMOTE_DIR=str(tmp_path / "unmounted-share" / "dvc"))
    (tmp_path / "unmounted-share").mkdir()
    remote.configure_remotes(project.path, env)
    (tmp_path / "unmounted-share" / "dvc").rmdir()
    (tmp_path / "unmounted-share").rmdir()  # the share went away after setup
    before = _snapshot(project.path / "data")
    with pytest.raises(RemoteError, match=r"DVC remote 'local' \(.*unmounted-share/dvc\) is unreachable"):
        remote.pull(project.path, env=env)
    assert _snapshot(project.path / "data") == before


# ---------------------------------------------------------------- interrupted push


@pytest.mark.azurite
def test_push_killed_half_way_completes_on_rerun(azurite, azure_env, tmp_path: Path):
    n_files = 150
    project = build_project(tmp_path, azure_env, n_files=n_files, file_size=16 * 1024)
    cache = project.path / ".dvc" / "cache"
    # Every object in the cache (inputs, outputs, their .dir listings) and the run-cache entry.
    total = sum(1 for p in (cache / "files").rglob("*") if p.is_file()) + sum(1 for p in (cache / "runs").rglob("*") if p.is_file())
    assert total == n_files + 1 + 1 + 2 + 1 + 1

    # One upload at a time, so the push is still going when it is killed.
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "push", "-r", "azure", "--jobs", "1"], cwd=project.path, env=project.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        uploaded = 0
        while time.monotonic() < deadline and proc.poll() is None:
            uploaded = len(container_blobs(azurite, azure_env))
            if uploaded >= 10:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the push finished before it could be interrupted"
    partial = len(container_blobs(azurite, azure_env))
    assert 0 < partial < total

    status = project.dvc("status", "-c", "-r", "azure", check=False)
    assert "new:" in status.stdout  # DVC sees what is still missing in the remote

    remote.push(project.path, "azure", env=azure_env, timeout=STEP_TIMEOUT)
    assert len(container_blobs(azurite, azure_env)) == total
    status = project.dvc("status", "-c", "-r", "azure")
    assert "Cache and remote 'azure' are in sync." in status.stdout

    # And what is there is complete: a fresh clone pulls every input byte-identical.
    clone = project.clone(tmp_path / "clone")
    remote.pull(clone.path, env=azure_env, timeout=STEP_TIMEOUT)
    assert clone.files("data/projects/demo") == project.files("data/projects/demo")


# ---------------------------------------------------------------- corruption


@pytest.mark.azurite
def test_corrupted_object_in_azure_is_rejected_on_pull(azurite, azure_env, tmp_path: Path):
    from azure.storage.blob import BlobServiceClient

    project = build_project(tmp_path, azure_env)
    remote.push(project.path, "azure", env=azure_env, timeout=STEP_TIMEOUT)
    good = (project.path / "data/projects/demo/gcbm_input.db").read_bytes()
    key = _object_path(Path("dvc"), good).as_posix()
    container = azure_env["FLINTCLOUD_AZURE_URL"].split("/")[2]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        blob = service.get_blob_client(container, key)
        bad = bytearray(blob.download_blob().readall())
        bad[100] ^= 0xFF
        blob.upload_blob(bytes(bad), overwrite=True)

    clone = project.clone(tmp_path / "clone")
    with pytest.raises(RemoteError, match=r"`dvc pull -r azure` .* failed"):
        remote.pull(clone.path, env=azure_env, timeout=STEP_TIMEOUT)
    target = clone.path / "data/projects/demo/gcbm_input.db"
    assert not target.exists() or target.read_bytes() == good
    assert not _object_path(clone.path / ".dvc" / "cache", good).exists()  # not admitted to the cache
    assert clone.files("outputs") == project.files("outputs")  # the intact objects did arrive
    assert remote.verify_cache(clone.path / ".dvc" / "cache") == []


def test_corrupted_object_in_local_remote_is_rejected_on_pull(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env)
    remote.push(project.path, env=local_env, timeout=STEP_TIMEOUT)
    good = (project.path / "data/projects/demo/gcbm_input.db").read_bytes()
    flip_byte_keep_mtime(_object_path(tmp_path / "local-remote", good))

    clone = project.clone(tmp_path / "clone")
    with pytest.raises(RemoteError, match=r"`dvc pull -r local` .* failed"):
        remote.pull(clone.path, env=local_env, timeout=STEP_TIMEOUT)
    target = clone.path / "data/projects/demo/gcbm_input.db"
    assert not target.exists() or target.read_bytes() == good
    assert not _object_path(clone.path / ".dvc" / "cache", good).exists()
    assert clone.files("outputs") == project.files("outputs")


def test_corrupted_local_cache_is_never_pushed(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env)
    good = (project.path / "data/projects/demo/gcbm_input.db").read_bytes()
    obj = _object_path(project.path / ".dvc" / "cache", good)
    flip_byte_keep_mtime(obj)

    with pytest.raises(RemoteError, match=r"refusing to push to DVC remote 'local': 1 object\(s\) .* do not match their hash"):
        remote.push(project.path, env=local_env)
    assert not any((tmp_path / "local-remote").rglob("*")), "something was uploaded"

    proc = run([sys.executable, "-m", "flintcloud", "remote", "verify-cache"], project.path, local_env, check=False)
    assert proc.returncode == 1 and str(obj) in proc.stderr


def test_corrupted_local_cache_is_replaced_from_the_remote_on_pull(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env)
    remote.push(project.path, env=local_env, timeout=STEP_TIMEOUT)
    good = (project.path / "data/projects/demo/gcbm_input.db").read_bytes()
    obj = _object_path(project.path / ".dvc" / "cache", good)
    flip_byte_keep_mtime(obj)
    (project.path / "data/projects/demo/gcbm_input.db").unlink()  # the workspace copy must come back

    _, dropped, _ = remote.pull(project.path, env=local_env, timeout=STEP_TIMEOUT)
    assert dropped == [obj]
    assert (project.path / "data/projects/demo/gcbm_input.db").read_bytes() == good
    assert obj.read_bytes() == good
    assert remote.verify_cache(project.path / ".dvc" / "cache") == []
