"""flintcloud.pipeline: the stages' calls as one library function (what the service's workers run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from flintcloud.errors import ValidationError
from flintcloud.pipeline import STAGES, parse_pipeline_yaml, project_files, run_params, run_pipeline

REPO = Path(__file__).resolve().parents[1]


def repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_run_params_point_at_the_inputs_and_change_nothing_else():
    params = repo_params()
    out = run_params(params)
    assert out["project"]["dir"] == "data/project"
    # no scenarios: the validate stage checks them against the project, and a run's inputs are not the demo's
    assert "scenarios" in params and "scenarios" not in out
    others = {k: v for k, v in params.items() if k not in ("project", "scenarios")}
    assert {k: v for k, v in out.items() if k != "project"} == others
    assert params["project"]["dir"] == "data/demo/project"  # not mutated


def test_the_run_pipeline_is_the_repositorys_without_demo_and_code_deps():
    doc = parse_pipeline_yaml(yaml.safe_load((REPO / "dvc.yaml").read_text()))
    assert list(doc["stages"]) == list(STAGES)
    for name, stage in doc["stages"].items():
        assert not any(str(d).startswith("flintcloud/") for d in stage["deps"]), name
        assert f"stages/{name}.py" in stage["deps"]
        assert not any(str(k).startswith("scenarios") for k in stage.get("params", [])), name
    files = project_files(run_params(repo_params()))
    assert {"params.yaml", "dvc.yaml", ".dvc/config", "stages/common.py", "stages/simulate.py"} <= set(files)
    assert yaml.safe_load(files["params.yaml"])["project"]["dir"] == "data/project"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from flintcloud.demo.project import generate_demo_project

    return generate_demo_project(tmp_path_factory.mktemp("demo") / "project")


def test_progress_and_outputs(demo, tmp_path):
    seen = []
    lines = []
    metrics = run_pipeline(demo, repo_params(), tmp_path / "run", progress=lambda s, f, m: seen.append((s, f)),
                           log=lines.append)
    assert [s for s, _ in seen] == [*STAGES, "done"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert metrics["total_ecosystem_c_end_tc"] == pytest.approx(211639.928, abs=0.01)  # GCBM's own number (tests/test_gcbm_reference_cases.py)
    for rel in ("build/output/gcbm_output.db", "build/config/localdomain.json", "reports/report.md",
                "reports/metrics.json", "data/project/input_database/gcbm_input.db", "dvc.yaml", "params.yaml"):
        assert (tmp_path / "run" / rel).is_file(), rel
    assert any("simulate: libcbm: 38600 pixels" in line for line in lines)
    assert not list(tmp_path.glob(".run.tmp-*"))


def test_a_failed_run_leaves_the_previous_results(demo, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier.txt").write_text("earlier results")
    broken = tmp_path / "broken"
    shutil.copytree(demo, broken)
    (broken / "layers" / "tiled" / "initial_age.json").unlink()
    with pytest.raises(ValidationError, match="initial_age"):
        run_pipeline(broken, repo_params(), out, log=lambda line: None)
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    assert not list(tmp_path.glob(".run.tmp-*"))
