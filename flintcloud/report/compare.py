"""Compare pipeline results across revisions (`flintcloud compare BASE [REV ...]`).

`flintcloud compare main` compares the workspace (as `dvc repro` left it) with `main`;
`flintcloud compare main exp-a exp-b` compares each named revision with the first. A revision is a
branch, tag, commit or DVC experiment name (revisions.resolve_rev). Every revision's outputs are
read through DVC (`dvc.api.DVCFileSystem`: git-tracked files from git, DVC outputs from the cache or
the remote). Nothing is rerun.

The report: params changed, headline metrics with units (change, and % change only where a percent
means something: same sign, base not near zero), a warning when windows or areas differ, one chart
per plot table (every revision, legend naming each; a second panel of revision − base), and
difference maps (end-year total ecosystem C, cumulative NBP, cumulative total emissions), every
revision's map of one quantity on one symmetric colour scale.

Pure functions (`year_series`, `category_table`, `metrics_diff`, `map_difference`, the figure
builders, `render_markdown`) take and return plain values; `read_snapshot` and
`write_compare_report` are their I/O twins.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.mdtext import code_span, escape_markdown, relative_link
from flintcloud.report.revisions import (
    DEFAULT_METRICS,
    DEFAULT_PARAMS,
    DEFAULT_PLOTS_DIR,
    WORKSPACE,
    Sources,
    dvc_fs,
    figure_png,
    flatten,
    fmt_pct,
    fmt_quantity,
    git,
    is_experiment,
    metric_unit,
    numeric_metrics,
    params_diff,
    pct_change,
    resolve_rev,
    series_unit,
)
from flintcloud.report.revisions import read_text as _read_text
from flintcloud.report.summarize import data_bounds

__all__ = ["DEFAULT_METRICS", "DEFAULT_PARAMS", "DEFAULT_PLOTS_DIR", "Sources", "write_compare_report"]

# Difference maps: key -> (GeoTIFF data_name, "end" = end year / "sum" = summed over years, title).
MAPS = {
    "total_ecosystem": ("Total_Ecosystem_C", "end", "Total ecosystem C, end year"),
    "nbp": ("NBP", "sum", "Cumulative NBP"),
    "emissions": ("Total_Emissions", "sum", "Cumulative total emissions"),
}
MAP_FILE = re.compile(r"^(?P<name>[A-Za-z_]+?)_(?P<year>\d{4})\.tif$")
BASE_STYLE = {"linestyle": "--", "color": "tab:gray"}
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


@dataclass
class MapRaster:
    """One map read through DVC (a year's GeoTIFF, or several years summed): masked values plus grid."""

    path: str
    year: int
    values: np.ma.MaskedArray
    transform: tuple
    crs: str
    years: tuple[int, ...] = ()


@dataclass
class Snapshot:
    """What one revision's pipeline produced, as compare needs it."""

    label: str
    rev: str | None  # None = the workspace
    params: dict[str, object]
    metrics: dict[str, float]
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)
    maps: dict[str, MapRaster] = field(default_factory=dict)
    map_note: str | None = None  # why there are no maps

    @property
    def end_map(self) -> MapRaster | None:
        return self.maps.get("total_ecosystem")


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
    transform: tuple | None = None  # the grid of `values` (both maps'), for drawing it to scale
    crs: str = ""


# ----------------------------------------------------------------------------- pure functions


def metrics_diff(base: Mapping[str, float], branch: Mapping[str, float]) -> pd.DataFrame:
    """base, branch, change = branch − base, pct_change (NaN across a sign change or from ~0)."""
    rows = []
    for key in list(base) + [k for k in branch if k not in base]:
        a, b = base.get(key, math.nan), branch.get(key, math.nan)
        rows.append({"metric": key, "base": a, "branch": b, "change": b - a, "pct_change": pct_change(a, b)})
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
    if "unit" in labels and len(labels) > 1:  # rows in several units: a column per unit, "value (tC)"
        parts = [category_table(part.drop(columns="unit")) for _, part in df.groupby("unit", sort=False)]
        units = list(dict.fromkeys(df["unit"].astype(str)))
        return pd.concat([t.add_suffix(f" ({u})") for t, u in zip(parts, units) if t is not None], axis=1)
    index = df[labels].astype(str).agg(" / ".join, axis=1)
    return df[numeric].set_axis(index, axis=0).groupby(level=0, sort=False).sum()


