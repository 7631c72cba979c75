"""How the headline metrics moved across a branch's commits and DVC experiments (`flintcloud history`).

Each commit's `params.yaml` and `reports/metrics.json` are read through DVC at that commit (git-tracked
metrics come from git, DVC-tracked ones from the cache); experiments come from `dvc exp show --json`.
For every headline metric the report names the commit that moved it most, with its message and the
params it changed.

Pure functions (`parse_exp_show`, `commit_changes`, `biggest_moves`, `history_figure`,
`render_history_markdown`) take and return plain values; `collect_history` and
`write_history_report` do the I/O.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.mdtext import code_span, escape_markdown
from flintcloud.report.revisions import (
    Sources,
    default_dvc,
    dvc_fs,
    figure_png,
    flatten,
    fmt_pct,
    fmt_quantity,
    git,
    git_show,
    metric_unit,
    numeric_metrics,
    params_diff,
    pct_change,
    resolve_rev,
    series_unit,
)

# Shown by default when present (issue 3's headline figures); otherwise the first numeric metrics.
DEFAULT_HEADLINE = (
    "total_ecosystem_c_end_tc",
    "cumulative_nbp_tc",
    "mean_npp_tc_per_yr",
    "total_disturbance_emissions_tc",
    "area_disturbed_ha",
    "soil_c_end_tc",
)
MAX_FALLBACK_METRICS = 6
DVC_TIMEOUT = 300


@dataclass
class Point:
    """One commit of the branch, or one DVC experiment derived from a commit."""

    kind: str  # "commit" | "experiment"
    rev: str  # full sha
    name: str  # short sha, or the experiment's name
    subject: str  # commit message's first line, or the experiment's changed params
    date: str
    params: dict[str, object] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: str | None = None  # experiments: the commit they were run from
    inputs: dict[str, str] = field(default_factory=dict)  # input path -> DVC hash (.dvc files, dvc.lock data deps)
    code: tuple[str, ...] = ()  # code files changed since the previous commit (git diff)
    series: pd.Series | None = None  # the yearly series followed (--series), indexed by year


# ----------------------------------------------------------------------------- pure functions


def _exp_data(entry: dict, metrics_file: str, params_file: str) -> tuple[dict, dict] | None:
    data = entry.get("data") or {}
    metrics = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data")
    if not metrics:
        return None
    params = ((data.get("params") or {}).get(params_file) or {}).get("data") or {}
    return flatten(params), numeric_metrics(metrics)


def parse_exp_show(rows: Sequence[dict], sources: Sources = Sources()) -> list[Point]:
    """Experiments in `dvc exp show --json` output (DVC 3 layout), with the params they changed.

    Baseline commits and the workspace are not returned: commits come from git.
    """
    baselines: dict[str, dict] = {}
    points: list[Point] = []
    for row in rows:
        rev = row.get("rev")
        if rev == "workspace":
            continue
        base = _exp_data(row, sources.metrics, sources.params)
        if base is not None:
            baselines[rev] = base[0]
        for group in row.get("experiments") or []:
            for exp in group.get("revs") or []:
                parsed = _exp_data(exp, sources.metrics, sources.params)
                if parsed is None or exp.get("error"):
                    continue
                params, metrics = parsed
                changed = params_diff(baselines.get(rev, {}), params)
                subject = ", ".join(f"{r.param}={r.branch}" for r in changed.itertuples()) or "(no param change)"
                points.append(Point(
                    kind="experiment", rev=exp.get("rev", ""), name=exp.get("name") or group.get("name") or exp.get("rev", "")[:7],
                    subject=subject, date=(exp.get("data") or {}).get("timestamp") or "", params=params,
                    metrics=metrics, baseline=rev,
                ))
    return points


def headline_metrics(points: Sequence[Point], wanted: Sequence[str] | None = None) -> list[str]:
    """The metrics to follow: `wanted` if given, else DEFAULT_HEADLINE's present ones, else the first few."""
    present = list(dict.fromkeys(k for p in points for k in p.metrics))
    if wanted:
        missing = [m for m in wanted if m not in present]
        if missing:
            raise ReportError(f"metric(s) {missing} not found in any revision; available: {present}")
        return list(wanted)
    chosen = [m for m in DEFAULT_HEADLINE if m in present]
    return chosen or present[:MAX_FALLBACK_METRICS]


