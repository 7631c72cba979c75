"""Stage scripts fail with one `stage <name>: error: ...` line naming the file, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def stage(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, str(REPO_ROOT / "stages" / f"{name}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_summarize_stage_names_the_missing_db(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "params.yaml").write_text("project: {dir: proj}\n")
    (tmp_path / "validation.json").write_text('{"valid": true, "errors": [], "warnings": []}\n')
    p = stage("summarize", "out", "cfg", "validation.json", "m.json", "plots", "figures", "tables", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.strip().startswith("stage summarize: error: compiled output db 'out/compiled_gcbm_output.db'")
    assert "Traceback" not in p.stderr and not (tmp_path / "m.json").exists()


def test_stage_without_params_yaml_says_where_to_run(tmp_path):
    p = stage("configure", "proj", "cfg", cwd=tmp_path)
    assert p.returncode == 1 and "'params.yaml' not found; run the stage from the repository root" in p.stderr


def test_wrong_arguments_print_usage(tmp_path):
    p = stage("report", "only-one", cwd=tmp_path)
    assert p.returncode != 0 and "usage: python stages/report.py METRICS_JSON PLOTS_DIR" in p.stderr
