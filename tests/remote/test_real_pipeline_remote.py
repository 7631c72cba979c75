"""The real flintcloud pipeline (dvc.yaml on the built-in demo) through the Azure remote on Azurite.

Slow (one full `dvc repro` of the demo; ~1 minute on 2 cores): `make test-slow` or `pytest -m slow tests/remote`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flintcloud import remote

from .conftest import REPO_ROOT, dvc, git

pytestmark = [pytest.mark.slow, pytest.mark.azurite, pytest.mark.e2e]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_real_pipeline_push_pull_and_repro_from_run_cache(azure_env, tmp_path: Path):
    env = dict(azure_env)
    origin = tmp_path / "origin"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (origin / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, origin / rel)
    git(origin, env, "init", "--quiet")
    git(origin, env, "add", "-A")
    git(origin, env, "commit", "--quiet", "-m", "copy of the checkout")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(origin), env.get("PYTHONPATH")]))  # stages import the copy
    remote.configure_remotes(origin, env)
    dvc(origin, env, "repro", timeout=600)
    remote.push(origin, "azure", env=env, timeout=300)
    git(origin, env, "add", "dvc.lock", "reports")
    git(origin, env, "commit", "--quiet", "--allow-empty", "-m", "this run's dvc.lock and reports")
    outputs = ["data/demo/project", "build/config", "build/output"]

    # A fresh clone pulls the inputs and the outputs byte for byte.
    two = tmp_path / "clone2"
    git(tmp_path, env, "clone", "--quiet", str(origin), two.name)
    remote.configure_remotes(two, env)
    remote.pull(two, env=env, timeout=300)
    for rel in outputs:
        assert _tree(two / rel) == _tree(origin / rel), rel
    proc = dvc(two, dict(env, PYTHONPATH=str(two)), "repro", timeout=300)
    assert not re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr), proc.stdout  # CI's case: nothing runs

    # Without dvc.lock only the run-cache knows the outputs: the cached stages (simulate included) are
    # restored, not run. Stages whose outputs are git-tracked (`cache: false`: validate, summarize,
    # report) are never run-cached by DVC, so they rerun (in seconds) and must give the same bytes.
    three = tmp_path / "clone3"
    git(tmp_path, env, "clone", "--quiet", str(origin), three.name)
    (three / "dvc.lock").unlink()
    remote.configure_remotes(three, env)
    proc = dvc(three, dict(env, PYTHONPATH=str(three)), "repro", "--pull", timeout=300)
    out = proc.stdout + proc.stderr
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran <= {"validate", "summarize", "report"}, out
    for stage in ("demo_inputs", "configure", "simulate"):
        assert f"Stage '{stage}' is cached - skipping run" in out, out
    for rel in outputs:
        assert _tree(three / rel) == _tree(origin / rel), rel
    for rel in ("reports/metrics.json", "reports/validation.json", "reports/report.md"):
        assert (three / rel).read_bytes() == (origin / rel).read_bytes(), rel
