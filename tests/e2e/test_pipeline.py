"""End to end: `dvc repro` in a temporary copy of the repository, as a modeller would run it.

One test walks the whole life of the pipeline in order (each step needs the previous
one's state): first run on the built-in demo, consistency of the numbers, a no-op rerun,
a report-only change, a simulation change, an experiment, and the DVC read-out commands
(metrics show, plots show with our offline template, params diff).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# No wall-clock assertion here (issue 12): the demo run time is measured by benchmarks/demo_pipeline.py.

pytestmark = pytest.mark.e2e
BASE_STAGES = {"validate", "configure", "simulate", "summarize", "report"}
SCENARIO_STEPS = ("scenario_inputs", "scenario_validate", "scenario_configure", "scenario_simulate",
                  "scenario_summarize")


def _scenario_stages(*names: str) -> set[str]:
    """The foreach stages of these alternatives (params.yaml scenarios.alternatives), plus the comparison."""
    names = names or tuple(yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["scenarios"]["alternatives"])
    return {f"{step}@{n}" for step in SCENARIO_STEPS for n in names} | {"compare_scenarios"}


def _env(repo: Path) -> dict:
    env = dict(os.environ)
    env.update(DVC_NO_ANALYTICS="1", ITERATIVE_DO_NOT_TRACK="1", CI="1")
    # The stages' `python` is this interpreter, importing the copy's flintcloud.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(repo)
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    return env


def _run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "dvc"), *args] if args[0] != "git" else list(args)
    proc = subprocess.run(cmd, cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return _run(repo, "git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid",
                "-c", "commit.gpgsign=false", *args)


def _ran(proc: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def _set_param(repo: Path, dotted: str, value) -> None:
    """Change one value in params.yaml, keeping the comments (a line edit, like a person)."""
    path = repo / "params.yaml"
    lines = path.read_text().splitlines(keepends=True)
    section, key = dotted.split(".")
    in_section = False
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z_]+:", line):
            in_section = line.startswith(f"{section}:")
        elif in_section and re.match(rf"^  {key}:", line):
            lines[i] = f"  {key}: {json.dumps(value)}\n"
            path.write_text("".join(lines))
            assert yaml.safe_load(path.read_text())[section][key] == value
            return
    raise AssertionError(f"{dotted} not found in params.yaml")


def _copy_repo(dst: Path) -> Path:
    """The git-tracked files of this checkout, in a fresh git repository at `dst`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = REPO_ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    _git(dst, "init", "-q")
    _git(dst, "add", "-A")
    _git(dst, "commit", "-q", "-m", "copy")
    return dst


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return _copy_repo(tmp_path_factory.mktemp("pipeline") / "repo")


def _metrics(repo: Path) -> dict:
    return json.loads((repo / "reports" / "metrics.json").read_text())


def _check_numbers(repo: Path, end_year: int, imbalance: list[str]) -> dict:
    """Assert the metrics are the tables' values and sane; append every year whose change in
    total ecosystem C is not that year's NBP to `imbalance` (asserted at the end of the test,
    so that one engine fault does not hide the rest of the pipeline's behaviour)."""
    m = _metrics(repo)
    assert m["end_year"] == end_year and m["start_year"] == 2010 and m["n_years"] == end_year - 2010 + 1
    # the headline end-year stock is the compiled table's value
    with sqlite3.connect(repo / "build" / "output" / "compiled_gcbm_output.db") as conn:
        te_db = conn.execute(
            "SELECT SUM(pool_tc) FROM v_pool_indicators WHERE indicator = 'Total Ecosystem' AND year = ?", (end_year,)
        ).fetchone()[0]
        nbp_db = conn.execute(
            "SELECT SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' AND year > 0"
        ).fetchone()[0]
    assert m["total_ecosystem_c_end_tc"] == pytest.approx(te_db, abs=1e-3)
    assert m["cumulative_nbp_tc"] == pytest.approx(nbp_db, abs=1e-3)
    # cumulative NBP is the change in total ecosystem carbon (mass balance, year by year)
    stocks = pd.read_csv(repo / "reports" / "plots" / "stocks.csv").set_index("year")
    changes = pd.read_csv(repo / "reports" / "plots" / "stock_changes.csv").set_index("year")
    te = stocks["total_ecosystem"]
    years = [y for y in changes.index if y - 1 in te.index]
    assert len(years) >= end_year - 2010
    for y in years:
        delta, nbp = te[y] - te[y - 1], changes.loc[y, "nbp"]
        if abs(delta - nbp) > max(1e-6 * abs(nbp), 1e-3):
            imbalance.append(f"end_year {end_year}: {y}: delta total ecosystem {delta:.3f} tC != NBP {nbp:.3f} tC")
    if "delta_total_ecosystem_tc" in m and abs(m["delta_total_ecosystem_tc"] - m["cumulative_nbp_tc"]) > 1e-2:
        imbalance.append(f"end_year {end_year}: delta total ecosystem {m['delta_total_ecosystem_tc']} tC "
                         f"!= cumulative NBP {m['cumulative_nbp_tc']} tC")
    # sane magnitudes for a boreal demo landscape
    assert m["area_ha"] > 0
    assert 10 < m["total_ecosystem_c_end_tc_per_ha"] < 1000
    assert 0 < m["mean_npp_tc_per_ha_yr"] < 20
    assert m["total_disturbance_emissions_tc"] > 0 and 0 < m["area_disturbed_ha"] <= m["area_ha"] * m["n_years"]
    ages = pd.read_csv(repo / "reports" / "plots" / "age_classes.csv")
    assert ages["area_ha"].sum() == pytest.approx(m["area_ha"], rel=1e-6)
    # the end-year map, summed over pixel areas, is the table's total
    from flintcloud.landscape.grid import Grid, pixel_area_ha

    with rasterio.open(repo / "build" / "output" / "spatial" / f"Total_Ecosystem_C_{end_year}.tif") as ds:
        arr = ds.read(1, masked=True).astype("float64")
        area = pixel_area_ha(Grid(ds.transform, ds.crs, ds.width, ds.height))
    total = float((arr * np.asarray(area)[:, None]).sum())
    assert total == pytest.approx(m["total_ecosystem_c_end_tc"], rel=1e-4)
    return m


