"""Build small real git + DVC repositories for the compare/history tests.

The pipeline they hold has the shape of flintcloud's own (params.yaml, a
DVC-tracked simulation output directory with `spatial/<Indicator>_<year>.tif`,
`reports/metrics.json` as DVC metrics and `reports/plots/*.csv` as DVC plots),
but computes a toy carbon model so that `dvc repro` takes about a second.
Everything here is real: git, `dvc repro`, rasterio.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1", "GIT_TERMINAL_PROMPT": "0"}
DVC = str(Path(sys.executable).with_name("dvc"))

# Toy model: every pixel starts at `initial` tC/ha and gains `growth` tC/ha/yr;
# pixel (0, 0) is nodata. Stocks are summed over pixels of 1 ha.
SIM_SCRIPT = r'''
import json, sys
from pathlib import Path
import numpy as np, rasterio, yaml
from rasterio.transform import from_origin

p = yaml.safe_load(open("params.yaml"))["simulation"]
out = Path(sys.argv[1]); (out / "spatial").mkdir(parents=True, exist_ok=True)
start, end, growth = p["start_year"], p["end_year"], p["growth"]
base = np.full((4, 5), 100.0, dtype="float32") + np.arange(20, dtype="float32").reshape(4, 5)
rows = []
for i, year in enumerate(range(start, end + 1), start=1):
    tec = base + growth * i
    tec[0, 0] = -1
    with rasterio.open(out / "spatial" / f"Total_Ecosystem_C_{year}.tif", "w", driver="GTiff",
                       width=5, height=4, count=1, dtype="float32", nodata=-1, crs="EPSG:3005",
                       transform=from_origin(1000, 2000, 100, 100)) as dst:
        dst.write(tec, 1)
    nbp = np.full((4, 5), growth, dtype="float32")
    nbp[0, 0] = -1
    with rasterio.open(out / "spatial" / f"NBP_{year}.tif", "w", driver="GTiff",
                       width=5, height=4, count=1, dtype="float32", nodata=-1, crs="EPSG:3005",
                       transform=from_origin(1000, 2000, 100, 100)) as dst:
        dst.write(nbp, 1)
    rows.append({"year": year, "total_ecosystem": float(tec[tec >= 0].sum())})
json.dump({"rows": rows}, open(out / "run_summary.json", "w"))
'''

SUM_SCRIPT = r'''
import csv, json, sys
from pathlib import Path
rows = json.load(open(Path(sys.argv[1]) / "run_summary.json"))["rows"]
Path("reports/plots").mkdir(parents=True, exist_ok=True)
with open("reports/plots/stocks.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["year", "indicator", "value_tc"])
    for r in rows:
        w.writerow([r["year"], "Total Ecosystem", r["total_ecosystem"]])
        w.writerow([r["year"], "Soil Carbon", r["total_ecosystem"] * 0.5])
with open("reports/plots/stock_changes.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["year", "delta_total_ecosystem_tc"])
    prev = None
    for r in rows:
        w.writerow([r["year"], 0.0 if prev is None else r["total_ecosystem"] - prev]); prev = r["total_ecosystem"]
metrics = {"end_year": rows[-1]["year"],
           "total_ecosystem_c_end_tc": rows[-1]["total_ecosystem"],
           "cumulative_nbp_tc": rows[-1]["total_ecosystem"] - rows[0]["total_ecosystem"],
           "stocks": {"soil_c_end_tc": rows[-1]["total_ecosystem"] * 0.5}}
json.dump(metrics, open("reports/metrics.json", "w"), indent=2)
'''

DVC_YAML = {
    "stages": {
        "simulate": {
            "cmd": f"{sys.executable} sim.py outputs/simulate",
            "deps": ["sim.py"],
            "params": ["simulation"],
            "outs": ["outputs/simulate"],
        },
        "summarize": {
            "cmd": f"{sys.executable} summarize.py outputs/simulate",
            "deps": ["summarize.py", "outputs/simulate"],
            "metrics": [{"reports/metrics.json": {"cache": False}}],
            "plots": [{"reports/plots/stocks.csv": {"cache": False}},
                      {"reports/plots/stock_changes.csv": {"cache": False}}],
        },
    }
}


def run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).strip()


def write_params(repo: Path, *, growth: float, end_year: int = 2012, start_year: int = 2010) -> None:
    params = {"simulation": {"start_year": start_year, "end_year": end_year, "growth": growth},
              "report": {"title": "toy"}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "test@example.org")
    git(repo, "config", "user.name", "Test")
    run([DVC, "init", "-q"], repo)
    (repo / "sim.py").write_text(SIM_SCRIPT)
    (repo / "summarize.py").write_text(SUM_SCRIPT)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    return repo


def repro_and_commit(repo: Path, message: str) -> str:
    """`dvc repro`, then commit params, dvc.lock and the git-tracked metrics/plots; return the sha."""
    run([DVC, "repro", "-q"], repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")
