"""Azure Blob remote on a real endpoint (Azurite): push with the run-cache, pull in a fresh clone,
and `dvc repro --pull` in another clone restores `simulate`'s outputs without running it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flintcloud import remote

from .conftest import build_project, container_blobs

pytestmark = pytest.mark.azurite


def test_push_pull_and_repro_from_run_cache(azurite, azure_env, tmp_path: Path):
    origin = build_project(tmp_path, azure_env, run=False)
    first = origin.git("rev-parse", "HEAD").stdout.strip()

    # The author's checkout runs the pipeline and pushes data, outputs and the run-cache to Azure.
    one = origin
    assert remote.remote_info(one.path).name == "azure"  # FLINTCLOUD_DVC_REMOTE picked the default
    one.dvc("repro")
    assert origin.marker_lines() == 1
    result = remote.push(one.path, "azure", env=azure_env, timeout=120)
    assert result.repaired == []  # a complete push needs no repair
    assert result.info.url == azure_env["FLINTCLOUD_AZURE_URL"]
    blobs = container_blobs(azurite, azure_env)
    assert any(name.startswith("dvc/runs/") for name in blobs), "the run-cache was not pushed"
    n_files = len(one.files("data/projects/demo")) + len(one.files("outputs"))
    assert sum(name.startswith("dvc/files/md5/") for name in blobs) == n_files + 2  # + the two .dir listings
    one.git("add", "dvc.lock", ".gitignore")
    one.git("commit", "--quiet", "-m", "simulate outputs")

    # Clone 2 (fresh): `dvc pull` gives byte-identical inputs and outputs, and nothing runs.
    two = origin.clone(tmp_path / "clone2")
    assert not (two.path / "data/projects/demo/gcbm_input.db").exists()
    _, dropped, restored = remote.pull(two.path, env=azure_env, timeout=120)
    assert dropped == [] and restored == []
    assert two.files("data/projects/demo") == one.files("data/projects/demo")
    assert two.files("outputs") == one.files("outputs")
    assert len(two.files("data/projects/demo")) == 5
    assert "Data and pipelines are up to date" in two.dvc("status").stdout
    assert origin.marker_lines() == 1

    # Clone 3 at the commit before dvc.lock existed: only the run-cache knows the outputs.
    three = origin.clone(tmp_path / "clone3", rev=first)
    assert not (three.path / "dvc.lock").exists()
    proc = three.dvc("repro", "--pull")
    out = proc.stdout + proc.stderr
    assert "Stage 'simulate' is cached - skipping run" in out, out
    assert "Running stage 'simulate'" not in out
    assert origin.marker_lines() == 1, "simulate ran again instead of being restored from the run-cache"
    assert three.files("outputs") == one.files("outputs")
    assert three.files("data/projects/demo") == one.files("data/projects/demo")
    assert (three.path / "dvc.lock").read_text() == (one.path / "dvc.lock").read_text()
