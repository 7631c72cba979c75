"""stages/scenario_inputs.py: bad scenarios fail in one line naming scenario and key, writing nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import CLEARCUT, REPO_ROOT, base_params

pytestmark = pytest.mark.e2e


def stage(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, str(REPO_ROOT / "stages" / "scenario_inputs.py"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_bad_scenario_stops_the_stage_before_anything_is_built(demo_project, tmp_path):
    params = base_params(demo_project, {"ok": {"inputs": [{"temperature_offset": 1.0}]},
                                        "thin": {"inputs": [{"keep_fraction": {"fraction": 1.5, "seed": 1}}]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = stage("ok", str(demo_project), "out/ok", cwd=tmp_path)
    assert p.returncode == 1, p.stdout
    assert p.stderr.strip() == ("stage scenario_inputs: error: params.yaml scenarios: scenario 'thin': key "
                                "inputs[0].keep_fraction.fraction must be a number in [0, 1], got 1.5")
    assert not (tmp_path / "out").exists()


def test_two_scenarios_with_one_name_are_refused_by_the_stage(demo_project, tmp_path):
    text = yaml.safe_dump(base_params(demo_project, {}))
    text = text.replace("alternatives: {}", "alternatives:\n    hot: {inputs: [{temperature_offset: 1.0}]}\n"
                                            "    hot: {inputs: [{temperature_offset: 2.0}]}")
    (tmp_path / "params.yaml").write_text(text)
    p = stage("hot", str(demo_project), "out/hot", cwd=tmp_path)
    assert p.returncode == 1
    assert "key 'hot' appears twice in one mapping" in p.stderr and "two scenarios cannot share a name" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "out").exists()


def test_a_good_scenario_builds_and_its_params_feed_the_same_stages(demo_project, tmp_path):
    params = base_params(demo_project, {"hot": {"params": {"simulation.end_year": 2012},
                                                "inputs": [{"temperature_offset": 1.0}]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = stage("hot", str(demo_project), "out/hot", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    v = subprocess.run([sys.executable, str(REPO_ROOT / "stages" / "validate.py"), "--params", "out/hot/params.yaml",
                        "out/hot/project", "out/hot/validation.json"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert v.returncode == 0, v.stderr
    report = yaml.safe_load((tmp_path / "out" / "hot" / "validation.json").read_text())
    assert report["valid"] is True and report["summary"]["years"] == [2010, 2012]


def validate_stage(cwd: Path) -> subprocess.CompletedProcess:
    """stages/validate.py as dvc.yaml calls it (the first stage: nothing has run yet)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, str(REPO_ROOT / "stages" / "validate.py"), "params:project.dir",
                           "reports/validation.json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_validate_stage_refuses_bad_scenarios_before_anything_runs(demo_project, tmp_path):
    shutil.copytree(demo_project, tmp_path / "proj")  # inside the repository validate runs in
    params = base_params(Path("proj"), {
        "thin": {"inputs": [{"keep_fraction": {"fraction": 1.5, "seed": 1}}]},
        "storm": {"inputs": [{"drop_events": {"disturbance_type": "Hurricane"}}]},
        "ok": {"inputs": [{"temperature_offset": 1.0}]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = validate_stage(tmp_path)
    assert p.returncode == 1, p.stdout
    thin = "scenario 'thin': key inputs[0].keep_fraction.fraction must be a number in [0, 1], got 1.5"
    storm = ("scenario 'storm': key inputs[0].drop_events.disturbance_type: 'Hurricane' is not a disturbance type "
             f"of project 'proj' (types: {CLEARCUT}, Wildfire)")
    assert p.stderr.strip().splitlines() == ["stage validate: error: 2 problem(s) found in proj:",
                                             f"  - {thin}", f"  - {storm}"]
    report = json.loads((tmp_path / "reports" / "validation.json").read_text())
    assert report["valid"] is False and report["errors"] == [{"check": "scenarios", "message": thin},
                                                             {"check": "scenarios", "message": storm}]


def test_valid_scenarios_leave_the_validation_report_byte_identical(demo_project, tmp_path):
    """The repository's scenarios on the demo project: the report is the one without any scenario, byte for
    byte (so adding the check reruns nothing after validate)."""
    reports = []
    for alternatives in (None, yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["scenarios"]["alternatives"]):
        work = tmp_path / ("with" if alternatives else "without")
        shutil.copytree(demo_project, work / "proj")
        params = base_params(Path("proj"), alternatives)
        if alternatives is None:
            del params["scenarios"]
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        p = validate_stage(work)
        assert p.returncode == 0, p.stderr
        reports.append((work / "reports" / "validation.json").read_bytes())
    assert reports[0] == reports[1] and b'"valid": true' in reports[0]
