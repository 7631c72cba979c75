"""End to end: `dvc repro` in examples/rothc (its own dvc.yaml), in a temporary repository copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flintcloud.flint import run_config_files
from shared_paths import REPO_ROOT

pytestmark = pytest.mark.e2e
EXAMPLE = "examples/rothc"


def _env(repo: Path) -> dict:
    env = dict(os.environ)
    env.update(DVC_NO_ANALYTICS="1", ITERATIVE_DO_NOT_TRACK="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(repo)
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    return env


def _run(repo: Path, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = list(args)
    if cmd[0] == "dvc":
        cmd[0] = str(Path(sys.executable).parent / "dvc")
    proc = subprocess.run(cmd, cwd=cwd, env=_env(repo), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _ran(proc) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


@pytest.fixture()
def repo(tmp_path) -> Path:
    """The example's git-tracked files plus the flintcloud package and stages/common.py, in a new git+DVC repo."""
    dst = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-z", EXAMPLE, "stages/common.py", "flintcloud"], cwd=REPO_ROOT,
                           capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, dst / rel)
    git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "-c", "commit.gpgsign=false"]
    _run(dst, dst, "git", "init", "-q")
    _run(dst, dst, "dvc", "init", "-q")   # the repository root is a DVC repository too, as in flintcloud
    _run(dst, dst, *git, "add", "-A")
    _run(dst, dst, *git, "commit", "-q", "-m", "copy")
    return dst


def test_dvc_repro_runs_rothc_and_reproduces_the_committed_results(repo):
    ex = repo / EXAMPLE
    outputs = ("reports/metrics.json", "reports/pools.csv", "data/example_site.csv", "build/config/rothc_site.json",
               "build/config/libs.rothc.json", "build/output/rothc_stock.csv")
    committed = {p: (ex / p).read_bytes() for p in outputs}
    # every output is in git (cache: false): a fresh clone is up to date. (If flintcloud/flint or
    # stages/common.py changed since dvc.lock was committed, stages rerun - and must give the same bytes.)
    _run(repo, ex, "dvc", "repro")
    assert "up to date" in _run(repo, ex, "dvc", "status").stdout.lower()
    for p, data in committed.items():
        assert (ex / p).read_bytes() == data, f"{p} differs from the committed result"
    # examples/rothc is a DVC repository of its own (dvc init --subdir): the root's DVC does not see it
    assert "rothc" not in _run(repo, repo, "dvc", "status").stdout + _run(repo, repo, "dvc", "metrics", "show").stdout
    # rerun every stage: the same bytes as committed (no timestamps, seeded example site)
    forced = _run(repo, ex, "dvc", "repro", "--force")
    assert _ran(forced) == {"example_site", "configure", "simulate", "report"}
    for p, data in committed.items():
        assert (ex / p).read_bytes() == data, f"{p} differs from the committed result"
    assert (ex / "reports" / "pools.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    metrics = json.loads((ex / "reports" / "metrics.json").read_text())
    result = run_config_files([ex / "build" / "config" / "rothc_site.json", ex / "build" / "config" / "libs.rothc.json"])
    soc = sum(result.steps[-1].pools[result.pool_names.index(p)]
              for p in ("SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM"))
    assert metrics["rothc_soc_end_tc_ha"] == pytest.approx(soc, rel=1e-14)   # read back from FLINT's %.15g CSV
    assert abs(metrics["rothc_mass_balance_error_tc_ha"]) < 1e-9
    pools = pd.read_csv(ex / "reports" / "pools.csv")
    assert len(pools) == 361 and pools["soc"].iloc[-1] == pytest.approx(soc, rel=1e-9)
    stock = (ex / "build" / "output" / "rothc_stock.csv").read_text().splitlines()
    assert stock[0].startswith("notification,step,stepDate") and len(stock) == 362   # no timestamp lines
    assert stock[1:] == result.to_csv().splitlines()[1:]

    assert _ran(_run(repo, ex, "dvc", "repro")) == set()          # nothing changed, nothing runs

    text = (ex / "params.yaml").read_text()
    (ex / "params.yaml").write_text(text.replace("  clay_frac: 0.25", "  clay_frac: 0.45"))
    third = _run(repo, ex, "dvc", "repro")
    assert _ran(third) == {"configure", "simulate", "report"}
    m3 = json.loads((ex / "reports" / "metrics.json").read_text())
    assert m3["rothc_soc_end_tc_ha"] != metrics["rothc_soc_end_tc_ha"]
    assert m3["rothc_soc_start_tc_ha"] == metrics["rothc_soc_start_tc_ha"]
    shown = _run(repo, ex, "dvc", "metrics", "show", "--json").stdout
    assert "rothc_soc_change_tc_ha_per_yr" in shown

    (ex / "params.yaml").write_text(text.replace("  years: 30                       # run length",
                                                 "  years: 31                       # run length"))
    bad = _run(repo, ex, "dvc", "repro", check=False)
    assert bad.returncode != 0
    assert "stage configure: error: site inputs end at 2029-12 but the run needs months up to 2030-12" in bad.stderr
    assert json.loads((ex / "reports" / "metrics.json").read_text()) == m3     # earlier results intact