def test_pipeline_end_to_end(repo: Path, tmp_path: Path):
    imbalance: list[str] = []
    # 1. first run on the built-in demo, from the versioned inputs
    first = _run(repo, "repro")
    # The DVC-cached outputs (inputs, config, simulation) are not in git: they are rebuilt. The small
    # git-tracked reports are rebuilt too unless the committed dvc.lock already describes them.
    assert {"demo_inputs", "configure", "simulate"} <= _ran(first)
    if not (REPO_ROOT / "dvc.lock").is_file():
        assert _ran(first) == {"demo_inputs"} | BASE_STAGES | _scenario_stages()
    m1 = _check_numbers(repo, 2020, imbalance)
    report = (repo / "reports" / "report.md").read_text()
    assert f"{m1['total_ecosystem_c_end_tc']:,.1f}" in report
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (repo / "reports" / link).is_file(), link
    assert json.loads((repo / "reports" / "validation.json").read_text())["valid"] is True

    # 2. nothing changed: nothing runs
    second = _run(repo, "repro")
    assert _ran(second) == set(), second.stdout
    assert "up to date" in _run(repo, "status").stdout.lower()

    # 2b. one scenario's definition changed: only that scenario and the comparison rerun
    params = (repo / "params.yaml").read_text()
    assert "factor: 2.0, seed: 1}" in params
    (repo / "params.yaml").write_text(params.replace("factor: 2.0, seed: 1}", "factor: 2.0, seed: 2}"))
    changed = _run(repo, "repro")
    # validate rechecks every scenario (params: scenarios); its report is byte-identical, so no baseline stage reruns
    assert _ran(changed) == {"validate"} | _scenario_stages("wildfire_doubled"), changed.stdout

    # 3. a report-only parameter reruns only the report
    _set_param(repo, "report.title", "E2E title")
    third = _run(repo, "repro")
    assert _ran(third) == {"report"}
    assert (repo / "reports" / "report.md").read_text().startswith("# E2E title\n")

    # 4. the simulation window reruns validate (it checks the window) and configure onward
    _set_param(repo, "simulation.end_year", 2016)
    fourth = _run(repo, "repro")
    assert _ran(fourth) == BASE_STAGES | _scenario_stages()
    m4 = _check_numbers(repo, 2016, imbalance)
    assert m4["total_ecosystem_c_end_tc"] != m1["total_ecosystem_c_end_tc"]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "end 2016")

    # 5. metrics show / params diff / plots show (offline) on the committed run
    shown = json.loads(_run(repo, "metrics", "show", "--json").stdout)
    flat = json.dumps(shown)
    assert "total_ecosystem_c_end_tc" in flat and str(m4["total_ecosystem_c_end_tc"]) in flat
    template = repo / "flintcloud" / "report" / "plots_template.html"
    out = tmp_path / "plots"
    _run(repo, "plots", "show", "--html-template", str(template), "-o", str(out))
    html = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script src=" not in html  # nothing to fetch
    assert html.count("vegaEmbed(") == 11  # 5 of the baseline (+ net emissions), 6 comparing the scenarios
    for col in ("total_ecosystem", "nbp", "emissions_tc", "area_ha"):
        assert col in html
    # .dvc/config points plots.html_template at the same template: offline without the flag too
    _run(repo, "plots", "show", "-o", str(tmp_path / "plots_default"))
    assert "cdn.jsdelivr" not in (tmp_path / "plots_default" / "index.html").read_text()

    # 6. an experiment on the simulation window, listed with its metrics
    exp = _run(repo, "exp", "run", "-S", "simulation.end_year=2013")
    assert {"configure", "simulate", "summarize", "report"} <= _ran(exp)
    assert _metrics(repo)["end_year"] == 2013
    table = _run(repo, "exp", "show", "--csv").stdout
    frame = pd.read_csv(__import__("io").StringIO(table))
    # several metrics files (the scenarios') share key names: DVC then prefixes them with the file
    end_col = "reports/metrics.json:end_year" if "reports/metrics.json:end_year" in frame else "end_year"
    rows = list(frame.to_dict("records"))
    ends = {r.get(end_col) for r in rows}
    assert {2016, 2013} <= ends, table
    assert any(r.get("Experiment") and r.get(end_col) == 2013 for r in rows), table
    diff = _run(repo, "params", "diff").stdout
    assert re.search(r"simulation\.end_year\s+2016\s+2013", diff), diff

    # 7. mass balance: the change in total ecosystem carbon is NBP, every year (GCBM's identity)
    assert not imbalance, "mass balance broken:\n" + "\n".join(imbalance)


