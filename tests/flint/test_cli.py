"""`flintcloud flint run`: moja.cli's arguments, the stock CSV on stdout or FLINT's files in --out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLINTCLOUD = [sys.executable, "-m", "flintcloud"]


def run(*args, cwd=None):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}
    return subprocess.run([*FLINTCLOUD, "flint", "run", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_prints_flints_csv(flint_example):
    c = flint_example / "config"
    proc = run("--config", c / "point_rothc_example.json", "--config", c / "libs.base_rothc.simple.json",
               "--logging_config", c / "logging.debug_on.conf")
    assert proc.returncode == 0, proc.stderr
    ref = (flint_example / "output" / "default_point_rothc_output.csv").read_text().splitlines()
    got = proc.stdout.splitlines()
    assert len(got) == len(ref)
    assert [g for i, g in enumerate(got) if i not in (2, 67)] == [r for i, r in enumerate(ref) if i not in (2, 67)]
    assert "(info) - Using operation manager: Simple" in proc.stderr      # Console sink -> stderr


def test_out_writes_stock_flux_and_log(flint_example, tmp_path):
    c = flint_example / "config"
    out = tmp_path / "out"
    proc = run("--config", c / "point_example.json", "--config", c / "libs.base.simple.json",
               "--logging_config", c / "logging.debug_on.conf", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["Example_Point_Flux.csv", "Example_Point_Stock.csv",
                                                    "Moja_Debug.log"]
    stock = (out / "Example_Point_Stock.csv").read_text().splitlines()
    ref = (flint_example / "output" / "default_point_output.csv").read_text().splitlines()
    assert stock[4:-3] == ref[4:-3]
    flux = (out / "Example_Point_Flux.csv").read_text().splitlines()
    assert flux[5] == "1,1920-01-01:00:00:00.000000,TestModule1,Pool 1,Pool 2,40"
    assert len(flux) == 4 + 1 + 60 * 9 + 3
    assert "module name: TestModule3" in (out / "Moja_Debug.log").read_text()
    # a second run into the same folder needs --overwrite and leaves the first intact
    again = run("--config", c / "point_example.json", "--config", c / "libs.base.simple.json", "--out", out)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert (out / "Moja_Debug.log").is_file()


def test_bad_config_is_one_line_naming_key_and_file(flint_example, tmp_path):
    c = flint_example / "config"
    bad = tmp_path / "bad.json"
    bad.write_text((c / "point_rothc_example.json").read_text().replace('"order": 5', '"order": "five"'))
    out = tmp_path / "out"
    proc = run("--config", bad, "--config", c / "libs.base_rothc.simple.json", "--out", out)
    assert proc.returncode == 1
    assert proc.stderr.startswith("flintcloud: error: ") and str(bad) in proc.stderr
    assert "Modules.RothCModule.order must be an integer" in proc.stderr
    assert not out.exists()
    proc = run("--config", c / "point_rothc_example.json")
    assert proc.returncode == 1 and "no 'Libraries' section" in proc.stderr
    proc = run("--config", c / "point_example.json", "--config", c / "libs.base.simple.json",
               "--logging_config", tmp_path / "nope.conf")
    assert proc.returncode == 1 and "nope.conf" in proc.stderr and "not found" in proc.stderr


def test_help_lists_moja_cli_arguments():
    proc = subprocess.run([*FLINTCLOUD, "flint", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for opt in ("--config", "--logging_config", "--out"):
        assert opt in proc.stdout


@pytest.mark.parametrize("where", ["holding folder", "its parent", "logging config's folder"])
def test_out_holding_the_inputs_is_refused_even_with_overwrite(flint_example, tmp_path, where):
    """--out that is or contains a --config/--logging_config file's folder would delete it when replaced."""
    import shutil

    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "logging").mkdir()
    c = flint_example / "config"
    for name in ("point_example.json", "libs.base.simple.json"):
        shutil.copy(c / name, project / "config" / name)
    shutil.copy(c / "logging.debug_on.conf", project / "logging" / "logging.debug_on.conf")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    out = {"holding folder": project / "config", "its parent": project,
           "logging config's folder": project / "logging"}[where]
    proc = run("--config", project / "config" / "point_example.json",
               "--config", project / "config" / "libs.base.simple.json",
               "--logging_config", project / "logging" / "logging.debug_on.conf",
               "--out", out, "--overwrite", cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flintcloud: error: FLINT output folder "), proc.stderr
    assert "writing there would delete it, so it is refused even with --overwrite" in lines[0]
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no temporary left beside it