def map_difference(base: MapRaster, branch: MapRaster) -> MapDiff:
    """branch − base on the same grid; ReportError if the grids differ."""
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
        transform=tuple(base.transform), crs=base.crs,
    )


def window_warnings(base: Snapshot, others: Sequence[Snapshot]) -> list[str]:
    """Sentences for revisions whose simulated window (start_year/end_year, whichever the metrics
    have) or area differs from the base's."""
    def window(m: Mapping[str, float], keys: list[str]) -> str:
        if keys == ["start_year", "end_year"]:
            return f"window {int(m['start_year'])}-{int(m['end_year'])}"
        return " ".join(f"{k.replace('_', ' ')} {int(m[k])}" for k in keys)

    out = []
    for o in others:
        keys = [k for k in ("start_year", "end_year") if k in base.metrics and k in o.metrics]
        if any(base.metrics[k] != o.metrics[k] for k in keys):
            out.append(f"{escape_markdown(o.label)} simulates {window(o.metrics, keys)}, {escape_markdown(base.label)} "
                       f"{window(base.metrics, keys)}: "
                       "whole-run totals are not like for like")
        a, b = base.metrics.get("area_ha"), o.metrics.get("area_ha")
        if a is not None and b is not None and not math.isclose(a, b, rel_tol=1e-9):
            out.append(f"{escape_markdown(o.label)} simulates area {fmt_quantity(b, 'ha')}, {escape_markdown(base.label)} "
                       f"{fmt_quantity(a, 'ha')}: "
                       "whole-run totals are not like for like")
    return out


def _fmt_param(value: object) -> str:
    text = "—" if value is None else (json.dumps(value) if isinstance(value, (list, dict)) else str(value))
    return escape_markdown(text)


def params_table(base: Snapshot, others: Sequence[Snapshot]) -> str:
    keys: list[str] = []
    for o in others:
        keys += [k for k in params_diff(base.params, o.params)["param"] if k not in keys]
    if not keys:
        return "No parameter changed.\n"
    head = "| param | " + " | ".join(escape_markdown(s.label) for s in (base, *others)) + " |"
    lines = [head, "|---|" + "---:|" * (1 + len(others))]
    for key in sorted(keys):
        lines.append(f"| {code_span(key)} | " + " | ".join(_fmt_param(s.params.get(key)) for s in (base, *others)) + " |")
    return "\n".join(lines) + "\n"


