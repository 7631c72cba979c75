"""stages/scenario_inputs.py: bad scenarios fail in one line naming scenario and key, writing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO_ROOT, base_params

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
