"""Shared revision reading and quantity formatting (report/revisions.py), and compare/history across
several revisions, experiment names and scenarios."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from flintcloud.cli import main
from flintcloud.errors import ReportError
from flintcloud.report.compare import (
    MapRaster,
    Snapshot,
    category_table,
    compare_snapshots,
    map_difference,
    multi_bars_figure,
    overlay_figure,
    symmetric_bound,
    window_warnings,
    year_series,
)
from flintcloud.report.revisions import (
    fmt_quantity,
    metric_unit,
    pct_change,
    resolve_rev,
    scenario_sources,
    series_unit,
)

from ._gitdvc import DVC, ENV, git, init_repo, repro_and_commit, run, write_params


def test_quantities_keep_their_decimal_and_unit():
    assert fmt_quantity(2049.0, "tC") == "2,049.0 tC"
    assert fmt_quantity(-1977.744, "tC", signed=True) == "-1,977.7 tC"
    assert fmt_quantity(1.6791, "tC/ha/yr") == "1.68 tC/ha/yr"
    assert fmt_quantity(0.01234, "tC/ha") == "0.0123 tC/ha"
    assert fmt_quantity(-0.00001, "tC", signed=True) == "0.0000 tC"  # never "-0.0"
    assert fmt_quantity(2020.0, "year") == "2020" and fmt_quantity(1.0, "year", signed=True) == "+1"
    assert fmt_quantity(math.nan, "tC") == "—"


def test_no_percent_across_a_sign_change_or_from_near_zero():
    assert pct_change(-1977.744, 1606.9) != pct_change(-1977.744, 1606.9)  # NaN: NEP -1,978 -> +1,607
    assert math.isnan(pct_change(0.0, 5.0))
    assert math.isnan(pct_change(0.001, 5.0))  # base < 1 % of the new value
    assert pct_change(200.0, 150.0) == -25.0 and pct_change(-200.0, -300.0) == -50.0
    assert pct_change(0.0, 0.0) == 0.0


def test_units_from_names():
    assert metric_unit("total_ecosystem_c_end_tc") == "tC"
    assert metric_unit("mean_npp_tc_per_ha_yr") == "tC/ha/yr"
    assert metric_unit("no_clearcut.minus_baseline.area_disturbed_ha") == "ha"
    assert metric_unit("end_year") == "year" and metric_unit("mystery") == ""


REPORTS = Path(__file__).resolve().parents[2] / "reports"
# Every plot table the pipeline writes (the baseline's, each scenario's, the scenario comparison's).
PLOT_TABLES = sorted([*REPORTS.glob("plots/*.csv"), *REPORTS.glob("scenarios/*/plots/*.csv"),
                      *REPORTS.glob("scenario_comparison/plots/*.csv")])


def _panels(path: Path) -> pd.DataFrame:
    """The series compare draws of a plot table: one panel per column (by year, else by category)."""
    df = pd.read_csv(path)
    frame = year_series(df)
    return frame if frame is not None else category_table(df)


def test_gases_are_in_tonnes_of_the_gas():
    assert [series_unit("emissions", c) for c in ("co2_t", "ch4_t", "co_t", "net_tco2e", "mystery")] == [
        "t CO2", "t CH4", "t CO", "tCO2e", "tCO2e"]
    assert [metric_unit(k) for k in ("co2_from_co_t", "co2_harvested_wood_t", "co_emissions_t", "cost")] == [
        "t CO2", "t CO2", "t CO", ""]


def test_every_series_of_every_plot_table_has_a_unit():
    assert any(p.parent == REPORTS / "plots" for p in PLOT_TABLES), "reports/plots/*.csv missing"
    empty = [f"{p.relative_to(REPORTS)}: {col}" for p in PLOT_TABLES for col in _panels(p).columns
             if not series_unit(p.stem, str(col))]
    assert empty == []


def test_every_panel_of_the_emissions_and_summary_charts_shows_its_unit():
    emissions = year_series(pd.DataFrame({"year": [2010, 2011], "net_tco2e": [1.0, 2.0], "co2_t": [3.0, 4.0],
                                          "ch4_t": [0.1, 0.2], "co_t": [0.5, 0.6]}))
    fig = overlay_figure("emissions", [("main", emissions), ("exp", emissions + 1)], plot="emissions")
    assert {ax.get_title(): ax.get_ylabel() for ax in fig.axes if ax.get_visible()} == {
        "net_tco2e": "tCO2e", "co2_t": "t CO2", "ch4_t": "t CH4", "co_t": "t CO",
        "net_tco2e: revision − base": "tCO2e", "co2_t: revision − base": "t CO2",
        "ch4_t: revision − base": "t CH4", "co_t: revision − base": "t CO"}
    # a table with a unit column (scenario_comparison/plots/summary.csv): one panel per column and unit
    summary = category_table(pd.DataFrame({"scenario": ["b", "b"], "metric": ["nbp_tc", "area_ha"],
                                           "unit": ["tC", "ha"], "value": [5.0, 7.0]}))
    assert list(summary.columns) == ["value (tC)", "value (ha)"]
    assert summary["value (tC)"].dropna().to_dict() == {"b / nbp_tc": 5.0}
    assert summary["value (ha)"].dropna().to_dict() == {"b / area_ha": 7.0}
    fig = multi_bars_figure("summary", [("main", summary), ("exp", summary * 2)], plot="summary")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [(ax.get_title(), ax.get_ylabel()) for ax in axes] == [("value (tC)", "tC"), ("value (ha)", "ha")]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["b / nbp_tc"]  # no empty ha category


def test_scenario_sources_and_bad_names():
    s = scenario_sources("no_clearcut")
    assert (s.metrics, s.plots_dir, s.output_dir) == ("reports/scenarios/no_clearcut/metrics.json",
                                                      "reports/scenarios/no_clearcut/plots",
                                                      "build/scenarios/no_clearcut/output")
    assert scenario_sources("baseline").metrics == "reports/metrics.json"
    with pytest.raises(ReportError, match="is not a scenario name"):
        scenario_sources("../etc")


def _snap(label, metrics, maps=None, plots=None):
    return Snapshot(label=label, rev=None, params={}, metrics=metrics, plots=plots or {}, maps=maps or {})


def _map(values, year=2020):
    return MapRaster(path="m.tif", year=year, values=np.ma.masked_invalid(np.asarray(values, dtype="float64")),
                     transform=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), crs="EPSG:3005")


def test_window_and_area_warnings():
    base = _snap("main", {"start_year": 2010, "end_year": 2020, "area_ha": 100.0})
    same = _snap("a", {"start_year": 2010, "end_year": 2020, "area_ha": 100.0})
    longer = _snap("b", {"start_year": 2010, "end_year": 2030, "area_ha": 120.0})
    warnings = window_warnings(base, [same, longer])
    assert warnings == ["b simulates window 2010-2030, main window 2010-2020: whole-run totals are not like for like",
                        "b simulates area 120.0 ha, main 100.0 ha: whole-run totals are not like for like"]


def test_several_revisions_nbp_and_emission_maps_on_one_scale():
    stocks = pd.DataFrame({"year": [2010, 2011], "soil_carbon": [100.0, 101.0]})
    nbp = {"total_ecosystem": _map([[10, 10], [10, np.nan]]), "nbp": _map([[1, 1], [1, np.nan]]),
           "emissions": _map([[2, 2], [2, np.nan]])}
    a = {"total_ecosystem": _map([[12, 10], [10, np.nan]]), "nbp": _map([[3, 1], [1, np.nan]]),
         "emissions": _map([[2, 2], [7, np.nan]])}
    b = {"total_ecosystem": _map([[10, 6], [10, np.nan]]), "nbp": _map([[1, -3], [1, np.nan]]),
         "emissions": _map([[2, 2], [2, np.nan]])}
    md, pngs = compare_snapshots(
        _snap("main", {"cumulative_nep_tc": -1977.744}, nbp, {"stocks": stocks}),
        [_snap("exp-a", {"cumulative_nep_tc": 1606.9}, a, {"stocks": stocks + 1}),
         _snap("exp-b", {"cumulative_nep_tc": -1000.0}, b, {"stocks": stocks * 2})])
    assert set(pngs) == {"stocks.png", "total_ecosystem_difference.png", "nbp_difference.png",
                         "emissions_difference.png"}
    # no percent across the sign change, a percent where the sign is kept
    assert ("| `cumulative_nep_tc` | tC | -1,977.7 tC | 1,606.9 tC | +3,584.6 tC | — | -1,000.0 tC | +977.7 tC "
            "| +49.44 % |") in md
    assert "- Cumulative NBP, exp\\-a − main (2020): 1 of 3 pixels changed; difference min 0.0 tC/ha, max " \
           "2.00 tC/ha" in md
    # one symmetric scale for both revisions' NBP maps: the largest |difference| of either (exp-b's -4)
    nbp_diffs = [map_difference(nbp["nbp"], x["nbp"]) for x in (a, b)]
    assert symmetric_bound(nbp_diffs) == 4.0
    assert "- Cumulative total emissions, exp\\-b − main (2020): 0 of 3 pixels changed" in md


def test_overlay_figure_legend_names_every_revision():
    frame = pd.DataFrame({"soil_carbon": [100.0, 101.0]}, index=[2010, 2011])
    fig = overlay_figure("stocks", [("main (abc)", frame), ("exp-a", frame + 1), ("exp-b", frame + 2)], plot="stocks")
    top, bottom = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["main (abc)", "exp-a", "exp-b"]
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == ["exp-a − main (abc)", "exp-b − main (abc)"]
    assert top.get_ylabel() == "tC" and top.get_ylim()[0] == 0  # a stock drawn from zero
    assert list(bottom.lines[0].get_ydata()) == [1.0, 1.0]


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """main (growth 1, 2010-2012), branch `longer` (to 2013), experiment `fast` (growth 3) from main."""
    path = init_repo(tmp_path_factory.mktemp("multi") / "repo")
    write_params(path, growth=1.0)
    repro_and_commit(path, "baseline run")
    git(path, "checkout", "-q", "-b", "longer")
    write_params(path, growth=1.0, end_year=2013)
    repro_and_commit(path, "one more year")
    git(path, "checkout", "-q", "main")
    run([DVC, "checkout", "-q"], path)
    run([DVC, "exp", "run", "-q", "-n", "fast", "-S", "simulation.growth=3.0"], path)
    return path


def test_compare_experiment_names_branches_and_commits_at_once(multi):
    out = multi / "reports" / "compare.md"
    main_sha = git(multi, "rev-parse", "main")
    result = CliRunner().invoke(main, ["compare", main_sha[:10], "longer", "fast", "--repo", str(multi),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    fast = resolve_rev(multi, "fast")
    assert fast != main_sha
    assert (f"## Simulation results: longer \\({git(multi, 'rev-parse', '--short=7', 'longer')}\\), "
            f"fast \\(experiment {fast[:7]}\\) vs {main_sha[:10]} \\({main_sha[:7]}\\)") in md
    assert "> **Warning:** longer" in md and "simulates end year 2013, " in md
    # end-year total: 2090 + 19 * 3 * growth; longer: 2090 + 19 * 4
    assert "| `total_ecosystem_c_end_tc` | tC | 2,147.0 tC | 2,166.0 tC | +19.0 tC | +0.88 % | 2,261.0 tC |" in md
    assert "| `simulation\\.growth` |" not in md and "| `simulation.growth` | 1\\.0 | 1\\.0 | 3\\.0 |" in md
    assert (multi / "reports" / "compare" / "total_ecosystem_difference.png").is_file()


def test_unknown_revision_lists_the_experiments(multi):
    with pytest.raises(ReportError, match=r"unknown git revision 'fats'.*experiments here: fast"):
        resolve_rev(multi, "fats")


def test_temp_experiments_do_not_stack_and_compare_names_each(tmp_path):
    """docs/scenarios.md: `dvc exp run --temp -S ...` leaves the workspace alone, so a second
    experiment does not inherit the first one's override (a plain `dvc exp run` would)."""
    path = init_repo(tmp_path / "repo")
    write_params(path, growth=1.0)
    repro_and_commit(path, "baseline run")
    run([DVC, "exp", "run", "--temp", "-q", "-n", "faster", "-S", "simulation.growth=2.0"], path)
    run([DVC, "exp", "run", "--temp", "-q", "-n", "to2013", "-S", "simulation.end_year=2013"], path)
    assert "growth: 1.0" in (path / "params.yaml").read_text()  # the workspace is untouched
    out = path / "reports" / "compare.md"
    result = CliRunner().invoke(main, ["compare", "main", "faster", "to2013", "--repo", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    # to2013 keeps growth 1.0 (no stacking): 2090 + 19 * 4 * 1.0 = 2166; faster: 2090 + 19 * 3 * 2.0 = 2204
    assert "| `simulation.end_year` | 2012 | 2012 | 2013 |" in md
    assert "| `simulation.growth` | 1\\.0 | 2\\.0 | 1\\.0 |" in md
    assert "| 2,147.0 tC | 2,204.0 tC | +57.0 tC | +2.65 % | 2,166.0 tC | +19.0 tC | +0.88 % |" in md


def test_queued_and_temp_experiments_take_uncommitted_changes_and_only_their_own_override(tmp_path):
    """README/docs/scenarios.md: each `--queue` (then `--run-all`) or `--temp` experiment is the last commit
    plus the workspace's uncommitted changes plus its own -S; none inherits another's -S."""
    path = init_repo(tmp_path / "repo")
    write_params(path, growth=1.0)
    repro_and_commit(path, "baseline run")
    write_params(path, growth=2.0)  # uncommitted
    # as after `source .venv/bin/activate` (the README's first step): the queue's worker is the `dvc` on PATH
    env = {**ENV, "PATH": f"{Path(DVC).parent}{os.pathsep}{ENV.get('PATH', '')}"}
    for args in (["--queue", "-n", "to2013", "-S", "simulation.end_year=2013"],
                 ["--queue", "-n", "from2011", "-S", "simulation.start_year=2011"], ["--run-all"],
                 ["--temp", "-n", "to2014", "-S", "simulation.end_year=2014"]):
        proc = subprocess.run([DVC, "exp", "run", "-q", *args], cwd=path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    assert (path / "params.yaml").read_text() == ("simulation:\n  start_year: 2010\n  end_year: 2012\n"
                                                  "  growth: 2.0\nreport:\n  title: toy\n")  # untouched
    got = {name: yaml.safe_load(git(path, "show", f"{resolve_rev(path, name)}:params.yaml"))["simulation"]
           for name in ("to2013", "from2011", "to2014")}
    assert got == {"to2013": {"start_year": 2010, "end_year": 2013, "growth": 2.0},
                   "from2011": {"start_year": 2011, "end_year": 2012, "growth": 2.0},
                   "to2014": {"start_year": 2010, "end_year": 2014, "growth": 2.0}}


def test_compare_and_history_follow_one_scenario(tmp_path):
    """--scenario NAME reads reports/scenarios/NAME/ (metrics, plots) and build/scenarios/NAME/output."""
    path = init_repo(tmp_path / "repo")
    write_params(path, growth=1.0)
    alt = path / "reports" / "scenarios" / "alt"
    (alt / "plots").mkdir(parents=True)
    shas = []
    for nbp in (-100.0, -40.0):
        (alt / "metrics.json").write_text(f'{{"end_year": 2012, "cumulative_nbp_tc": {nbp}}}\n')
        (alt / "plots" / "stock_changes.csv").write_text(f"year,nbp\n2011,{nbp / 2}\n2012,{nbp / 2}\n")
        shas.append(repro_and_commit(path, f"alt nbp {nbp}"))
    out = path / "reports" / "compare.md"
    result = CliRunner().invoke(main, ["compare", shas[0], shas[1], "--scenario", "alt", "--repo", str(path),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    # the scenario's figures, not the baseline's; same sign, so a percent: +60 / |-100| = +60 %
    assert "| `cumulative_nbp_tc` | tC | -100.0 tC | -40.0 tC | +60.0 tC | +60.00 % |" in md
    assert "No difference map: no \\`spatial/Total\\_Ecosystem\\_C\\_\\<year\\>\\.tif\\` in build/scenarios/alt/output" in md
    assert (path / "reports" / "compare" / "stock_changes.png").is_file()
    hist = CliRunner().invoke(main, ["history", "--scenario", "alt", "--no-experiments", "--series", "stock_changes:nbp",
                                     "--repo", str(path), "--out", str(path / "reports" / "history.md")])
    assert hist.exit_code == 0, hist.output
    text = (path / "reports" / "history.md").read_text()
    assert "## History of `main` (scenario alt): 2 commit(s) with results" in text
    assert "| -40.0 tC (+60.0 tC) |" in text