def metrics_table(base: Snapshot, others: Sequence[Snapshot]) -> str:
    keys = list(dict.fromkeys([*base.metrics, *(k for o in others for k in o.metrics)]))
    if not keys:
        return "No metrics found.\n"
    cols = [escape_markdown(base.label)]
    for o in others:
        cols += [escape_markdown(o.label), "change", "% change"]
    lines = ["| metric | unit | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for key in keys:
        unit = metric_unit(key)
        a = base.metrics.get(key, math.nan)
        cells = [fmt_quantity(a, unit)]
        for o in others:
            b = o.metrics.get(key, math.nan)
            cells += [fmt_quantity(b, unit), fmt_quantity(b - a, unit, signed=True), fmt_pct(pct_change(a, b))]
        lines.append(f"| {code_span(key)} | {unit or '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _style(i: int) -> dict:
    return dict(BASE_STYLE) if i == 0 else {"linestyle": "-", "color": COLORS[(i - 1) % len(COLORS)]}


def overlay_figure(title: str, frames: Sequence[tuple[str, pd.DataFrame | None]], plot: str = "",
                   difference: bool = True):
    """One column per series: top row every revision by year (the base dashed grey), bottom row each
    revision − base; y axes labelled with units, stock panels from zero. Returns a Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series = list(dict.fromkeys(c for _, f in frames if f is not None for c in f.columns))
    n = max(1, len(series))
    rows = 2 if difference and len(frames) > 1 else 1
    fig = Figure(figsize=(max(4.2 * min(n, 4), 6), 3.0 * rows * math.ceil(n / 4) + 0.8), layout="constrained")
    ncols = min(4, n)
    axes = fig.subplots(rows * math.ceil(n / ncols), ncols, squeeze=False)
    base_label, base = frames[0]
    for k, name in enumerate(series):
        r, c = divmod(k, ncols)
        ax = axes[r * rows][c]
        unit = series_unit(plot, name)
        lows = []
        for i, (label, frame) in enumerate(frames):
            if frame is not None and name in frame:
                ax.plot(frame.index, frame[name], label=label, **_style(i))
                lows.append(float(frame[name].min()))
        if lows and min(lows) >= 0:
            ax.set_ylim(bottom=0)  # a stock from zero: a 0.3 % change looks like 0.3 %
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if rows == 2:
            dax = axes[r * rows + 1][c]
            for i, (label, frame) in enumerate(frames[1:], start=1):
                if frame is not None and base is not None and name in frame and name in base:
                    d = (frame[name] - base[name]).dropna()
                    dax.plot(d.index, d.values, label=f"{label} − {base_label}", **_style(i))
            dax.axhline(0, color="black", lw=0.5)
            dax.set_title(f"{name}: revision − base", fontsize=8)
            dax.set_ylabel(unit, fontsize=8)
            dax.xaxis.set_major_locator(MaxNLocator(integer=True))
            dax.tick_params(labelsize=7)
            dax.grid(alpha=0.3)
    for k in range(len(series), axes.shape[0] * ncols // rows):
        r, c = divmod(k, ncols)
        for j in range(rows):
            if r * rows + j < axes.shape[0]:
                axes[r * rows + j][c].set_visible(False)
    axes[0][0].legend(fontsize=7)
    if rows == 2:
        axes[1][0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def data_window(values: np.ma.MaskedArray, margin: int = 2) -> tuple[tuple[int, int], tuple[int, int]]:
    """((row0, row1), (col0, col1)), end-exclusive: the smallest window holding every unmasked pixel
    plus a margin (a project often fills only a corner of its tile); the whole array if none is."""
    (r0, r1), (c0, c1) = data_bounds(~np.ma.getmaskarray(values))
    return ((max(r0 - margin, 0), min(r1 + margin, values.shape[0])),
            (max(c0 - margin, 0), min(c1 + margin, values.shape[1])))


def crop_to_data(values: np.ma.MaskedArray, margin: int = 2) -> np.ma.MaskedArray:
    """`values` cut to data_window."""
    (r0, r1), (c0, c1) = data_window(values, margin)
    return values[r0:r1, c0:c1]


def multi_bars_figure(title: str, frames: Sequence[tuple[str, pd.DataFrame | None]], plot: str = ""):
    """One panel per column: every revision's bars side by side for each category (legend names each)."""
    from matplotlib.figure import Figure

    present = [(label, f) for label, f in frames if f is not None]
    columns = list(dict.fromkeys(c for _, f in present for c in f.columns))
    categories = list(dict.fromkeys(i for _, f in present for i in f.index))
    n = max(1, len(columns))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(max(4.2, 0.6 * len(categories) + 2) * ncols, 3.4 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    width = 0.8 / max(1, len(frames))
    for ax, col in zip(axes, columns):
        # the categories this column has a value for (a column per unit leaves the others' empty)
        cats = [c for c in categories if any(f is not None and col in f and c in f.index and pd.notna(f.at[c, col])
                                             for _, f in frames)]
        x = np.arange(len(cats))
        for i, (label, frame) in enumerate(frames):
            if frame is not None and col in frame:
                ax.bar(x - 0.4 + width * (i + 0.5), frame[col].reindex(cats).fillna(0).to_numpy(), width=width,
                       color=_style(i)["color"], label=label)
        ax.set_title(str(col), fontsize=9)
        ax.set_ylabel(series_unit(plot, str(col)), fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels(cats, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def bars_figure(title: str, base: pd.DataFrame | None, branch: pd.DataFrame | None,
                base_label: str, branch_label: str):
    """Two revisions' bars side by side (multi_bars_figure for two)."""
    return multi_bars_figure(title, [(base_label, base), (branch_label, branch)])


def symmetric_bound(diffs: Sequence[MapDiff]) -> float:
    return max([max(abs(d.min), abs(d.max)) for d in diffs] + [0.0]) or 1.0


def difference_maps_figure(title: str, diffs: Sequence[tuple[str, MapDiff]], unit: str = "tC/ha"):
    """One panel per revision (revision − base), all on one symmetric diverging scale centred on zero."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from flintcloud.report.figures import is_geographic, map_aspect, transform_extent

    n = max(1, len(diffs))
    fig = Figure(figsize=(5.0 * n + 1.2, 5.0), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    bound = symmetric_bound([d for _, d in diffs])
    cmap = colormaps["RdBu"].with_extremes(bad="lightgray")  # nodata in grey, not the white of zero
    image = None
    for ax, (label, diff) in zip(axes, diffs):
        rows, cols = data_window(diff.values)
        values = diff.values[rows[0]:rows[1], cols[0]:cols[1]]
        if diff.transform is None:  # no grid known: pixels, square
            image = ax.imshow(values, cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        else:  # in map units, to scale (degrees of longitude shortened by cos(latitude))
            extent = transform_extent(diff.transform, rows, cols)
            image = ax.imshow(values, cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest", extent=extent,
                              aspect=map_aspect(extent, is_geographic(diff.crs)))
            ax.ticklabel_format(useOffset=False, style="plain")
            ax.tick_params(labelsize=7)
        ax.set_title(label, fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=f"revision − base ({unit})", shrink=0.85)
    fig.suptitle(title, fontsize=10)
    return fig


def difference_map_figure(diff: MapDiff, title: str):
    """One revision − base map (difference_maps_figure for one)."""
    return difference_maps_figure(title, [("", diff)])


def render_markdown(base: Snapshot, others: Sequence[Snapshot], images: Mapping[str, str],
                    map_diffs: Mapping[str, Sequence[tuple[str, MapDiff]]], map_notes: Sequence[str],
                    missing_plots: Sequence[str]) -> str:
    """The comparison as GitHub-flavoured markdown; `images` maps section key -> relative png path."""
    e = escape_markdown
    names = ", ".join(e(o.label) for o in others)
    out = [f"## Simulation results: {names} vs {e(base.label)}\n",
           f"Base: **{e(base.label)}** · compared: " + ", ".join(f"**{e(o.label)}**" for o in others) + ". "
           "Change = revision − base; % change = change / |base|, not shown across a sign change or from a "
           "base near zero.\n"]
    for w in window_warnings(base, others):
        out.append(f"> **Warning:** {e(w)}.\n")
    out += ["### Parameters changed\n", params_table(base, others), "### Headline metrics\n",
            metrics_table(base, others)]
    charts = [k for k in images if k.startswith("plot:")]
    if charts or missing_plots:
        out.append("### Charts (by year: base dashed grey, below: revision − base; by category: one bar each)\n")
        for key in charts:
            out.append(f"![{e(key[5:])}]({images[key]})\n")
        for name in missing_plots:
            out.append(f"- {code_span(name)}: in only some of the revisions, not charted.\n")
    out.append("### Difference maps (revision − base, one colour scale per quantity)\n")
    for key, (_, _, title) in MAPS.items():
        diffs = map_diffs.get(key) or []
        if not diffs:
            continue
        out.append(f"![{title} difference]({images['map:' + key]})\n")
        for label, d in diffs:
            years = (f"{d.branch_year}" if d.base_year == d.branch_year
                     else f"{d.branch_year} vs {d.base_year} (the end years differ)")
            out.append(f"- {title}, {e(label)} ({years}): {d.n_changed:,} of {d.n_valid:,} pixels changed; "
                       f"difference min {fmt_quantity(d.min, 'tC/ha')}, max {fmt_quantity(d.max, 'tC/ha')}, "
                       f"mean {fmt_quantity(d.mean, 'tC/ha')}.")
        out.append("")
    for note in map_notes:
        out.append(f"No difference map: {e(note)}\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- I/O


def _read_raster(fs, path: str, label: str):
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
            return src.read(1, masked=True), tuple(src.transform)[:6], str(src.crs)
    except rasterio.errors.RasterioError as err:
        raise ReportError(f"{path!r} at {label} is not a readable GeoTIFF: {err}") from err


def _dvc_lock_outs(fs) -> list[tuple[str, str]]:
    """(stage name, out path) for every out recorded in dvc.lock, in file order."""
    try:
        lock = yaml.safe_load(fs.read_text("dvc.lock")) or {}
    except FileNotFoundError:
        return []
    outs = []
    for stage, body in (lock.get("stages") or {}).items():
        for out in body.get("outs") or []:
            if isinstance(out, dict) and "path" in out:
                outs.append((stage, str(out["path"])))
    return outs


def _list_maps(fs, folder: str, label: str) -> dict[str, dict[int, str]]:
    try:
        if not fs.isdir(folder):
            return {}
        names = fs.ls(folder, detail=False)
    except FileNotFoundError:
        return {}
    except Exception as err:  # e.g. the output's directory listing is in neither cache nor remote
        raise ReportError(
            f"cannot list DVC output {folder!r} at {label}: it is in neither the DVC cache nor a "
            f"reachable remote (`dvc pull` it, or `dvc push` from the branch that made it): {err}"
        ) from err
    found: dict[str, dict[int, str]] = {}
    for name in names:
        m = MAP_FILE.match(Path(name).name)
        if m:
            found.setdefault(m.group("name").lower(), {})[int(m.group("year"))] = name
    return found


def find_spatial(fs, label: str, sources: Sources) -> tuple[dict[str, dict[int, str]], str | None]:
    """The maps (data_name lower-case -> year -> path) of the run folder: `sources.output_dir`, else
    the `simulate` stage's output, else the first output in dvc.lock with Total_Ecosystem_C maps."""
    if sources.output_dir:
        candidates = [("", sources.output_dir)]
    else:
        outs = _dvc_lock_outs(fs)
        candidates = [o for o in outs if o[0] == "simulate"] + [o for o in outs if o[0] != "simulate"]
    for _, out in candidates:
        for folder in (f"{out}/spatial", out):
            maps = _list_maps(fs, folder, label)
            if "total_ecosystem_c" in maps:
                return maps, None
    where = sources.output_dir or "the DVC outputs in dvc.lock"
    return {}, f"no `spatial/Total_Ecosystem_C_<year>.tif` in {where} at {label}"


def read_maps(fs, label: str, sources: Sources) -> tuple[dict[str, MapRaster], str | None]:
    """MAPS read at one revision: end-year maps as they are, cumulative ones summed over every year."""
    found, note = find_spatial(fs, label, sources)
    maps: dict[str, MapRaster] = {}
    for key, (data_name, how, _) in MAPS.items():
        by_year = found.get(data_name.lower())
        if not by_year:
            continue
        years = sorted(by_year) if how == "sum" else [max(by_year)]
        summed = mask = None  # a running sum: memory is two grids whatever the number of years
        for year in years:
            values, transform, crs = _read_raster(fs, by_year[year], label)
            arr = values.astype("float64").filled(np.nan)
            if summed is None:
                summed, mask = np.zeros(arr.shape), np.ones(arr.shape, bool)
            summed += np.nan_to_num(arr, nan=0.0)
            mask &= np.isnan(arr)  # masked only where every year is nodata (outside the landscape)
        maps[key] = MapRaster(path=by_year[years[-1]], year=years[-1], values=np.ma.masked_array(summed, mask=mask),
                              transform=transform, crs=crs, years=tuple(years))
    return maps, note


def _read_plots(fs, plots_dir: str) -> dict[str, pd.DataFrame]:
    import io

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
    """Params, metrics, plot tables and maps of `rev` (None = workspace) via DVC."""
    repo = Path(repo)
    fs = dvc_fs(repo, rev)
    params = flatten(yaml.safe_load(_read_text(fs, sources.params, label)) or {})
    try:
        metrics = numeric_metrics(json.loads(_read_text(fs, sources.metrics, label)))
    except json.JSONDecodeError as err:
        raise ReportError(f"{sources.metrics!r} at {label} is not valid JSON: {err}") from err
    plots = _read_plots(fs, sources.plots_dir)
    maps, note = read_maps(fs, label, sources)
    return Snapshot(label=label, rev=rev, params=params, metrics=metrics, plots=plots, maps=maps, map_note=note)


def compare_snapshots(base: Snapshot, others: Snapshot | Sequence[Snapshot]) -> tuple[str, dict[str, bytes]]:
    """Markdown and PNGs (file name -> bytes) for every revision against the base."""
    others = [others] if isinstance(others, Snapshot) else list(others)
    snaps = [base, *others]
    images: dict[str, str] = {}
    pngs: dict[str, bytes] = {}
    missing = []
    for name in list(dict.fromkeys(n for s in snaps for n in s.plots)):
        frames = [(s.label, year_series(s.plots[name]) if name in s.plots else None) for s in snaps]
        draw = overlay_figure
        if all(f is None for _, f in frames):
            frames = [(s.label, category_table(s.plots[name]) if name in s.plots else None) for s in snaps]
            draw = multi_bars_figure
            if all(f is None for _, f in frames):
                continue
        if any(f is None for _, f in frames):
            missing.append(name)
            continue
        fig = draw(name.replace("_", " "), frames, plot=name)
        pngs[f"{name}.png"] = figure_png(fig)
        images[f"plot:{name}"] = f"{name}.png"
    map_diffs: dict[str, list[tuple[str, MapDiff]]] = {}
    notes = [n for n in dict.fromkeys(s.map_note for s in snaps) if n]
    for key, (_, _, title) in MAPS.items():
        if key not in base.maps:
            continue
        for o in others:
            if key not in o.maps:
                continue
            try:
                map_diffs.setdefault(key, []).append((f"{o.label} − {base.label}",
                                                      map_difference(base.maps[key], o.maps[key])))
            except ReportError as err:
                notes.append(str(err))
        if map_diffs.get(key):
            file = "total_ecosystem_difference.png" if key == "total_ecosystem" else f"{key}_difference.png"
            pngs[file] = figure_png(difference_maps_figure(f"{title} (tC/ha)", map_diffs[key]))
            images[f"map:{key}"] = file
    return render_markdown(base, others, images, map_diffs, notes, missing), pngs


def _workspace_label(repo: Path) -> str:
    head = git(repo, "rev-parse", "--short", "HEAD")
    branch_name = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=no"))
    return f"{branch_name} ({head}{' + uncommitted changes' if dirty else ''})"


def _rev_label(repo: Path, rev: str, sha: str) -> str:
    return f"{rev} (experiment {sha[:7]})" if is_experiment(repo, rev) else f"{rev} ({sha[:7]})"


def write_compare_report(revs: str | Sequence[str], out: str | Path = "reports/compare.md", repo: str | Path = ".",
                         sources: Sources = Sources(), base_dir: str | Path | None = None) -> Path:
    """Compare revisions; write `out` and `<out without .md>/*.png` atomically.

    `revs`: one revision = compare the workspace with it; several = compare each of the others with
    the first (`workspace` names the workspace). Each revision is read through DVC in `repo` (its
    cache, else its remote), or the base, with `base_dir`, from the workspace of another checkout
    of it where `dvc repro` has run (CI does this for pull requests from forks).
    """
    revs = [revs] if isinstance(revs, str) else list(revs)
    if not revs:
        raise ReportError("name at least one revision to compare with")
    repo = Path(repo).resolve()
    out = Path(out)
    if not out.is_absolute():
        out = repo / out
    others_revs = revs[1:] or [WORKSPACE]
    if len(set(revs)) != len(revs):
        raise ReportError(f"a revision is named twice: {revs}")
    base_rev = revs[0]
    sha = resolve_rev(repo, base_rev)
    label = _rev_label(repo, base_rev, sha)
    if base_dir is None:
        base = read_snapshot(repo, sha, label, sources)
    else:
        base_dir = Path(base_dir).resolve()
        checked_out = resolve_rev(base_dir, "HEAD")
        if checked_out != sha:
            raise ReportError(f"{str(base_dir)!r} has {checked_out[:7]} checked out, not {base_rev} ({sha[:7]})")
        base = read_snapshot(base_dir, None, label, sources)
    others = []
    for rev in others_revs:
        if rev == WORKSPACE:
            others.append(read_snapshot(repo, None, _workspace_label(repo), sources))
        else:
            rsha = resolve_rev(repo, rev)
            others.append(read_snapshot(repo, rsha, _rev_label(repo, rev, rsha), sources))
    markdown, pngs = compare_snapshots(base, others)
    img_dir = out.with_suffix("")
    # Links relative to the markdown file, as `cml comment` and GitHub resolve them.
    markdown = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({relative_link(img_dir / m.group(1), out.parent)})", markdown)
    with atomic_dir(img_dir) as tmp:
        for name, data in pngs.items():
            (tmp / name).write_bytes(data)
    with atomic_file(out) as fh:
        fh.write(markdown)
    return out