def commit_changes(commits: Sequence[Point], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (commit, metric) with value, change, % change from the previous commit and what
    changed with it (`cause`: params, inputs, code)."""
    rows = []
    for prev, cur in zip([None, *commits[:-1]], commits):
        cause = ", ".join(attribution(prev, cur)) if prev is not None else ""
        for m in metrics:
            value = cur.metrics.get(m, math.nan)
            before = prev.metrics.get(m, math.nan) if prev is not None else math.nan
            rows.append({"rev": cur.rev, "name": cur.name, "subject": cur.subject, "metric": m,
                         "value": value, "change": value - before, "pct_change": pct_change(before, value),
                         "cause": cause})
    return pd.DataFrame(rows, columns=["rev", "name", "subject", "metric", "value", "change", "pct_change", "cause"])


def biggest_moves(changes: pd.DataFrame) -> pd.DataFrame:
    """Per metric, the commit whose change (from its predecessor) was largest in absolute value."""
    moved = changes.dropna(subset=["change"])
    moved = moved[moved["change"] != 0]
    if moved.empty:
        return moved
    idx = moved["change"].abs().groupby(moved["metric"], sort=False).idxmax()
    return moved.loc[idx.values].reset_index(drop=True)


def changed_inputs(prev: Point, cur: Point) -> list[str]:
    """Input paths whose DVC hash differs between two commits (added or removed ones too)."""
    return sorted(k for k in set(prev.inputs) | set(cur.inputs) if prev.inputs.get(k) != cur.inputs.get(k))


def attribution(prev: Point, cur: Point) -> list[str]:
    """What changed from `prev` to `cur` that can move results: 'params', 'inputs', 'code'."""
    out = []
    if not params_diff(prev.params, cur.params).empty:
        out.append("params")
    if changed_inputs(prev, cur):
        out.append("inputs")
    if cur.code:
        out.append("code")
    return out


def history_figure(commits: Sequence[Point], experiments: Sequence[Point], metrics: Sequence[str], title: str):
    """One panel per metric (unit on the axis): the branch's commits as a line, experiments as points
    at their baseline."""
    from matplotlib.figure import Figure

    n = max(1, len(metrics))
    ncols = min(2, n)
    nrows = math.ceil(n / ncols)
    width = max(6.0, 0.45 * len(commits) + 3)
    fig = Figure(figsize=(width * ncols / 1.4, 2.8 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    x_of = {p.rev: i for i, p in enumerate(commits)}
    labels = [p.name for p in commits]
    for ax, m in zip(axes, metrics):
        xs = [i for i, p in enumerate(commits) if m in p.metrics]
        ax.plot(xs, [commits[i].metrics[m] for i in xs], "o-", color="tab:blue", label="commits")
        ex = [(x_of[e.baseline] + 0.15, e.metrics[m]) for e in experiments if e.baseline in x_of and m in e.metrics]
        if ex:
            ax.scatter(*zip(*ex), marker="D", color="tab:orange", s=22, label="experiments", zorder=3)
        ax.set_title(m, fontsize=9)
        ax.set_ylabel(metric_unit(m), fontsize=8)
        ax.set_xticks(range(len(commits)))
        ax.set_xticklabels(labels, rotation=60, fontsize=7, ha="right")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def series_figure(commits: Sequence[Point], series: str, unit: str, title: str):
    """The yearly series at every commit that has it, one line each (older commits lighter)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    have = [p for p in commits if p.series is not None]
    cmap = colormaps["viridis"]
    for i, p in enumerate(have):
        ax.plot(p.series.index, p.series.values, marker="o", ms=3, color=cmap(i / max(1, len(have) - 1)),
                label=f"{p.name} {p.subject[:40]}")
    ax.set_title(series, fontsize=10)
    ax.set_ylabel(unit, fontsize=8)
    ax.set_xlabel("year", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    fig.suptitle(title)
    return fig


def _changed_params(prev: Point | None, cur: Point) -> str:
    if prev is None:
        return ""
    diff = params_diff(prev.params, cur.params)
    return ", ".join(f"{code_span(r.param)} {escape_markdown(r.base)} → {escape_markdown(r.branch)}" for r in diff.itertuples())


def _cause_cell(prev: Point | None, cur: Point) -> str:
    if prev is None:
        return "(first)"
    parts = []
    params = _changed_params(prev, cur)
    if params:
        parts.append(f"params: {params}")
    inputs = changed_inputs(prev, cur)
    if inputs:
        parts.append("inputs: " + ", ".join(f"{code_span((i))}" for i in inputs))
    if cur.code:
        shown = list(cur.code[:4]) + ([f"+{len(cur.code) - 4} more"] if len(cur.code) > 4 else [])
        parts.append("code: " + ", ".join(f"{code_span((c))}" for c in shown))
    return "; ".join(parts) or "nothing that moves results"


def render_history_markdown(branch: str, commits: Sequence[Point], experiments: Sequence[Point],
                            metrics: Sequence[str], chart: str | None, skipped: Sequence[Point],
                            series_chart: str | None = None, series: str | None = None,
                            scenario: str | None = None) -> str:
    changes = commit_changes(commits, metrics)
    moves = biggest_moves(changes)
    what = f" (scenario {escape_markdown(scenario)})" if scenario else ""
    out = [f"## History of {code_span(branch)}{what}: {len(commits)} commit(s) with results, "
           f"{len(experiments)} experiment(s)\n"]
    if chart:
        out.append(f"![headline metrics by commit]({chart})\n")
    if series_chart:
        out.append(f"![{escape_markdown(series)} by year at each commit]({series_chart})\n")
    out.append("### Which commit moved each metric most\n")
    if moves.empty:
        out.append("No headline metric changed between these commits.\n")
    else:
        out += ["| metric | commit | message | change | % change | changed with it |", "|---|---|---|---:|---:|---|"]
        for r in moves.itertuples():
            out.append(f"| {code_span(r.metric)} | {code_span(r.name)} | {escape_markdown(r.subject)} | "
                       f"{fmt_quantity(r.change, metric_unit(r.metric), signed=True)} | {fmt_pct(r.pct_change)} | "
                       f"{r.cause or '—'} |")
        out.append("")
    out.append("### Commits (oldest first)\n")
    out.append("What changed with each commit: params (params.yaml), inputs (DVC hashes of `.dvc` files and of "
               "the data dependencies in dvc.lock), code (files outside data/, reports/ and docs/).\n")
    head = "| commit | date | message | changed | " + " | ".join(f"{code_span(m)}" for m in metrics) + " |"
    out += [head, "|---|---|---|---|" + "---:|" * len(metrics)]
    for prev, cur in zip([None, *commits[:-1]], commits):
        cells = []
        for m in metrics:
            unit = metric_unit(m)
            value = cur.metrics.get(m, math.nan)
            before = prev.metrics.get(m, math.nan) if prev is not None else math.nan
            delta = value - before
            cells.append(fmt_quantity(value, unit)
                         + (f" ({fmt_quantity(delta, unit, signed=True)})" if not math.isnan(delta) and delta != 0 else ""))
        out.append(f"| {code_span(cur.name)} | {cur.date[:10]} | {escape_markdown(cur.subject)} | {_cause_cell(prev, cur)} | "
                   + " | ".join(cells) + " |")
    out.append("")
    if experiments:
        out.append("### DVC experiments\n")
        out += ["| experiment | from commit | params | " + " | ".join(f"{code_span(m)}" for m in metrics) + " |",
                "|---|---|---|" + "---:|" * len(metrics)]
        names = {p.rev: p.name for p in commits}
        for e in experiments:
            out.append(f"| {code_span((e.name))} | {code_span(names.get(e.baseline, (e.baseline or '')[:7]))} | "
                       f"{escape_markdown(e.subject)} | "
                       + " | ".join(fmt_quantity(e.metrics.get(m, math.nan), metric_unit(m)) for m in metrics) + " |")
        out.append("")
    if skipped:
        names = [f"{code_span(p.name)}" for p in skipped]
        shown = ", ".join(names) if len(names) <= 6 else ", ".join(names[:3]) + ", …, " + ", ".join(names[-3:])
        out.append(f"{len(skipped)} commit(s) without results (no metrics file) left out: {shown}.\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- I/O

# Files whose change is not a code change: results, data, docs (inputs are tracked by their DVC hash).
NOT_CODE = ("data/", "reports/", "docs/", "build/", "README", "dvc.lock", "params.yaml", ".dvc/", ".gitignore")


def branch_commits(repo: Path, branch: str, max_commits: int) -> list[Point]:
    """The last `max_commits` first-parent commits of `branch`, oldest first (no metrics yet)."""
    sha = resolve_rev(repo, branch)
    log = git(repo, "log", "--first-parent", f"--max-count={max_commits}", "--format=%H%x1f%h%x1f%cI%x1f%s", sha)
    points = []
    for line in reversed(log.splitlines()):
        full, short, date, subject = line.split("\x1f", 3)
        points.append(Point(kind="commit", rev=full, name=short, subject=subject, date=date))
    return points


def read_inputs(repo: Path, rev: str) -> dict[str, str]:
    """Input path -> DVC hash at a commit: every `.dvc` file's outs, and the dvc.lock deps under data/."""
    hashes: dict[str, str] = {}
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev], cwd=repo, capture_output=True, text=True,
                             timeout=DVC_TIMEOUT)
    for path in listing.stdout.splitlines():
        if path.endswith(".dvc"):
            doc = yaml.safe_load(git_show(repo, rev, path) or "") or {}
            for o in doc.get("outs") or []:
                if isinstance(o, dict) and "path" in o:
                    hashes[str(Path(path).parent / o["path"])] = str(o.get("md5") or o.get("etag") or "")
    lock = yaml.safe_load(git_show(repo, rev, "dvc.lock") or "") or {}
    for stage in (lock.get("stages") or {}).values():
        for d in stage.get("deps") or []:
            if isinstance(d, dict) and str(d.get("path", "")).startswith("data/"):
                hashes.setdefault(str(d["path"]), str(d.get("md5") or ""))
    return hashes


def code_changes(repo: Path, prev: str, cur: str) -> tuple[str, ...]:
    """Files changed from `prev` to `cur` that are code (not data, results or docs)."""
    names = git(repo, "diff", "--name-only", prev, cur).splitlines()
    return tuple(n for n in names if n and not n.startswith(NOT_CODE) and not n.endswith((".dvc", ".md")))


def _read_at(repo: Path, point: Point, path: str, fs_holder: list) -> str:
    """Text of `path` at the commit: from git when git tracks it, else through DVC (its cache/remote).

    Git-tracked files (params.yaml, metrics with cache: false) are read with `git show`: one
    process per commit is cheap and shares no state with other revisions read in this process.
    """
    text = git_show(repo, point.rev, path)
    if text is not None:
        return text
    if not fs_holder:
        fs_holder.append(dvc_fs(repo, point.rev))
    return fs_holder[0].read_text(path)


def parse_series_name(series: str) -> tuple[str, str]:
    """'stock_changes:nbp' -> ('stock_changes', 'nbp'); ReportError on another shape."""
    if series.count(":") != 1 or not all(series.split(":")):
        raise ReportError(f"--series {series!r}: expected PLOT:COLUMN, e.g. stock_changes:nbp or stocks:soil_carbon")
    plot, column = series.split(":")
    return plot.removesuffix(".csv"), column


def read_series(repo: Path, point: Point, sources: Sources, series: str, fs_holder: list) -> pd.Series | None:
    """A yearly series (plots CSV PLOT, column COLUMN, by year) at a commit; None when absent there."""
    import io

    plot, column = parse_series_name(series)
    try:
        frame = pd.read_csv(io.StringIO(_read_at(repo, point, f"{sources.plots_dir}/{plot}.csv", fs_holder)))
    except FileNotFoundError:
        return None
    if "year" not in frame or column not in frame:
        return None
    return frame.groupby("year")[column].sum()


def read_commit_results(repo: Path, point: Point, sources: Sources, series: str | None = None) -> bool:
    """Fill `point.params`/`metrics`/`inputs` (and `series`) from that commit; False if it has no metrics file."""
    fs_holder: list = []
    try:
        text = _read_at(repo, point, sources.metrics, fs_holder)
    except FileNotFoundError:
        return False
    except ReportError:
        raise
    except Exception as err:
        raise ReportError(f"cannot read {sources.metrics!r} at commit {point.name} through DVC: {err}") from err
    try:
        point.metrics = numeric_metrics(json.loads(text))
    except json.JSONDecodeError as err:
        raise ReportError(f"{sources.metrics!r} at commit {point.name} is not valid JSON: {err}") from err
    try:
        point.params = flatten(yaml.safe_load(_read_at(repo, point, sources.params, fs_holder)) or {})
    except FileNotFoundError:
        point.params = {}
    point.inputs = read_inputs(repo, point.rev)
    if series:
        point.series = read_series(repo, point, sources, series, fs_holder)
    return True


def read_experiments(repo: Path, branch: str, max_commits: int, sources: Sources, dvc: str | None = None) -> list[Point]:
    """Experiments derived from the branch's last commits, from `dvc exp show --json`."""
    cmd = [dvc or default_dvc(), "exp", "show", "--json", "--rev", branch, "-n", str(max_commits)]
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=DVC_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReportError(f"{code_span(' '.join(cmd))} failed in {str(repo)!r}: {err}") from err
    if proc.returncode != 0:
        raise ReportError(f"{code_span(' '.join(cmd))} failed in {str(repo)!r}: {proc.stderr.strip()[-500:]}")
    try:
        rows = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as err:
        raise ReportError(f"{code_span(' '.join(cmd))} printed something that is not JSON: {err}") from err
    return parse_exp_show(rows, sources)


def collect_history(repo: str | Path, branch: str = "HEAD", max_commits: int = 50, sources: Sources = Sources(),
                    with_experiments: bool = True, dvc: str | None = None,
                    series: str | None = None) -> tuple[list[Point], list[Point], list[Point]]:
    """(commits with results, experiments, commits without results) for `branch`; each commit with
    results knows the code changed since the previous one with results."""
    repo = Path(repo).resolve()
    commits, skipped = [], []
    for point in branch_commits(repo, branch, max_commits):
        (commits if read_commit_results(repo, point, sources, series) else skipped).append(point)
    for prev, cur in zip(commits, commits[1:]):
        cur.code = code_changes(repo, prev.rev, cur.rev)
    experiments = read_experiments(repo, branch, max_commits, sources, dvc) if with_experiments else []
    return commits, experiments, skipped


def write_history_report(repo: str | Path = ".", branch: str = "HEAD", out: str | Path = "reports/history.md",
                         max_commits: int = 50, metrics: Sequence[str] | None = None, sources: Sources = Sources(),
                         with_experiments: bool = True, dvc: str | None = None, series: str | None = None,
                         scenario: str | None = None) -> Path:
    """Write `out` and `<out without .md>/headline_metrics.png` (and `series.png`) atomically."""
    repo = Path(repo).resolve()
    out = Path(out)
    if not out.is_absolute():
        out = repo / out
    if series:
        parse_series_name(series)
    commits, experiments, skipped = collect_history(repo, branch, max_commits, sources, with_experiments, dvc, series)
    if not commits:
        raise ReportError(
            f"no commit among the last {max_commits} of {branch!r} has {sources.metrics!r}: "
            "commit a pipeline run (dvc repro, then git commit dvc.lock and the metrics) first"
        )
    if series and all(p.series is None for p in commits):
        plot, column = parse_series_name(series)
        raise ReportError(f"--series {series!r}: no commit has column {column!r} by year in "
                          f"{sources.plots_dir}/{plot}.csv")
    if branch == "HEAD":
        name = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
        branch = name if name != "HEAD" else branch
    chosen = headline_metrics([*commits, *experiments], metrics)
    img_dir = out.with_suffix("")
    pngs = {"headline_metrics.png": figure_png(history_figure(commits, experiments, chosen,
                                                                f"Headline metrics along {branch}"))}
    if series:
        plot, column = parse_series_name(series)
        pngs["series.png"] = figure_png(series_figure(commits, series, series_unit(plot, column), f"{series} along {branch}"))
    markdown = render_history_markdown(branch, commits, experiments, chosen, f"{img_dir.name}/headline_metrics.png",
                                       skipped, f"{img_dir.name}/series.png" if series else None, series, scenario)
    with atomic_dir(img_dir) as tmp:
        for name, data in pngs.items():
            (tmp / name).write_bytes(data)
    with atomic_file(out) as fh:
        fh.write(markdown)
    return out
