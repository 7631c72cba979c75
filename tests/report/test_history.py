"""`flintcloud history`: three commits and one DVC experiment in a real git + DVC repo."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flintcloud.cli import main
from flintcloud.errors import ReportError
from flintcloud.report.history import Point, biggest_moves, commit_changes, headline_metrics, parse_exp_show

from ._gitdvc import DVC, git, init_repo, repro_and_commit, run, write_params

# Toy model: end-year total = 2090 + 19 * n_years * growth; cumulative NBP = 19 * (n_years - 1) * growth
# (NBP counts the years after the first, as the toy summarize stage does).


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = init_repo(tmp_path_factory.mktemp("history") / "repo")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "scaffold without results")
    shas = {}
    write_params(path, growth=1.0)
    shas["first"] = repro_and_commit(path, "first run")
    write_params(path, growth=3.0)
    shas["growth"] = repro_and_commit(path, "faster growth")
    write_params(path, growth=3.0, end_year=2013)
    shas["longer"] = repro_and_commit(path, "one more year")
    run([DVC, "exp", "run", "-q", "-S", "simulation.growth=5.0"], path)
    return path, shas


def history(path, *args):
    return CliRunner().invoke(main, ["history", "--repo", str(path), "--out", str(path / "reports" / "history.md"),
                                     *args])


def test_history_over_three_commits_names_the_mover(repo):
    path, shas = repo
    result = history(path, "--branch", "main")
    assert result.exit_code == 0, result.output
    md = (path / "reports" / "history.md").read_text()
    assert "3 commit(s) with results, 1 experiment(s)" in md
    g = shas["growth"][:7]
    # 2147 -> 2261 (+114) -> 2318 (+57): the growth commit moved end-year carbon most
    assert f"| `total_ecosystem_c_end_tc` | `{g}` | faster growth | +114.0 tC | +5.31 % | params |" in md
    # NBP 38 -> 114 (+76) -> 171 (+57)
    assert f"| `cumulative_nbp_tc` | `{g}` | faster growth | +76.0 tC | +200.00 % | params |" in md
    rows = md.split("### Commits (oldest first)")[1].split("### DVC experiments")[0]
    assert f"| `{shas['first'][:7]}` |" in rows and "| (first) | 2,147.0 tC | 38.0 tC |" in rows
    assert f"| `{g}` |" in rows and "params: `simulation.growth` 1\\.0 → 3\\.0 | 2,261.0 tC (+114.0 tC) | 114.0 tC (+76.0 tC) |" in rows
    assert "params: `simulation.end_year` 2012 → 2013 | 2,318.0 tC (+57.0 tC) | 171.0 tC (+57.0 tC) |" in rows
    assert rows.index(shas["first"][:7]) < rows.index(g) < rows.index(shas["longer"][:7])
    # the experiment run from the last commit with growth 5: 2090 + 19*4*5 = 2470
    exps = md.split("### DVC experiments")[1]
    assert f"| `{shas['longer'][:7]}` | simulation\\.growth\\=5\\.0 | 2,470.0 tC | 285.0 tC |" in exps
    assert "1 commit(s) without results (no metrics file) left out" in md
    png = path / "reports" / "history" / "headline_metrics.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_history_limits_commits_and_chosen_metric(repo):
    path, shas = repo
    result = history(path, "--branch", "main", "--max-commits", "2", "--metric", "end_year", "--no-experiments")
    assert result.exit_code == 0, result.output
    md = (path / "reports" / "history.md").read_text()
    assert "2 commit(s) with results, 0 experiment(s)" in md
    assert f"| `end_year` | `{shas['longer'][:7]}` | one more year | +1 | +0.05 % | params |" in md
    assert shas["first"][:7] not in md


def test_unknown_metric_and_branch_are_clear_errors(repo):
    path, _ = repo
    result = history(path, "--metric", "no_such_metric", "--no-experiments")
    assert isinstance(result.exception, ReportError) and "no_such_metric" in str(result.exception)
    result = history(path, "--branch", "nope")
    assert isinstance(result.exception, ReportError) and "'nope'" in str(result.exception)


def test_parse_exp_show_dvc3_layout():
    rows = [
        {"rev": "workspace", "data": {}, "experiments": None},
        {"rev": "abc", "name": "main", "data": {
            "params": {"params.yaml": {"data": {"s": {"g": 1}}}},
            "metrics": {"reports/metrics.json": {"data": {"te": 10.0}}}},
         "experiments": [{"name": "exp-1", "revs": [{"rev": "e1", "name": "exp-1", "error": None, "data": {
             "timestamp": "2026-01-01T00:00:00",
             "params": {"params.yaml": {"data": {"s": {"g": 2}}}},
             "metrics": {"reports/metrics.json": {"data": {"te": 12.5, "label": "x"}}}}}]},
             {"name": "failed", "revs": [{"rev": "e2", "name": "failed", "error": {"msg": "boom"}, "data": {
                 "metrics": {"reports/metrics.json": {"data": {"te": 1.0}}}}}]}]},
    ]
    (exp,) = parse_exp_show(rows)
    assert (exp.name, exp.baseline, exp.subject, exp.metrics) == ("exp-1", "abc", "s.g=2", {"te": 12.5})


def test_biggest_moves_picks_largest_absolute_change():
    pts = [Point("commit", r, r, f"msg {r}", "", metrics={"a": v}) for r, v in (("c1", 10.0), ("c2", 4.0), ("c3", 7.0))]
    moves = biggest_moves(commit_changes(pts, ["a"]))
    assert moves.to_dict("records")[0]["name"] == "c2" and moves.iloc[0]["change"] == -6.0
    with pytest.raises(ReportError, match="'zz'"):
        headline_metrics(pts, ["zz"])


@pytest.fixture(scope="module")
def attributed(tmp_path_factory):
    """Three commits with results: a first run, a code change (the model doubles growth), an input change."""
    from ._gitdvc import SIM_SCRIPT

    path = init_repo(tmp_path_factory.mktemp("attributed") / "repo")
    (path / "data").mkdir()
    (path / "data" / "inventory.csv").write_text("stand,area\nA,1\n")
    run([DVC, "add", "-q", "data/inventory.csv"], path)
    write_params(path, growth=1.0)
    shas = {"first": repro_and_commit(path, "first run")}
    (path / "sim.py").write_text(SIM_SCRIPT.replace("tec = base + growth * i", "tec = base + 2 * growth * i"))
    shas["code"] = repro_and_commit(path, "engine fix")
    (path / "data" / "inventory.csv").write_text("stand,area\nA,2\n")
    run([DVC, "add", "-q", "data/inventory.csv"], path)
    shas["inputs"] = repro_and_commit(path, "new inventory")
    return path, shas


def test_each_change_is_attributed_to_params_inputs_or_code(attributed):
    path, shas = attributed
    result = history(path, "--no-experiments", "--metric", "cumulative_nbp_tc", "--metric", "stocks.soil_c_end_tc")
    assert result.exit_code == 0, result.output
    md = (path / "reports" / "history.md").read_text()
    rows = md.split("### Commits (oldest first)")[1]
    code_row = next(line for line in rows.splitlines() if line.startswith(f"| `{shas['code'][:7]}`"))
    inputs_row = next(line for line in rows.splitlines() if line.startswith(f"| `{shas['inputs'][:7]}`"))
    # a code span renders its text literally: no backslash escapes inside it
    assert "| code: `sim.py` |" in code_row and "params" not in code_row and "inputs" not in code_row
    # NBP over 2011-2012 doubles: 38 -> 76 tC, with no param changed: the code did it
    assert "| 76.0 tC (+38.0 tC) |" in code_row
    assert "| inputs: `data/inventory.csv` |" in inputs_row and "code:" not in inputs_row
    assert f"| `cumulative_nbp_tc` | `{shas['code'][:7]}` | engine fix | +38.0 tC | +100.00 % | code |" in md
    assert "`stocks.soil_c_end_tc`" in md  # any metric, nested keys dotted


def test_history_draws_a_yearly_series_and_follows_a_scenario(attributed):
    path, _ = attributed
    result = history(path, "--no-experiments", "--series", "stock_changes:delta_total_ecosystem_tc")
    assert result.exit_code == 0, result.output
    md = (path / "reports" / "history.md").read_text()
    assert "![stock\\_changes\\:delta\\_total\\_ecosystem\\_tc by year at each commit](history/series.png)" in md
    assert (path / "reports" / "history" / "series.png").read_bytes()[:4] == b"\x89PNG"
    bad = history(path, "--no-experiments", "--series", "stock_changes:nope")
    assert isinstance(bad.exception, ReportError) and "no commit has column 'nope'" in str(bad.exception)
    # a scenario's results are read from reports/scenarios/<name>/: none in this repo, said clearly
    missing = history(path, "--no-experiments", "--scenario", "no_clearcut")
    assert isinstance(missing.exception, ReportError)
    assert "'reports/scenarios/no_clearcut/metrics.json'" in str(missing.exception)
