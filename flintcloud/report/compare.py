"""Compare this branch's pipeline results with another revision's (`flintcloud compare BASE_REV`).

The base revision's outputs are read through DVC (`dvc.api.DVCFileSystem` at that git revision:
git-tracked files come from git, DVC-tracked outputs from the local cache or the remote); the
branch side is the workspace as `dvc repro` left it. Nothing is rerun and nothing needs a network
except DVC's own fetch of a base output missing from the cache.

Layout: pure functions (`flatten`, `params_diff`, `metrics_diff`, `year_series`, `map_difference`,
the `*_figure` builders and `render_markdown`) take and return plain values; `read_snapshot` and
`write_compare_report` are their I/O twins.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.mdtext import code_span, plain_or_escaped, relative_link

# Where the pipeline writes what `compare` reads (issue 3's layout).
DEFAULT_PARAMS = "params.yaml"
DEFAULT_METRICS = "reports/metrics.json"
DEFAULT_PLOTS_DIR = "reports/plots"
# The end-year map: spatial/<Indicator>_<year>.tif inside one of the DVC outputs in dvc.lock.
MAP_PATTERN = re.compile(r"^Total[_ ]?Ecosystem(?:[_ ]C)?_(\d{4})\.tif$", re.IGNORECASE)
GIT_TIMEOUT = 60


@dataclass(frozen=True)
class Sources:
    """Repository-relative paths `compare`/`history` read at each revision."""

    params: str = DEFAULT_PARAMS
    metrics: str = DEFAULT_METRICS
    plots_dir: str = DEFAULT_PLOTS_DIR


@dataclass
class MapRaster:
    """One GeoTIFF band read through DVC: masked values plus the grid it sits on."""

    path: str
    year: int
    values: np.ma.MaskedArray
    transform: tuple
    crs: str


@dataclass
class Snapshot:
    """What one revision's pipeline produced, as compare needs it."""

    label: str
    rev: str | None  # None = the workspace
    params: dict[str, object]
    metrics: dict[str, float]
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)
    end_map: MapRaster | None = None
    map_note: str | None = None  # why there is no end_map


@dataclass
class MapDiff:
    values: np.ma.MaskedArray  # branch - base, masked where either is nodata
    base_year: int
    branch_year: int
    n_valid: int
    n_changed: int
    min: float
    max: float
    mean: float
    sum: float


# ----------------------------------------------------------------------------- pure functions


