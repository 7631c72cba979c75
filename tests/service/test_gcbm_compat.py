"""FLINT.Cloud's GCBM routes, driven the way FLINT.Cloud's client drives them, on the FLINT.Cloud demo.

The client creates a simulation, uploads the layers per category as `<layer>_moja.tiff` (here with their
sidecars beside them, which flintcloud needs for the attributes), the db and the config files, starts
the run with /gcbm/dynamic, polls /gcbm/status until finished and downloads the output zip. The raw and
compiled databases in that zip equal GCBM's own output for the demo to 1e-6.
"""

from __future__ import annotations

import io
import sqlite3
import zipfile

import numpy as np
import pandas as pd
import pytest

from flintcloud.outputs.compile import compile_results
from flintcloud.outputs.diff import diff_outputs, format_diff

pytestmark = [pytest.mark.shared, pytest.mark.e2e]
RTOL = 1e-6
FINISHED = "Output is ready to download at gcbm/download"


def category(name: str) -> str:
    if name.startswith("disturbances_"):
        return "disturbances"
    if name.startswith("Classifier"):
        return "classifiers"
    return "miscellaneous"


def demo_files(flint_demo, with_sidecars=True):
    """(field, (filename, bytes)) as FLINT.Cloud's client posts them; layers renamed <layer>_moja.*"""
    files = []
    for tif in sorted((flint_demo / "layers" / "tiled").glob("*.tiff")):
        sidecar = tif.with_suffix(".json")
        if not sidecar.is_file():
            continue  # bounding_box.tiff: the tiler's, not a GCBM layer
        field = category(tif.stem)
        files.append((field, (f"{tif.stem}_moja.tiff", tif.read_bytes())))
        if with_sidecars:
            files.append((field, (f"{tif.stem}_moja.json", sidecar.read_bytes())))
    files.append(("db", ("gcbm_input.db", (flint_demo / "input_database" / "gcbm_input.db").read_bytes())))
    for name in ("localdomain.json", "variables.json"):
        files.append(("config_files", (name, (flint_demo / "config" / name).read_bytes())))
    return files


def compiled_tables(path) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")]
        return {n: pd.read_sql_query(f'SELECT * FROM "{n}"', conn) for n in names}


def assert_tables_close(ours: dict, ref: dict) -> None:
    """Every compiled table: rows matched on their non-float columns, floats summed; a row on one side
    only counts as 0 on the other (GCBM writes some 1e-16 fluxes the engine does not, and vice versa)."""
    assert sorted(ours) == sorted(ref)
    checked = 0
    for name, a in ours.items():
        b = ref[name]
        assert list(a.columns) == list(b.columns), name
        values = [c for c in a.columns if (pd.api.types.is_float_dtype(a[c]) or pd.api.types.is_float_dtype(b[c]))
                  and not c.endswith(("_code", "_id"))]
        keys = [c for c in a.columns if c not in values]
        if not values or not len(b):
            assert len(a) == len(b), name
            continue
        ga = a.groupby(keys, dropna=False)[values].sum()
        gb = b.groupby(keys, dropna=False)[values].sum()
        m = ga.add_suffix("_ours").join(gb.add_suffix("_gcbm"), how="outer").fillna(0.0)
        for v in values:
            x, y = m[f"{v}_ours"].to_numpy(float), m[f"{v}_gcbm"].to_numpy(float)
            diff = np.abs(x - y)
            bad = (diff > 1e-9) & (diff > RTOL * np.maximum(np.abs(x), np.abs(y)))
            assert not bad.any(), f"{name}.{v}: {int(bad.sum())} of {len(m)} rows differ beyond {RTOL}:\n" \
                                  f"{m[bad].head(10)}"
            checked += len(m)
    assert checked > 1000


def test_flint_cloud_client_flow_matches_gcbm(server, flint_demo, gcbm_reference_output, tmp_path):
    c = server.client()
    title = "run4"
    assert c.get("/check").text == "Checks OK"
    assert c.get("/version").json()["data"]["exitCode"] == 0
    r = c.post("/gcbm/new", data={"title": title})
    assert r.status_code == 200 and r.json()["data"].startswith("New simulation started")
    assert c.post("/gcbm/new", data={"title": title}).json()["data"].startswith("Simulation already exists")
    assert c.get("/gcbm/list").json()["data"] == [title]

    files = demo_files(flint_demo)
    missing_db = [f for f in files if f[0] != "db"]
    r = c.post("/gcbm/upload", data={"title": title}, files=missing_db)
    assert r.status_code == 400 and r.json() == {"error": "Missing configuration file"}
    r = c.post("/gcbm/upload/db", data={"title": title})
    assert r.status_code == 400 and r.json() == {"error": "Missing db file"}

    r = c.post("/gcbm/upload", data={"title": title}, files=files)
    assert r.status_code == 200, r.text
    assert r.json()["data"].startswith("All files uploaded succesfully")
    r = c.post("/gcbm/dynamic", data={"title": title})
    assert r.status_code == 200 and r.json()["status"] == "Run started", r.text

    import time

    deadline = time.monotonic() + 600
    while (status := c.post("/gcbm/status", data={"title": title}).json())["finished"] != FINISHED:
        assert status["status"] in ("queued", "running"), status
        assert status["finished"] == "In Progress"
        assert time.monotonic() < deadline
        time.sleep(0.5)

    config = c.post("/gcbm/getConfig", data={"title": title, "file_name": "localdomain.json"}).json()
    assert config["LocalDomain"]["start_date"] == "2010/01/01" and config["LocalDomain"]["end_date"] == "2021/01/01"

    r = c.post("/gcbm/download", data={"title": title})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="run4.zip"' in r.headers["content-disposition"]
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "spatial" / "NBP_2020.tif").is_file() and (out / "logs" / "run.log").is_file()
    # the raw db under FLINT.Cloud's name (its template's databasename: output/simulation_output.db) and,
    # as docs/service.md promises, under GCBM's: the same bytes
    raw = out / "simulation_output.db"
    assert raw.read_bytes()[:16] == b"SQLite format 3\x00"
    assert raw.read_bytes() == (out / "gcbm_output.db").read_bytes()

    diff = diff_outputs(raw, gcbm_reference_output / "gcbm_output.db", rtol=RTOL)
    assert len(diff) > 1000 and not diff["exceeds"].any(), format_diff(diff)
    compile_results(gcbm_reference_output / "gcbm_output.db", tmp_path / "reference_compiled.db")
    assert_tables_close(compiled_tables(out / "compiled_gcbm_output.db"),
                        compiled_tables(tmp_path / "reference_compiled.db"))

    assert c.post("/gcbm/download", data={"title": "no-such-title"}).status_code == 404


def test_bare_geotiffs_name_each_layer_without_attributes(server, flint_demo):
    c = server.client()
    r = c.post("/gcbm/upload", data={"title": "bare"}, files=demo_files(flint_demo, with_sidecars=False))
    assert r.status_code == 200
    assert r.json()["validation"]["valid"] is False
    r = c.post("/gcbm/dynamic", data={"title": "bare"})
    assert r.status_code == 400
    body = r.json()
    assert "upload '<layer>.json'" in body["error"]
    layers = ["Classifier1", "Classifier2", "initial_age", "mean_annual_temperature"] + \
             [f"disturbances_{y}" for y in (2011, 2012, 2013, 2014, 2015, 2016, 2018)]
    for layer in layers:
        assert any(layer in p for p in body["problems"]), (layer, body["problems"])
    status = c.post("/gcbm/status", data={"title": "bare"}).json()
    assert status["status"] == "not started"
