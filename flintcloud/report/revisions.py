"""Reading pipeline results at git revisions, shared by `compare` and `history`.

Revisions are named as a person would: a branch, a tag, a commit, or a DVC experiment's name
(`dvc exp run -n NAME` keeps it under refs/exps/.../NAME). Files are read through
`dvc.api.DVCFileSystem` (git-tracked files from git, DVC outputs from the cache or the remote).
Also here: flattening params/metrics, the params diff, units of metrics and number formatting as
quantities ("2,049.0 tC", never "2049"), and the rule for when a percent change means anything.
"""

from __future__ import annotations

import os

import io
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flintcloud.errors import ReportError

DEFAULT_PARAMS = "params.yaml"
DEFAULT_METRICS = "reports/metrics.json"
DEFAULT_PLOTS_DIR = "reports/plots"
GIT_TIMEOUT = 60
WORKSPACE = "workspace"


@dataclass(frozen=True)
class Sources:
    """Repository-relative paths `compare`/`history` read at each revision. `output_dir`: the run
    folder holding spatial/ (None: the `simulate` stage's output recorded in dvc.lock)."""

    params: str = DEFAULT_PARAMS
    metrics: str = DEFAULT_METRICS
    plots_dir: str = DEFAULT_PLOTS_DIR
    output_dir: str | None = None


def scenario_sources(name: str | None, baseline: str = "baseline") -> Sources:
    """Where the pipeline writes one scenario's results (params.yaml `scenarios:`); the baseline's
    are the plain pipeline's."""
    if name is None or name == baseline:
        return Sources()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name):
        raise ReportError(f"scenario name {name!r} is not a scenario name (letters, digits, _ - .)")
    return Sources(metrics=f"reports/scenarios/{name}/metrics.json", plots_dir=f"reports/scenarios/{name}/plots",
                   output_dir=f"build/scenarios/{name}/output")


# ----------------------------------------------------------------------------- values


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


# Units by metric name (summarize.METRIC_UNITS) and, for other keys, by their suffix; tonnes of a gas
# (the inventory's co2_t, ch4_t, co_t, co2_from_co_t...) by the gas they start with.
_GAS_TONNES = re.compile(r"^(?P<gas>co2|ch4|co)(?:_\w+)?_t$")
_GAS_NAMES = {"co2": "CO2", "ch4": "CH4", "co": "CO"}
_SUFFIX_UNITS = (("_tc_per_ha_yr", "tC/ha/yr"), ("_tc_per_ha", "tC/ha"), ("_tc_per_yr", "tC/yr"), ("_tco2e", "tCO2e"),
                 ("_tc", "tC"), ("_ha", "ha"), ("_year", "year"), ("_years", "years"), ("n_years", "years"),
                 ("_pct", "%"), ("_deg_c", "°C"))
# Unit of a plot table's series whose name says none (reports/plots/<name>.csv, scenario_comparison/plots).
PLOT_UNITS = {"stocks": "tC", "stock_changes": "tC/yr", "age_classes": "ha", "disturbance_emissions": "tC",
              "emissions": "tCO2e", "annual": "tC", "annual_minus_baseline": "tC", "end_stocks": "tC"}


def metric_unit(key: str) -> str:
    """'total_ecosystem_c_end_tc' -> 'tC', 'ch4_t' -> 't CH4'; '' when the name says nothing."""
    from flintcloud.report.summarize import METRIC_UNITS

    leaf = key.rsplit(".", 1)[-1]
    if leaf in METRIC_UNITS:
        return METRIC_UNITS[leaf]
    if gas := _GAS_TONNES.match(leaf):
        return f"t {_GAS_NAMES[gas['gas']]}"
    for suffix, unit in _SUFFIX_UNITS:
        if leaf.endswith(suffix) or leaf == suffix.lstrip("_"):
            return unit
    return ""


def series_unit(plot: str, column: str) -> str:
    """Unit of one plotted series: stated in the column's name ("value (tC)", compare's column per unit
    of a table with a `unit` column), else by the name's suffix, else by the plot table."""
    stated = re.search(r" \(([^()]+)\)$", column)
    if stated:
        return stated.group(1)
    return metric_unit(column) or PLOT_UNITS.get(plot, "")


