"""Issue 19 items 1, 2, 5: outputs never replace what they must not; stale temporaries of dead writers go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flintcloud import atomic
from flintcloud.atomic import atomic_dir, atomic_file, stale_temporaries

from .conftest import dead_pid, flintcloud, one_line_error, tree_hashes

# ------------------------------------------------------------------ item 1: compare/history --out


@pytest.mark.parametrize("command", [["history"], ["compare", "HEAD~1"]])
def test_report_out_never_replaces_a_folder_it_did_not_write(tmp_path, command):
    project = tmp_path / "data" / "demo" / "project"
    (project / "layers").mkdir(parents=True)
    (project / "layers" / "age.tiff").write_bytes(b"II*\x00 layer bytes")
    (project / "input_database").mkdir()
    (project / "input_database" / "gcbm_input.db").write_bytes(b"SQLite format 3\x00")
    before = tree_hashes(tmp_path)

    proc = flintcloud(*command, "--out", "data/demo/project.md", cwd=tmp_path)
    line = one_line_error(proc)
    assert "'data/demo/project' exists and was not written by flintcloud" in line and "--overwrite" in line
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("command", [["history"], ["compare", "HEAD~1"]])
def test_report_out_without_md_is_one_line_not_isadirectoryerror(tmp_path, command):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("my notes")
    before = tree_hashes(tmp_path)
    for out in ("notes", "summary"):
        line = one_line_error(flintcloud(*command, "--out", out, cwd=tmp_path))
        assert f"--out {out!r} must name a Markdown file ending in .md" in line
    assert tree_hashes(tmp_path) == before


def test_report_out_replaces_its_own_charts_and_says_why_history_cannot_run(tmp_path):
    """A charts folder of .png files (what history writes) is fine to replace; outside git the message
    says so, without the CI-only fetch-depth hint (item 15)."""
    (tmp_path / "reports" / "history").mkdir(parents=True)
    (tmp_path / "reports" / "history" / "headline_metrics.png").write_bytes(b"\x89PNG")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path.parent)
    line = one_line_error(flintcloud("history", cwd=tmp_path, env=env))
    assert "is not a git repository" in line and "fetch-depth" not in line


# ------------------------------------------------------------------ item 2: outputs vs inputs


def test_run_out_equal_to_the_project_folder_is_refused_even_with_overwrite(demo_project, tmp_path):
    before = tree_hashes(demo_project)
    line = one_line_error(flintcloud("run", "demo2/config", "--out", "demo2", "--overwrite", cwd=tmp_path))
    assert "run output folder 'demo2' contains the input 'demo2/config'" in line
    assert tree_hashes(demo_project) == before


def test_run_out_equal_to_the_layers_folder_is_refused(demo_project, tmp_path):
    before = tree_hashes(demo_project)
    line = one_line_error(
        flintcloud("run", "demo2/config", "--out", "demo2/layers/tiled", "--overwrite", cwd=tmp_path)
    )
    assert "run output folder 'demo2/layers/tiled' contains the input" in line and ".tiff'" in line
    assert tree_hashes(demo_project) == before


def test_run_out_dot_is_refused_and_leaves_no_temp_folder(demo_project, tmp_path):
    before = tree_hashes(tmp_path)
    line = one_line_error(flintcloud("run", "config", "--out", ".", "--overwrite", cwd=demo_project))
    assert "run output folder '.' is the current directory or one of its parents" in line
    assert tree_hashes(tmp_path) == before  # no 18 MB .tmp folder, nothing replaced
    assert not [p for p in tmp_path.rglob(".*tmp-*")]


def test_configure_into_the_project_itself_is_refused(demo_project, tmp_path):
    (tmp_path / "params.yaml").write_text((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    before = tree_hashes(demo_project)
    line = one_line_error(flintcloud("configure", "demo2", "demo2", "--overwrite", "--root", ".", cwd=tmp_path))
    assert "configuration folder 'demo2' is the input 'demo2'" in line
    assert tree_hashes(demo_project) == before


def test_compile_onto_its_own_input_is_refused(tmp_path):
    raw = tmp_path / "gcbm_output.db"
    raw.write_bytes(b"SQLite format 3\x00 raw results")
    line = one_line_error(flintcloud("compile", "gcbm_output.db", "--out", "gcbm_output.db", "--overwrite",
                                     cwd=tmp_path))
    assert "is the input 'gcbm_output.db'" in line
    assert raw.read_bytes() == b"SQLite format 3\x00 raw results"


# ------------------------------------------------------------------ item 5: stale temporaries


def _tmp_name(target: str, pid: int, host: str | None = None) -> str:
    return f".{target}.tmp-{host or atomic._host_tag()}-{pid}-abcd1234"


def test_next_write_removes_only_its_own_stale_temporaries(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    keep = [
        _tmp_name("output", alive),  # a writer that is still running
        _tmp_name("output", dead, host="0badc0de"),  # another machine sharing the folder
        _tmp_name("other", dead),  # another output's temporary
        ".output.tmp-abcd1234",  # old name without a PID: cannot tell, never touched
        "output.tmp-notes",  # a user's file
    ]
    stale = [_tmp_name("output", dead), f".output.old-{atomic._host_tag()}-{dead}"]
    for name in keep + stale:
        (tmp_path / name).mkdir()
        (tmp_path / name / "partial.db").write_bytes(b"x" * 1000)
    (tmp_path / "output").mkdir()
    assert sorted(p.name for p in stale_temporaries(tmp_path / "output")) == sorted(stale)

    with atomic_dir(tmp_path / "output") as tmp:
        (tmp / "result.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["output"])
    assert (tmp_path / "output" / "result.txt").read_text() == "new"


def test_kill_9_mid_write_then_rerun_leaves_no_temporary(tmp_path):
    code = (
        "import os, signal, sys\n"
        "from flintcloud.atomic import atomic_dir, atomic_file\n"
        "with atomic_dir(sys.argv[1]) as tmp:\n"
        "    (tmp / 'gcbm_output.db').write_bytes(b'x' * 100000)\n"
        "    with atomic_file(sys.argv[1] + '.json') as fh:\n"
        "        fh.write('{')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "output"
    out.mkdir()
    (out / "previous.db").write_text("previous run")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name)
    assert len(left) == 2  # what kill -9 leaves: one folder, one file
    assert (out / "previous.db").read_text() == "previous run"

    with atomic_dir(out) as tmp:
        (tmp / "gcbm_output.db").write_text("complete")
    with atomic_file(tmp_path / "output.json") as fh:
        fh.write(json.dumps({"ok": True}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output", "output.json"]


def test_previous_output_swapped_out_by_a_killed_writer_is_put_back(tmp_path):
    """Killed between the two renames (target moved aside, new one not yet in place): the next write
    restores the previous output rather than deleting it."""
    old = tmp_path / f".output.old-{atomic._host_tag()}-{dead_pid()}"
    old.mkdir()
    (old / "gcbm_output.db").write_text("previous run")
    atomic.remove_stale_temporaries(tmp_path / "output")
    assert (tmp_path / "output" / "gcbm_output.db").read_text() == "previous run"
    assert not old.exists()


def test_report_out_never_replaces_a_markdown_file_it_did_not_write(tmp_path):
    (tmp_path / "notes.md").write_text("# My notes\n\nmeeting minutes\n")
    line = one_line_error(flintcloud("history", "--out", "notes.md", cwd=tmp_path))
    assert "history report 'notes.md' exists; pass --overwrite to replace it" in line
    assert (tmp_path / "notes.md").read_text() == "# My notes\n\nmeeting minutes\n"
    # One that history wrote is replaced without --overwrite (here the run then stops: no git repository).
    (tmp_path / "history.md").write_text("## History of `main`: 3 commit(s) with results, 0 experiment(s)\n")
    line = one_line_error(flintcloud("history", "--out", "history.md", cwd=tmp_path,
                                     env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}))
    assert "is not a git repository" in line