@pytest.mark.shared
def test_own_gcbm_project_reproduces_gcbm_headline_figures(tmp_path, flint_demo, gcbm_reference_output):
    """docs/own-projects.md's recipe on a real GCBM project: dvc add it, point params.yaml at it, dvc repro.
    The headline figures are GCBM's own (its reference output for the same project)."""
    from flintcloud.outputs.compile import compile_results
    from flintcloud.report.summarize import read_compiled_tables, summarize_tables

    repo = _copy_repo(tmp_path / "repo")
    project = repo / "data" / "projects" / "flint"
    for sub in ("layers", "input_database"):  # the project's inputs; its own config is not needed
        shutil.copytree(flint_demo / sub, project / sub)
    _run(repo, "add", "data/projects/flint")
    assert (repo / "data" / "projects" / "flint.dvc").is_file()
    text = (repo / "params.yaml").read_text()
    for old, new in (("  dir: data/demo/project\n", "  dir: data/projects/flint\n"),
                     ("  admin_boundary: null\n", "  admin_boundary: British Columbia\n"),
                     ("  eco_boundary: null\n", "  eco_boundary: Taiga Plains\n")):
        assert old in text
        text = text.replace(old, new)
    # the demo's scenarios name the demo's disturbance types; validate checks them against this project
    head, alternatives = text.split("\n  alternatives:\n")
    assert "no_clearcut:" in alternatives and "\nscenarios:\n" in head
    text = head + "\n  alternatives: {}\n"
    (repo / "params.yaml").write_text(text)
    ran = _ran(_run(repo, "repro", "report"))  # only what the report needs: not demo_inputs
    assert ran == {"validate", "configure", "simulate", "summarize", "report"}

    ref_db = tmp_path / "reference_compiled.db"
    compile_results(gcbm_reference_output / "gcbm_output.db", ref_db)
    ref = summarize_tables(read_compiled_tables(ref_db)).metrics
    got = _metrics(repo)
    for key in ("total_ecosystem_c_end_tc", "cumulative_nbp_tc", "mean_npp_tc_per_yr",
                "total_disturbance_emissions_tc", "area_disturbed_ha", "area_ha"):
        assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=2e-3), key
    assert "data/projects/flint" in (repo / "reports" / "report.md").read_text()
    # provenance: the DVC hash of the dvc-added project, and the inventory view of GCBM's own numbers
    added = yaml.safe_load((repo / "data" / "projects" / "flint.dvc").read_text())["outs"][0]["md5"]
    assert got["input_project"] == "data/projects/flint" and got["input_project_md5"] == added
    assert got["engine"] == "libcbm" and got["git_commit"] != "unknown"
    from flintcloud.report.inventory import build_inventory, parse_inventory_settings

    settings = parse_inventory_settings(yaml.safe_load((repo / "params.yaml").read_text())["report"]["inventory"])
    ref_view = build_inventory(read_compiled_tables(ref_db), settings).metrics
    for key in ("co2_emissions_t", "ch4_emissions_t", "co_emissions_t", "net_emissions_tco2e", "hwp_stock_end_tc"):
        assert got[key] == pytest.approx(ref_view[key], rel=1e-6, abs=2e-3), key
