from __future__ import annotations

import json
import subprocess
import sys

import yaml

from .conftest import expected


def flintcloud(*args, cwd):
    return subprocess.run([sys.executable, "-m", "flintcloud", *args], cwd=cwd, capture_output=True, text=True)


def test_summarize_and_report_commands(run_dir, tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"report": {"title": "CLI run"},
                                                          "simulation": {"engine": "libcbm"}}))
    p = flintcloud("summarize", str(run_dir), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert m["total_ecosystem_c_end_tc"] == expected()["te"][2012]
    # no silent overwrite
    again = flintcloud("summarize", str(run_dir), cwd=tmp_path)
    assert again.returncode == 1 and "pass --overwrite" in again.stderr
    assert flintcloud("summarize", str(run_dir), "--overwrite", "--no-maps", cwd=tmp_path).returncode == 0
    r = flintcloud("report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "reports" / "report.md").read_text()
    assert text.startswith("# CLI run\n") and "_No validation result was found._" in text
    assert flintcloud("report", cwd=tmp_path).returncode == 1


def test_summarize_missing_db_is_one_error_line(tmp_path):
    (tmp_path / "out").mkdir()
    p = flintcloud("summarize", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.startswith("flintcloud: error: compiled output db") and "Traceback" not in p.stderr
