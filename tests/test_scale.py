"""Scale tests (issue 8), excluded from the default run: `make test-slow` / `pytest -m slow`.

- the dask executor with worker *processes* (a real LocalCluster, 2 workers, more chunks than workers)
  gives the same raw db, compiled db and maps as the local run on the 200 x 200 demo;
- memory stays bounded: the pipeline on a 1e6-pixel demo (benchmarks/scale.py's own code) peaks far
  below what full-grid arrays per map would take, with 6 maps per mapped year written.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scale", REPO_ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}


def test_dask_processes_equal_local_on_the_small_demo(tmp_path):
    from flintcloud.demo import generate_demo_project
    from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config
    from flintcloud.run import run_project

    project = generate_demo_project(tmp_path / "project", size="small", start_year=2010, end_year=2020)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["project"]["dir"] = str(project)
    write_gcbm_config(project, tmp_path / "config", settings_from_params(params, base_dir=tmp_path))
    years = [2010, 2015, 2020]
    local = run_project(tmp_path / "config", tmp_path / "local", map_years=years)
    dask = run_project(tmp_path / "config", tmp_path / "dask", map_years=years,
                       executor={"kind": "dask", "n_workers": 2, "processes": True, "chunks": 5})
    assert local.n_stands == dask.n_stands > 100
    for db in ("gcbm_output.db", "compiled_gcbm_output.db"):
        a, b = _rows(tmp_path / "local" / db), _rows(tmp_path / "dask" / db)
        assert a == b, db
    names = sorted(p.name for p in (tmp_path / "local" / "spatial").glob("*.tif"))
    assert len(names) == 3 * len({p.split("_20")[0] for p in names}) > 3
    for name in names:
        with rasterio.open(tmp_path / "local" / "spatial" / name) as a, rasterio.open(tmp_path / "dask" / "spatial" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


def test_one_million_pixels_memory_stays_bounded(tmp_path):
    # benchmarks/scale.py's own code, in a fresh process (its own peak RSS), with GDAL's block cache
    # capped: by default it takes 5 % of RAM, which would make the bound depend on the machine.
    env = {**os.environ, "GDAL_CACHEMAX": "128"}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "scale.py"), "--one", "1e6", "--years", "10",
         "--work-dir", str(tmp_path)], capture_output=True, text=True, env=env, check=True,
    )
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    bench = _bench()
    assert r["pixels"] > 0.8e6 and r["unique_stands"] > 1000
    assert r["maps"] == len(bench.INDICATORS) * len(bench.map_years(2010, 2019)) == 36
    # Full-grid arrays per map would be 64 MB each on the demo's 4000 x 4000 tile; measured ~0.6 GB
    # for the whole process tree (1e5 pixels: 0.54 GB, 1e7: 0.88 GB; benchmarks/README.md).
    assert r["peak_rss_bytes"] < 2**30, r["peak_rss_bytes"]
    assert set(r["stage_seconds"]) == {"validate", "configure", "simulate", "summarize", "report"}