def fmt_quantity(value: object, unit: str = "", signed: bool = False) -> str:
    """A number as a quantity: thousands separated, one decimal for tC/ha values (two below 10,
    four below 0.1), years as integers; '—' for missing. 2049.0 tC -> '2,049.0 tC'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if unit in ("year", "years") or (not unit and v.is_integer() and abs(v) < 1e15):
        text = f"{int(v):+d}" if signed and v != 0 else str(int(v))
    else:
        decimals = 1 if abs(v) >= 10 or v == 0 else (2 if abs(v) >= 0.1 else 4)
        v = round(v, decimals) + 0.0  # never "-0.0"
        text = f"{v:+,.{decimals}f}" if signed and v != 0 else f"{v:,.{decimals}f}"
    return f"{text} {unit}".rstrip() if unit and unit not in ("year",) else text


def pct_change(base: float, other: float, rel_floor: float = 0.01) -> float:
    """other vs base in percent, or NaN where a percent misleads: across a sign change, from zero
    or from a value near zero (|base| < rel_floor x |other|), or when either is missing."""
    if math.isnan(base) or math.isnan(other):
        return math.nan
    if base == other:
        return 0.0
    if base == 0.0 or (base < 0) != (other < 0) or abs(base) < rel_floor * abs(other):
        return math.nan
    return (other - base) / abs(base) * 100.0


def fmt_pct(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:+.2f} %"


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


# ----------------------------------------------------------------------------- git and DVC


def git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReportError(f"git {' '.join(args)} failed in {str(repo)!r}: {err}") from err
    if proc.returncode != 0:
        raise ReportError(f"git {' '.join(args)} failed in {str(repo)!r}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def experiment_refs(repo: Path) -> dict[str, list[tuple[str, str]]]:
    """DVC experiment name -> [(ref, commit sha)] from refs/exps (one name may exist on several baselines)."""
    try:
        out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
    except ReportError:
        return {}
    refs: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines():
        ref, sha = line.rsplit(" ", 1)
        parts = ref.split("/")
        if len(parts) >= 5 and parts[-1] not in ("exec", "temp", "celery", "runs", "failed"):
            refs.setdefault(parts[-1], []).append((ref, sha))
    return refs


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit sha of a branch, tag, commit or DVC experiment name; ReportError naming the
    revision (and the experiments there are) if none matches."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except ReportError:
        pass
    exps = experiment_refs(repo)
    found = exps.get(rev, [])
    if len(found) == 1:
        return found[0][1]
    if len(found) > 1:
        raise ReportError(f"experiment name {rev!r} exists on {len(found)} baselines ("
                          + ", ".join(ref for ref, _ in found) + "); name the full ref")
    known = f"; experiments here: {', '.join(sorted(exps))}" if exps else ""
    raise ReportError(unknown_rev_message(repo, rev) + known)


def unknown_rev_message(repo: Path, rev: str, env: Mapping[str, str] | None = None) -> str:
    """Why git does not know `rev`: not a repository at all, or (in CI) a shallow checkout, or a typo."""
    env = os.environ if env is None else env
    probe = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=repo, capture_output=True, text=True,
                           timeout=60) if Path(repo).is_dir() else None
    if probe is None or probe.returncode != 0:
        return (f"{str(repo)!r} is not a git repository: compare and history read results from git commits "
                "(run them in your project's clone, or pass --repo)")
    what = "a branch, tag, commit or DVC experiment name"
    if env.get("CI", "").lower() in ("1", "true", "yes") or env.get("GITHUB_ACTIONS"):
        return f"unknown git revision {rev!r} in {str(repo)!r}: {what} (in CI, check out with fetch-depth: 0)"
    return f"unknown git revision {rev!r} in {str(repo)!r}: {what} (see `git log --oneline` or `git branch -a`)"


def is_experiment(repo: Path, rev: str) -> bool:
    return rev in experiment_refs(repo) and not _is_git_rev(repo, rev)


def _is_git_rev(repo: Path, rev: str) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        return True
    except ReportError:
        return False


def dvc_fs(repo: Path, rev: str | None):
    from dvc.api import DVCFileSystem

    try:
        return DVCFileSystem(str(repo), rev=rev)
    except Exception as err:  # dvc raises many types (SCMError, NotDvcRepoError, ...)
        raise ReportError(f"cannot open {str(repo)!r} at revision {rev or WORKSPACE!r} with DVC: {err}") from err


def read_text(fs, path: str, label: str) -> str:
    try:
        return fs.read_text(path)
    except FileNotFoundError as err:
        raise ReportError(f"{path!r} not found at {label} (run `dvc repro` there, or `dvc pull`)") from err
    except Exception as err:  # missing from cache and remote, remote unreachable, ...
        raise ReportError(f"cannot read {path!r} at {label} through DVC: {err}") from err


def git_show(repo: Path, rev: str, path: str) -> str | None:
    """`path` at commit `rev` if git tracks it there, else None (then it may be a DVC output)."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True,
                          timeout=GIT_TIMEOUT)
    return proc.stdout if proc.returncode == 0 else None


def default_dvc() -> str:
    """The dvc next to this Python (the project's .venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")
