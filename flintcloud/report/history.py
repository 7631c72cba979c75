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
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.mdtext import code_span, plain_or_escaped
from flintcloud.report.compare import (
    Sources,
    _dvc_fs,
    _git,
    figure_png,
    flatten,
    fmt_change,
    fmt_number,
    fmt_pct,
    numeric_metrics,
    params_diff,
    resolve_rev,
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


def default_dvc() -> str:
    """The dvc next to this Python (the project's .venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")


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
    """One row per (commit, metric) with value, change and % change from the previous commit."""
    rows = []
    for prev, cur in zip([None, *commits[:-1]], commits):
        for m in metrics:
            value = cur.metrics.get(m, math.nan)
            before = prev.metrics.get(m, math.nan) if prev is not None else math.nan
            change = value - before
            pct = math.nan if before == 0.0 or math.isnan(before) else change / abs(before) * 100
            rows.append({"rev": cur.rev, "name": cur.name, "subject": cur.subject, "metric": m,
                         "value": value, "change": change, "pct_change": pct})
    return pd.DataFrame(rows, columns=["rev", "name", "subject", "metric", "value", "change", "pct_change"])


def biggest_moves(changes: pd.DataFrame) -> pd.DataFrame:
    """Per metric, the commit whose change (from its predecessor) was largest in absolute value."""
    moved = changes.dropna(subset=["change"])
    moved = moved[moved["change"] != 0]
    if moved.empty:
        return moved
    idx = moved["change"].abs().groupby(moved["metric"], sort=False).idxmax()
    return moved.loc[idx.values].reset_index(drop=True)


def history_figure(commits: Sequence[Point], experiments: Sequence[Point], metrics: Sequence[str], title: str):
    """One panel per metric: the branch's commits as a line, experiments as points at their baseline."""
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
        ax.set_xticks(range(len(commits)))
        ax.set_xticklabels(labels, rotation=60, fontsize=7, ha="right")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def _changed_params(prev: Point | None, cur: Point) -> str:
    if prev is None:
        return ""
    diff = params_diff(prev.params, cur.params)
    return ", ".join(f"{code_span(r.param)} {plain_or_escaped(r.base)} → {plain_or_escaped(r.branch)}"
                     for r in diff.itertuples())


def render_history_markdown(branch: str, commits: Sequence[Point], experiments: Sequence[Point],
                            metrics: Sequence[str], chart: str | None, skipped: Sequence[Point]) -> str:
    changes = commit_changes(commits, metrics)
    moves = biggest_moves(changes)
    out = [f"## History of {code_span(branch)}: {len(commits)} commit(s) with results, {len(experiments)} experiment(s)\n"]
    if chart:
        out.append(f"![headline metrics by commit]({chart})\n")
    out.append("### Which commit moved each metric most\n")
    if moves.empty:
        out.append("No headline metric changed between these commits.\n")
    else:
        out += ["| metric | commit | message | change | % change |", "|---|---|---|---:|---:|"]
        for r in moves.itertuples():
            out.append(f"| {code_span(r.metric)} | {code_span(r.name)} | {plain_or_escaped(r.subject)} | {fmt_change(r.change)} | {fmt_pct(r.pct_change)} |")
        out.append("")
    out.append("### Commits (oldest first)\n")
    head = "| commit | date | message | params changed | " + " | ".join(code_span(m) for m in metrics) + " |"
    out += [head, "|---|---|---|---|" + "---:|" * len(metrics)]
    for prev, cur in zip([None, *commits[:-1]], commits):
        cells = []
        for m in metrics:
            value = cur.metrics.get(m, math.nan)
            before = prev.metrics.get(m, math.nan) if prev is not None else math.nan
            delta = value - before
            cells.append(fmt_number(value) + (f" ({fmt_change(delta)})" if not math.isnan(delta) and delta != 0 else ""))
        out.append(f"| {code_span(cur.name)} | {cur.date[:10]} | {plain_or_escaped(cur.subject)} | "
                   f"{_changed_params(prev, cur)} | "
                   + " | ".join(cells) + " |")
    out.append("")
    if experiments:
        out.append("### DVC experiments\n")
        out += ["| experiment | from commit | params | " + " | ".join(code_span(m) for m in metrics) + " |",
                "|---|---|---|" + "---:|" * len(metrics)]
        names = {p.rev: p.name for p in commits}
        for e in experiments:
            out.append(f"| {code_span(e.name)} | {code_span(names.get(e.baseline, (e.baseline or '')[:7]))} | "
                       f"{plain_or_escaped(e.subject)} | "
                       + " | ".join(fmt_number(e.metrics.get(m, math.nan)) for m in metrics) + " |")
        out.append("")
    if skipped:
        names = [code_span(p.name) for p in skipped]
        shown = ", ".join(names) if len(names) <= 6 else ", ".join(names[:3]) + ", …, " + ", ".join(names[-3:])
        out.append(f"{len(skipped)} commit(s) without results (no metrics file) left out: {shown}.\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- I/O


def branch_commits(repo: Path, branch: str, max_commits: int) -> list[Point]:
    """The last `max_commits` first-parent commits of `branch`, oldest first (no metrics yet)."""
    sha = resolve_rev(repo, branch)
    log = _git(repo, "log", "--first-parent", f"--max-count={max_commits}", "--format=%H%x1f%h%x1f%cI%x1f%s", sha)
    points = []
    for line in reversed(log.splitlines()):
        full, short, date, subject = line.split("\x1f", 3)
        points.append(Point(kind="commit", rev=full, name=short, subject=subject.replace("|", "\\|"), date=date))
    return points


def _git_show(repo: Path, rev: str, path: str) -> str | None:
    """`path` at commit `rev` if git tracks it there, else None (then it may be a DVC output)."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True,
                          timeout=DVC_TIMEOUT)
    return proc.stdout if proc.returncode == 0 else None


def _read_at(repo: Path, point: Point, path: str, fs_holder: list) -> str:
    """Text of `path` at the commit: from git when git tracks it, else through DVC (its cache/remote).

    Git-tracked files (params.yaml, metrics with cache: false) are read with `git show`: one
    process per commit is cheap and shares no state with other revisions read in this process.
    """
    text = _git_show(repo, point.rev, path)
    if text is not None:
        return text
    if not fs_holder:
        fs_holder.append(_dvc_fs(repo, point.rev))
    return fs_holder[0].read_text(path)


def read_commit_results(repo: Path, point: Point, sources: Sources) -> bool:
    """Fill `point.params`/`point.metrics` from that commit; False if it has no metrics file."""
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
    return True


def read_experiments(repo: Path, branch: str, max_commits: int, sources: Sources, dvc: str | None = None) -> list[Point]:
    """Experiments derived from the branch's last commits, from `dvc exp show --json`."""
    cmd = [dvc or default_dvc(), "exp", "show", "--json", "--rev", branch, "-n", str(max_commits)]
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=DVC_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReportError(f"`{' '.join(cmd)}` failed in {str(repo)!r}: {err}") from err
    if proc.returncode != 0:
        raise ReportError(f"`{' '.join(cmd)}` failed in {str(repo)!r}: {proc.stderr.strip()[-500:]}")
    try:
        rows = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as err:
        raise ReportError(f"`{' '.join(cmd)}` printed something that is not JSON: {err}") from err
    return parse_exp_show(rows, sources)


def collect_history(repo: str | Path, branch: str = "HEAD", max_commits: int = 50, sources: Sources = Sources(),
                    with_experiments: bool = True, dvc: str | None = None) -> tuple[list[Point], list[Point], list[Point]]:
    """(commits with results, experiments, commits without results) for `branch`."""
    repo = Path(repo).resolve()
    commits, skipped = [], []
    for point in branch_commits(repo, branch, max_commits):
        (commits if read_commit_results(repo, point, sources) else skipped).append(point)
    experiments = read_experiments(repo, branch, max_commits, sources, dvc) if with_experiments else []
    return commits, experiments, skipped


def write_history_report(repo: str | Path = ".", branch: str = "HEAD", out: str | Path = "reports/history.md",
                         max_commits: int = 50, metrics: Sequence[str] | None = None, sources: Sources = Sources(),
                         with_experiments: bool = True, dvc: str | None = None) -> Path:
    """Write `out` and `<out without .md>/headline_metrics.png` atomically."""
    repo = Path(repo).resolve()
    out = Path(out)
    if not out.is_absolute():
        out = repo / out
    commits, experiments, skipped = collect_history(repo, branch, max_commits, sources, with_experiments, dvc)
    if not commits:
        raise ReportError(
            f"no commit among the last {max_commits} of {branch!r} has {sources.metrics!r}: "
            "commit a pipeline run (dvc repro, then git commit dvc.lock and the metrics) first"
        )
    if branch == "HEAD":
        name = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
        branch = name if name != "HEAD" else branch
    chosen = headline_metrics([*commits, *experiments], metrics)
    img_dir = out.with_suffix("")
    fig = history_figure(commits, experiments, chosen, f"Headline metrics along {branch}")
    png = figure_png(fig)
    markdown = render_history_markdown(branch, commits, experiments, chosen, f"{img_dir.name}/headline_metrics.png",
                                       skipped)
    with atomic_dir(img_dir) as tmp:
        (tmp / "headline_metrics.png").write_bytes(png)
    with atomic_file(out) as fh:
        fh.write(markdown)
    return out
