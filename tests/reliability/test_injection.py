"""Issue 19 items 6-8: what a user writes into params, names or symlinks never runs, links or leaks."""

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
import yaml

from flintcloud.report.compare import Snapshot, render_markdown
from flintcloud.report.history import Point, render_history_markdown
from flintcloud.report.markdown import build_report, write_report
from flintcloud.errors import ReportError
from flintcloud.validate import validate_project

REPO = Path(__file__).resolve().parents[2]
ATTACK = "![x](../.dvc/config.local)"
ESCAPED = r"\!\[x\]\(\.\./\.dvc/config\.local\)"

# ------------------------------------------------------------------ item 6: dvc.yaml commands


def _stage_cmds() -> dict[str, str]:
    """Every stage's cmd, foreach stages' `do` templates included."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        cmd = (stage.get("do") or stage)["cmd"]
        out[name] = " ".join(cmd) if isinstance(cmd, list) else cmd
    return out


def test_every_interpolated_value_in_a_stage_command_is_single_quoted():
    cmds = _stage_cmds()
    assert any("foreach" in s for s in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values())
    for name, cmd in cmds.items():
        outside_quotes = re.sub(r"'[^']*'", "", cmd)
        assert "${" not in outside_quotes and '"' not in outside_quotes, (name, cmd)


HOSTILE_PROJECT_DIRS = [
    "data/my project",  # a space: was "got 4 argument(s)"
    "data/projects/p;touch PWNED;",  # was: runs `touch PWNED`
    "data/projects/x$(touch PWNED)`touch PWNED`",  # command substitution
    "data/projects/O'Brien",  # a quote ends single quoting: was a shell syntax error after DVC removed the outs
    "data/projects/a';touch PWNED;'",  # ... or a way out of the quotes
    "data/run#1",  # GCBM projects under such names must keep working (issue 12)
]


def _dvc_repo(tmp_path: Path, stages: dict, params: dict) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True, env=env)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return env


@pytest.mark.parametrize("project_dir", HOSTILE_PROJECT_DIRS)
def test_the_project_folder_never_reaches_the_shell(tmp_path, project_dir):
    """Real DVC runs our dvc.yaml's validate, configure and scenario_inputs command templates, with the stage
    scripts' own argument reading (stages/common.path_arg), under a hostile project.dir."""
    (tmp_path / "stages").mkdir()
    shutil.copy(REPO / "stages" / "common.py", tmp_path / "stages" / "common.py")
    cmds = _stage_cmds()
    stages = {}
    for name in ("validate", "configure", "scenario_inputs"):
        script = re.match(r"python stages/(\w+)\.py", cmds[name]).group(1)
        (tmp_path / "stages" / f"{script}.py").write_text(
            "import json, sys, pathlib\nsys.path.insert(0, 'stages')\nfrom common import path_arg\n"
            f"args = [str(path_arg(a)) if a.startswith('params:') else a for a in sys.argv[1:]]\n"
            f"pathlib.Path('{name}.json').write_text(json.dumps(args))\n")
        cmd = cmds[name].replace("python ", f"{sys.executable} ", 1).replace("${key}", "base")
        stages[name] = {"cmd": cmd, "outs": [f"{name}.json"]}
    env = _dvc_repo(tmp_path, stages, {"project": {"dir": project_dir}})
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "validate.json").read_text()) == [project_dir, "reports/validation.json"]
    assert json.loads((tmp_path / "configure.json").read_text()) == [project_dir, "build/config"]
    assert json.loads((tmp_path / "scenario_inputs.json").read_text()) == ["base", project_dir, "build/scenarios/base"]
    assert not list(tmp_path.rglob("PWNED*"))


def test_a_quote_in_the_project_folder_gets_validates_message_and_keeps_the_report(tmp_path):
    """The real validate stage under DVC: `O'Brien` is refused with the one-line reason and the report says so
    (before, sh failed on the quote after DVC had deleted the git-tracked reports/validation.json)."""
    (tmp_path / "stages").mkdir()
    for name in ("common.py", "validate.py"):
        shutil.copy(REPO / "stages" / name, tmp_path / "stages" / name)
    (tmp_path / "reports").mkdir()
    project_dir = "data/projects/O'Brien"
    stage = {"cmd": _stage_cmds()["validate"].replace("python ", f"{sys.executable} ", 1),
             "outs": [{"reports/validation.json": {"cache": False}}]}
    env = _dvc_repo(tmp_path, {"validate": stage}, {"project": {"dir": project_dir}})
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode != 0
    assert "shell metacharacter(s)" in proc.stderr and "matching" not in proc.stderr, proc.stderr
    report = json.loads((tmp_path / "reports" / "validation.json").read_text())
    assert report["valid"] is False and any(f"project path {project_dir!r}" in e["message"] for e in report["errors"])


