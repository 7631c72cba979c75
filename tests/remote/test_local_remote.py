"""The default `local` remote through the CLI `make push` / `make pull` call (no account, no Azurite)."""

from __future__ import annotations

import sys
from pathlib import Path

from .conftest import build_project, run


def _objects(remote_dir: Path) -> set[str]:
    return {p.relative_to(remote_dir).as_posix() for p in remote_dir.rglob("*") if p.is_file()}


def test_push_one_project_then_everything_then_pull_in_a_fresh_clone(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env, n_files=3)
    remote_dir = tmp_path / "local-remote"
    cli = [sys.executable, "-m", "flintcloud", "remote"]

    # The guide's step 3: push only the new project's data.
    proc = run([*cli, "push", "data/projects/demo.dvc"], project.path, local_env)
    assert f"pushed to DVC remote 'local' ({remote_dir})" in proc.stdout
    inputs = {name for name in _objects(remote_dir) if name.startswith("files/md5/")}
    assert len(inputs) == 3 + 1 + 1  # layers, gcbm_input.db, the directory listing; no outputs

    # `make push`: everything, with the run-cache.
    run([*cli, "push"], project.path, local_env)
    everything = _objects(remote_dir)
    assert inputs < everything
    assert sum(name.startswith("runs/") for name in everything) == 1
    assert sum(name.startswith("files/md5/") for name in everything) == len(inputs) + 2 + 1  # + outputs

    # `make pull` in a fresh clone: byte-identical inputs and outputs, nothing rerun.
    clone = project.clone(tmp_path / "clone")
    run([*cli, "pull"], clone.path, local_env)
    assert clone.files("data/projects/demo") == project.files("data/projects/demo")
    assert clone.files("outputs") == project.files("outputs")
    assert project.marker_lines() == 1
    assert "Data and pipelines are up to date" in clone.dvc("status").stdout