def flatten(obj: Mapping, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are kept as values."""
    flat: dict[str, object] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def numeric_metrics(metrics: Mapping) -> dict[str, float]:
    """Flattened metrics that are numbers (bools and strings are not headline figures)."""
    out = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value)
    return out


def params_diff(base: Mapping[str, object], branch: Mapping[str, object]) -> pd.DataFrame:
    """Rows for every flattened param whose value differs (added/removed keys show None)."""
    rows = []
    for key in sorted(set(base) | set(branch)):
        a, b = base.get(key), branch.get(key)
        if a != b or (key in base) != (key in branch):
            rows.append({"param": key, "base": a, "branch": b})
    return pd.DataFrame(rows, columns=["param", "base", "branch"], dtype=object)


def metrics_diff(base: Mapping[str, float], branch: Mapping[str, float]) -> pd.DataFrame:
    """base, branch, change = branch - base, pct_change = change / |base| * 100 (NaN when base is 0)."""
    rows = []
    for key in list(base) + [k for k in branch if k not in base]:
        a, b = base.get(key, math.nan), branch.get(key, math.nan)
        change = b - a
        if a == 0.0 and b == 0.0:
            pct = 0.0
        elif a == 0.0 or math.isnan(a):
            pct = math.nan  # no relative change from zero or from nothing
        else:
            pct = change / abs(a) * 100.0
        rows.append({"metric": key, "base": a, "branch": b, "change": change, "pct_change": pct})
    return pd.DataFrame(rows, columns=["metric", "base", "branch", "change", "pct_change"])


def year_series(df: pd.DataFrame) -> pd.DataFrame | None:
    """A plots CSV as one column per series indexed by year, or None if it is not by year.

    Accepts wide tables (year + numeric columns) and long ones (year + label column(s) + one
    numeric value column), the two shapes DVC plots take.
    """
    year_cols = [c for c in df.columns if str(c).strip().lower() == "year"]
    if not year_cols or df.empty:
        return None
    year = year_cols[0]
    rest = df.drop(columns=[year])
    numeric = [c for c in rest.columns if pd.api.types.is_numeric_dtype(rest[c])]
    labels = [c for c in rest.columns if c not in numeric]
    if not numeric:
        return None
    if labels:
        long = df.assign(_series=df[labels].astype(str).agg(" / ".join, axis=1))
        parts = []
        for col in numeric:
            part = long.pivot_table(index=year, columns="_series", values=col, aggfunc="sum")
            parts.append(part if len(numeric) == 1 else part.add_suffix(f" {col}"))
        wide = pd.concat(parts, axis=1)
        wide.columns = [str(c) for c in wide.columns]
    else:
        wide = df.groupby(year)[numeric].sum()
    wide.index = wide.index.astype(int)
    return wide.sort_index()


def category_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """A plots CSV without a year column as numbers per category (index: the label columns joined),
    e.g. emissions by disturbance type or area by age class; None if it has no labels or no numbers."""
    if df.empty or any(str(c).strip().lower() == "year" for c in df.columns):
        return None
    labels = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    numeric = [c for c in df.columns if c not in labels and not re.search(r"(^|_)(id|class)$", str(c))]
    if not labels or not numeric:
        return None
    index = df[labels].astype(str).agg(" / ".join, axis=1)
    return df[numeric].set_axis(index, axis=0).groupby(level=0, sort=False).sum()


def map_difference(base: MapRaster, branch: MapRaster) -> MapDiff:
    """branch - base on the same grid; ReportError if the grids differ."""
    if base.values.shape != branch.values.shape or not np.allclose(base.transform, branch.transform):
        raise ReportError(
            f"cannot difference {branch.path!r} and {base.path!r}: grids differ "
            f"(shape {branch.values.shape} vs {base.values.shape}, transform {branch.transform} vs {base.transform})"
        )
    if base.crs != branch.crs:
        raise ReportError(f"cannot difference {branch.path!r} and {base.path!r}: CRS {branch.crs} vs {base.crs}")
    diff = np.ma.masked_array(
        branch.values.filled(np.nan).astype("float64") - base.values.filled(np.nan).astype("float64"),
        mask=np.ma.getmaskarray(branch.values) | np.ma.getmaskarray(base.values),
    )
    valid = diff.compressed()
    if valid.size == 0:
        lo = hi = mean = total = 0.0
    else:
        lo, hi, mean, total = float(valid.min()), float(valid.max()), float(valid.mean()), float(valid.sum())
    return MapDiff(
        values=diff, base_year=base.year, branch_year=branch.year, n_valid=int(valid.size),
        n_changed=int(np.count_nonzero(valid)), min=lo, max=hi, mean=mean, sum=total,
    )


def fmt_number(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 1e4 else str(int(value))  # years stay 2020
    if abs(value) >= 1e3:
        return f"{value:,.1f}"
    return f"{value:.6g}"


def fmt_change(value: float) -> str:
    if math.isnan(value):
        return "—"
    return ("+" if value > 0 else "") + fmt_number(value)


def fmt_pct(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:+.2f} %"


def _md_cell(value: object) -> str:
    """A params value as written in params.yaml (1.0 stays 1.0)."""
    text = "—" if value is None else (json.dumps(value) if isinstance(value, (list, dict)) else str(value))
    return plain_or_escaped(text)


def params_table(diff: pd.DataFrame) -> str:
    if diff.empty:
        return "No parameter changed.\n"
    lines = ["| param | base | branch |", "|---|---:|---:|"]
    for row in diff.itertuples(index=False):
        lines.append(f"| {code_span(row.param)} | {_md_cell(row.base)} | {_md_cell(row.branch)} |")
    return "\n".join(lines) + "\n"


def metrics_table(diff: pd.DataFrame) -> str:
    if diff.empty:
        return "No metrics found.\n"
    lines = ["| metric | base | branch | change | % change |", "|---|---:|---:|---:|---:|"]
    for row in diff.itertuples(index=False):
        lines.append(
            f"| {code_span(row.metric)} | {fmt_number(row.base)} | {fmt_number(row.branch)} "
            f"| {fmt_change(row.change)} | {fmt_pct(row.pct_change)} |"
        )
    return "\n".join(lines) + "\n"


def overlay_figure(title: str, base: pd.DataFrame | None, branch: pd.DataFrame | None,
                   base_label: str, branch_label: str):
    """One panel per series: base dashed, branch solid, by year. Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series = list(dict.fromkeys(list(base.columns if base is not None else []) +
                                list(branch.columns if branch is not None else [])))
    n = max(1, len(series))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, series):
        if base is not None and name in base:
            ax.plot(base.index, base[name], "--", color="tab:gray", label=base_label)
        if branch is not None and name in branch:
            ax.plot(branch.index, branch[name], "-", color="tab:blue", label=branch_label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("year", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(series):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def crop_to_data(values: np.ma.MaskedArray, margin: int = 2) -> np.ma.MaskedArray:
    """The smallest window holding every unmasked pixel (plus a margin): a project often fills only
    a corner of its tile."""
    valid = ~np.ma.getmaskarray(values)
    if not valid.any():
        return values
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, values.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, values.shape[1])
    return values[r0:r1, c0:c1]


def bars_figure(title: str, base: pd.DataFrame | None, branch: pd.DataFrame | None,
                base_label: str, branch_label: str):
    """One panel per column: base and branch bars side by side for each category."""
    from matplotlib.figure import Figure

    frames = [f for f in (base, branch) if f is not None]
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    categories = list(dict.fromkeys(i for f in frames for i in f.index))
    n = max(1, len(columns))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(max(4.2, 0.6 * len(categories) + 2) * ncols, 3.4 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    x = np.arange(len(categories))
    for ax, col in zip(axes, columns):
        for frame, shift, color, label in ((base, -0.2, "tab:gray", base_label), (branch, 0.2, "tab:blue", branch_label)):
            if frame is not None and col in frame:
                ax.bar(x + shift, frame[col].reindex(categories).fillna(0).to_numpy(), width=0.4, color=color,
                       label=label)
        ax.set_title(str(col), fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(categories, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def difference_map_figure(diff: MapDiff, title: str):
    """branch - base on a diverging colour scale centred on zero."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    ax = fig.subplots()
    bound = max(abs(diff.min), abs(diff.max)) or 1.0
    cmap = colormaps["RdBu"].with_extremes(bad="lightgray")  # nodata in grey, not the white of zero
    image = ax.imshow(crop_to_data(diff.values), cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="branch − base")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def render_markdown(base: Snapshot, branch: Snapshot, images: Mapping[str, str],
                    map_diff: MapDiff | None, map_note: str | None, missing_plots: list[str]) -> str:
    """The comparison as GitHub-flavoured markdown; `images` maps section key -> relative png path."""
    p_diff = params_diff(base.params, branch.params)
    m_diff = metrics_diff(base.metrics, branch.metrics)
    out = [
        f"## Simulation results: {plain_or_escaped(branch.label)} vs {plain_or_escaped(base.label)}\n",
        f"Base: **{plain_or_escaped(base.label)}** · branch: **{plain_or_escaped(branch.label)}**. "
        "Change = branch − base; % change = change / |base|.\n",
        "### Parameters changed\n",
        params_table(p_diff),
        "### Headline metrics\n",
        metrics_table(m_diff),
    ]
    charts = [k for k in images if k.startswith("plot:")]
    if charts or missing_plots:
        out.append("### Charts (by year: base dashed, branch solid; by category: base grey, branch blue)\n")
        for key in charts:
            out.append(f"![{plain_or_escaped(key[5:])}]({images[key]})\n")
        for name in missing_plots:
            out.append(f"- {code_span(name)}: only in one of the two revisions, not charted.\n")
    out.append("### Total Ecosystem C at the end year: branch − base\n")
    if map_diff is not None:
        years = (f"end year {map_diff.branch_year}" if map_diff.base_year == map_diff.branch_year
                 else f"branch {map_diff.branch_year} − base {map_diff.base_year} (the end years differ)")
        out.append(f"![difference map]({images['map']})\n")
        out.append(
            f"{years}: {map_diff.n_changed:,} of {map_diff.n_valid:,} pixels changed; "
            f"difference min {fmt_number(map_diff.min)}, max {fmt_number(map_diff.max)}, "
            f"mean {fmt_number(map_diff.mean)} (tC/ha).\n"
        )
    else:
        out.append(f"No difference map: {plain_or_escaped(map_note)}\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- I/O


def _git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReportError(f"git {' '.join(args)} failed in {str(repo)!r}: {err}") from err
    if proc.returncode != 0:
        raise ReportError(f"git {' '.join(args)} failed in {str(repo)!r}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit sha of `rev`; ReportError naming the revision if git does not know it."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except ReportError as err:
        raise ReportError(unknown_rev_message(repo, rev)) from err


def unknown_rev_message(repo: Path, rev: str, env: Mapping[str, str] | None = None) -> str:
    """Why git does not know `rev`: not a repository at all, or (in CI) a shallow checkout, or a typo."""
    env = os.environ if env is None else env
    probe = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=repo, capture_output=True, text=True,
                           timeout=GIT_TIMEOUT) if Path(repo).is_dir() else None
    if probe is None or probe.returncode != 0:
        return (f"{str(repo)!r} is not a git repository: compare and history read results from git commits "
                "(run them in your project's clone, or pass --repo)")
    if env.get("CI", "").lower() in ("1", "true", "yes") or env.get("GITHUB_ACTIONS"):
        return f"unknown git revision {rev!r} in {str(repo)!r} (in CI, check out with fetch-depth: 0)"
    return f"unknown git revision {rev!r} in {str(repo)!r} (see `git log --oneline` or `git branch -a`)"


def _dvc_fs(repo: Path, rev: str | None):
    from dvc.api import DVCFileSystem

    try:
        return DVCFileSystem(str(repo), rev=rev)
    except Exception as err:  # dvc raises many types (SCMError, NotDvcRepoError, ...)
        raise ReportError(f"cannot open {str(repo)!r} at revision {rev or 'workspace'!r} with DVC: {err}") from err


def _read_text(fs, path: str, label: str) -> str:
    try:
        return fs.read_text(path)
    except FileNotFoundError as err:
        raise ReportError(f"{path!r} not found at {label} (run `dvc repro` there, or `dvc pull`)") from err
    except Exception as err:  # missing from cache and remote, remote unreachable, ...
        raise ReportError(f"cannot read {path!r} at {label} through DVC: {err}") from err


def _read_map(fs, path: str, year: int, label: str) -> MapRaster:
    import rasterio
    from rasterio.io import MemoryFile

    try:
        data = fs.read_bytes(path)
    except Exception as err:
        raise ReportError(
            f"cannot read {path!r} at {label} through DVC (is it in the cache or the remote? `dvc pull`): {err}"
        ) from err
    try:
        with MemoryFile(data) as mem, mem.open() as src:
            values = src.read(1, masked=True)
            return MapRaster(path=path, year=year, values=values, transform=tuple(src.transform)[:6],
                             crs=str(src.crs))
    except rasterio.errors.RasterioError as err:
        raise ReportError(f"{path!r} at {label} is not a readable GeoTIFF: {err}") from err


def _dvc_lock_outs(fs) -> list[str]:
    try:
        lock = yaml.safe_load(fs.read_text("dvc.lock")) or {}
    except FileNotFoundError:
        return []
    outs = []
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if isinstance(out, dict) and "path" in out:
                outs.append(str(out["path"]))
    return outs


def find_end_map(fs, label: str) -> tuple[MapRaster | None, str | None]:
    """The latest-year Total Ecosystem map among the DVC outputs recorded in dvc.lock."""
    candidates: list[tuple[int, str]] = []
    for out in _dvc_lock_outs(fs):
        for folder in (f"{out}/spatial", out):
            try:
                if not fs.isdir(folder):
                    continue
                names = fs.ls(folder, detail=False)
            except FileNotFoundError:
                continue
            except Exception as err:  # e.g. the output's directory listing is in neither cache nor remote
                raise ReportError(
                    f"cannot list DVC output {folder!r} at {label}: it is in neither the DVC cache nor a "
                    f"reachable remote (`dvc pull` it, or `dvc push` from the branch that made it): {err}"
                ) from err
            for name in names:
                match = MAP_PATTERN.match(Path(name).name)
                if match:
                    candidates.append((int(match.group(1)), name))
    if not candidates:
        return None, f"no `spatial/Total_Ecosystem_C_<year>.tif` among the DVC outputs in dvc.lock at {label}"
    year, path = max(candidates)
    return _read_map(fs, path, year, label), None


def _read_plots(fs, plots_dir: str) -> dict[str, pd.DataFrame]:
    try:
        names = sorted(fs.ls(plots_dir, detail=False)) if fs.isdir(plots_dir) else []
    except FileNotFoundError:
        names = []
    plots = {}
    for name in names:
        if name.endswith(".csv"):
            plots[Path(name).stem] = pd.read_csv(io.StringIO(fs.read_text(name)))
    return plots


def read_snapshot(repo: str | Path, rev: str | None, label: str, sources: Sources = Sources()) -> Snapshot:
    """Params, metrics, year plots and the end-year map of `rev` (None = workspace) via DVC."""
    repo = Path(repo)
    fs = _dvc_fs(repo, rev)
    where = label
    params = flatten(yaml.safe_load(_read_text(fs, sources.params, where)) or {})
    try:
        metrics = numeric_metrics(json.loads(_read_text(fs, sources.metrics, where)))
    except json.JSONDecodeError as err:
        raise ReportError(f"{sources.metrics!r} at {where} is not valid JSON: {err}") from err
    plots = _read_plots(fs, sources.plots_dir)
    end_map, note = find_end_map(fs, where)
    return Snapshot(label=label, rev=rev, params=params, metrics=metrics, plots=plots, end_map=end_map,
                    map_note=note)


def compare_snapshots(base: Snapshot, branch: Snapshot) -> tuple[str, dict[str, bytes]]:
    """Markdown and PNGs (file name -> bytes) for base vs branch. Pure apart from rendering."""
    images: dict[str, str] = {}
    pngs: dict[str, bytes] = {}
    missing = []
    for name in list(dict.fromkeys(list(base.plots) + list(branch.plots))):
        a = year_series(base.plots[name]) if name in base.plots else None
        b = year_series(branch.plots[name]) if name in branch.plots else None
        draw = overlay_figure
        if a is None and b is None:
            a = category_table(base.plots[name]) if name in base.plots else None
            b = category_table(branch.plots[name]) if name in branch.plots else None
            draw = bars_figure
            if a is None and b is None:
                continue
        if a is None or b is None:
            missing.append(name)
            continue
        fig = draw(name.replace("_", " "), a, b, base.label, branch.label)
        pngs[f"{name}.png"] = figure_png(fig)
        images[f"plot:{name}"] = f"{name}.png"
    map_diff = None
    note = base.map_note or branch.map_note
    if base.end_map is not None and branch.end_map is not None:
        try:
            map_diff = map_difference(base.end_map, branch.end_map)
        except ReportError as err:
            note = str(err)
        else:
            years = (str(map_diff.branch_year) if map_diff.branch_year == map_diff.base_year
                     else f"{map_diff.branch_year} vs {map_diff.base_year}")
            fig = difference_map_figure(map_diff, f"Total Ecosystem C {years}, tC/ha\n{branch.label} − {base.label}")
            pngs["total_ecosystem_difference.png"] = figure_png(fig)
            images["map"] = "total_ecosystem_difference.png"
    markdown = render_markdown(base, branch, images, map_diff, note, missing)
    return markdown, pngs


def write_compare_report(base_rev: str, out: str | Path = "reports/compare.md", repo: str | Path = ".",
                         sources: Sources = Sources(), base_dir: str | Path | None = None) -> Path:
    """Compare the workspace with `base_rev`; write `out` and `<out without .md>/*.png` atomically.

    The base is read through DVC at `base_rev` in `repo` (its cache, else its remote), or, with
    `base_dir`, from the workspace of another checkout of `base_rev` where `dvc repro` has run (CI
    does this for pull requests from forks, which get no remote credentials).
    """
    repo = Path(repo).resolve()
    out = Path(out)
    if not out.is_absolute():
        out = repo / out
    sha = resolve_rev(repo, base_rev)
    if base_dir is None:
        base = read_snapshot(repo, sha, f"{base_rev} ({sha[:7]})", sources)
    else:
        base_dir = Path(base_dir).resolve()
        checked_out = resolve_rev(base_dir, "HEAD")
        if checked_out != sha:
            raise ReportError(f"{str(base_dir)!r} has {checked_out[:7]} checked out, not {base_rev} ({sha[:7]})")
        base = read_snapshot(base_dir, None, f"{base_rev} ({sha[:7]})", sources)
    head = _git(repo, "rev-parse", "--short", "HEAD")
    branch_name = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    branch_label = f"{branch_name} ({head}{' + uncommitted changes' if dirty else ''})"
    branch = read_snapshot(repo, None, branch_label, sources)
    markdown, pngs = compare_snapshots(base, branch)
    img_dir = out.with_suffix("")
    # Links relative to the markdown file, as `cml comment` and GitHub resolve them.
    markdown = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({relative_link(img_dir / m.group(1), out.parent)})", markdown)
    with atomic_dir(img_dir) as tmp:
        for name, data in pngs.items():
            (tmp / name).write_bytes(data)
    with atomic_file(out) as fh:
        fh.write(markdown)
    return out
