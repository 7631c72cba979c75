"""The FLINT.Cloud demo's outputs, value for value, equal those of the run before the speed work.

issue 20 part 3 made `flintcloud run` faster (maps written by threads, the raw writer without a
groupby, a vectorised half growth) with the promise of the same outputs byte for byte. The digests
below were taken from the outputs of commit 5912bd3 (before that work), whose numbers
tests/test_gcbm_reference.py checks against GCBM's own output. They digest content, not file bytes:
every table's rows (floats by their exact repr) and every map's grid, dtype, nodata and pixels, so
another SQLite or GDAL build writing the same values still passes. (dvc.lock pins the file bytes of
the built-in demo's outputs.) A deliberate change of the engine's numbers changes them: re-take them
with `output_digests(OUT)` after tests/test_gcbm_reference.py passes, and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import rasterio

pytestmark = pytest.mark.shared

EXPECTED = {
    "gcbm_output.db": "92c28381766739c52119b33eca41ce3fbdd5ed813d8d8b54ba34cab890ea2e63",
    "compiled_gcbm_output.db": "8c7db1d996bf49996d9d98a5e41ee7a1916577e35106e320de6707895693df71",
    "spatial": "3da3bf65f3b1c72e5045b822985274e6b7c55608c3caf9ae67052559fced1ca7",
    "run_summary.json": "406b891ea2b73432ed0fe151b55e2f66f531275f0ab6fb8e7ddeaafade9d9552",
}


def _db_digest(path: Path) -> str:
    h = hashlib.sha256()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        for table in tables:
            h.update(f"\n[{table}]\n".encode())
            for row in sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{table}"')):  # order-free
                h.update(row.encode())
    return h.hexdigest()


def _map_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with rasterio.open(path) as ds:
            head = (path.name, ds.width, ds.height, tuple(ds.transform)[:6], ds.crs.to_epsg(), ds.dtypes[0], ds.nodata)
            h.update(repr(head).encode())
            h.update(ds.read(1).tobytes())
    return h.hexdigest()


def output_digests(out: Path) -> dict[str, str]:
    """Content digests of a run's output folder (raw db, compiled db, maps, run_summary.json)."""
    summary = json.loads((out / "run_summary.json").read_text())
    summary.pop("engine_version", None)  # the libcbm version is not an output value
    return {
        "gcbm_output.db": _db_digest(out / "gcbm_output.db"),
        "compiled_gcbm_output.db": _db_digest(out / "compiled_gcbm_output.db"),
        "spatial": _map_digest(sorted((out / "spatial").glob("*.tif"))),
        "run_summary.json": hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest(),
    }


def test_flint_demo_outputs_equal_the_run_before_the_speed_work(flint_demo_run):
    assert len(list((flint_demo_run / "spatial").glob("*.tif"))) == 231
    assert output_digests(flint_demo_run) == EXPECTED