@pytest.mark.parametrize("project_dir, shown", [
    ("data/projects/p;touch PWNED;", "';'"),
    ("data/x$(id)", "'$'"),
    ("data/it's", '"\'"'),
])
def test_validate_refuses_project_paths_with_shell_metacharacters(project_dir, shown):
    report = validate_project(Path(project_dir), params={})
    assert [p.check for p in report.errors] == ["path"]
    message = report.errors[0].message
    assert f"project path {project_dir!r} contains shell metacharacter(s)" in message and shown in message


# ------------------------------------------------------------------ item 7: Markdown


def test_report_md_escapes_the_title_params_names_and_messages():
    params = {"report": {"title": ATTACK}, "project": {"dir": "data/`p`"}, "simulation": {"engine": "libcbm"}}
    metrics = {"start_year": 2010, "end_year": 2012, "area_ha": 10.0}
    tables = {"disturbance_emissions": pd.DataFrame({"disturbance_type": ["<img src=x onerror=alert(1)>"],
                                                      "emissions_tc": [1.0]})}
    validation = {"valid": False, "errors": [{"message": f"layer {ATTACK} is bad"}]}
    text = build_report(params=params, metrics=metrics, tables=tables, figures=[], figures_rel="figures",
                        validation=validation)
    fenced = re.search(r"```yaml\n(.*?)\n```", text, re.S)
    assert ATTACK in fenced.group(1)  # shown as code in the params.yaml block, where nothing renders
    assert ATTACK not in text.replace(fenced.group(0), "")
    assert f"# {ESCAPED}" in text and f"- layer {ESCAPED} is bad" in text
    assert "<img" not in text.replace(r"\<img", "") and r"\<img src\=x onerror\=alert\(1\)\>" in text
    assert "`` data/`p` ``" in text  # a code span the backticks cannot close


def test_report_never_links_figures_outside_its_folder(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "m.json").write_text('{"start_year": 2010, "end_year": 2011}')
    for name in ("stock_changes", "disturbance_emissions"):
        (tmp_path / f"{name}.csv").write_text("year,x\n2010,1\n")
    with pytest.raises(ReportError, match="outside the report's folder"):
        write_report(tmp_path / "reports" / "report.md", params={}, metrics_path=tmp_path / "m.json",
                     plots_dir=tmp_path, figures_dir=tmp_path / "elsewhere", validation_path=None)
    assert not (tmp_path / "reports" / "report.md").exists()


def test_compare_md_escapes_params_labels_and_notes():
    base = Snapshot("main (abc1234)", "abc", {"report.title": "demo"}, {"m": 1.0}, map_note="none")
    branch = Snapshot(f"{ATTACK} (def5678)", None, {"report.title": ATTACK, f"{ATTACK}": 1}, {"m": 2.0},
                      map_note=ATTACK)
    text = render_markdown(base, [branch], {}, {}, [ATTACK], [])
    assert f"| `{ATTACK}` |" in text  # a params key, as a code span: rendered literally
    assert ATTACK not in text.replace(f"`{ATTACK}`", "")
    assert text.count(ESCAPED) >= 3


def test_history_md_escapes_commit_subjects_and_branch_names():
    commits = [Point("commit", "c1", "c1", ATTACK, "2026-01-01", metrics={"a": 1.0}),
               Point("commit", "c2", "c2", "<script>x</script>", "2026-01-02", params={"t": ATTACK}, metrics={"a": 2.0})]
    text = render_history_markdown("feature`x", commits, [], ["a"], None, [])
    assert ATTACK not in text and "<script>" not in text.replace(r"\<script", "")
    assert ESCAPED in text and "``feature`x``" in text


# ------------------------------------------------------------------ item 8: sidecar symlinks


def test_sidecar_symlinked_outside_the_repository_is_refused(flint_demo, tmp_path):
    repo = tmp_path / "repo"
    project = repo / "project"
    import shutil

    shutil.copytree(flint_demo, project)
    (repo / ".git").mkdir()
    outside = tmp_path / "secret.json"
    sidecar = project / "layers" / "tiled" / "Classifier1.json"
    outside.write_text(sidecar.read_text())
    sidecar.unlink()
    sidecar.symlink_to(outside)

    report = validate_project(project / "config", root=repo)
    bad = [p for p in report.errors if p.check == "path"]
    assert len(bad) == 1 and bad[0].layer == "Classifier1"
    assert f"sidecar of layer 'Classifier1' {str(sidecar)!r} resolves to {str(outside)!r}, outside the repository" \
        in bad[0].message and "(through a symlink)" in bad[0].message
