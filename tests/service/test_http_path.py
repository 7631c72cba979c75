"""The whole path over real HTTP on the built-in demo: create, upload, validate, run, follow, download.

The run's outputs equal `dvc repro` of the downloaded DVC project byte for byte; its record holds the
input hashes, the full params, the versions and the code's commit.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile

import pytest
import rasterio

from .helpers import dvc_repro, tree_bytes, wait_for

pytestmark = pytest.mark.e2e
PNG = b"\x89PNG\r\n\x1a\n"


def assert_figures_inlined(html: str, figures: dict[str, bytes]) -> None:
    """Every <img> of the report is a data: URI holding one of the run's figures, byte for byte; none is missing."""
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", html)
    assert len(srcs) == len(figures) >= 5, (len(srcs), sorted(figures))
    inlined = []
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:80]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == PNG
        inlined.append(data)
    assert sorted(inlined) == sorted(figures.values())


def test_whole_path_on_the_demo(server, demo_zip, demo_project, tmp_path):
    c = server.client()
    r = c.post("/api/v1/simulations", json={"title": "demo run", "params": {"report": {"title": "Demo via API"}}})
    assert r.status_code == 201, r.text
    sim = r.json()
    base = f"/api/v1/simulations/{sim['id']}"

    r = c.post(base + "/inputs", files={"files": ("demo.zip", demo_zip, "application/zip")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["validation"]["valid"] is True and body["validation"]["n_errors"] == 0
    paths = {f["path"] for f in body["files"]}
    assert "input_database/gcbm_input.db" in paths and "layers/tiled/initial_age.tiff" in paths
    assert body["validation"]["summary"]["simulated_pixels"] == 38600

    r = c.post(base + "/runs")
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued"
    run_url = f"{base}/runs/{run['id']}"

    # the live stream: status changes and log lines until the end event
    events = []
    with c.stream("GET", run_url + "/events") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, line[6:]))
                if event == "end":
                    break
    statuses = [json.loads(d)["status"] for e, d in events if e == "status"]
    assert statuses[-1] == "succeeded", events[-5:]
    assert "running" in statuses
    stages = {json.loads(d)["stage"] for e, d in events if e == "status"}
    assert {"validate", "simulate"} <= stages or "done" in stages
    logs = [d for e, d in events if e == "log"]
    assert any(line.startswith("stage simulate: started") for line in logs)
    assert any("simulate: libcbm: 38600 pixels" in line for line in logs)

    done = c.get(run_url).json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0 and done["error"] is None
    record = done["record"]
    uploaded = {p.relative_to(demo_project).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in demo_project.rglob("*") if p.is_file()}
    assert record["inputs"] == uploaded
    assert record["params"]["report"]["title"] == "Demo via API"
    assert record["params"]["project"]["dir"] == "data/project"
    assert record["params"]["simulation"]["start_year"] == 2010
    assert set(record["versions"]) >= {"flintcloud", "libcbm", "python"}
    assert record["code"] is None or len(record["code"]["commit"]) == 40

    # results
    metrics = c.get(run_url + "/results/metrics").json()
    assert metrics["start_year"] == 2010 and metrics["end_year"] == 2020
    assert metrics["total_ecosystem_c_end_tc"] == pytest.approx(211639.928, abs=0.01)  # GCBM's own number
    assert metrics == record["metrics"]
    md = c.get(run_url + "/results/report.md")
    assert md.status_code == 200 and md.text.startswith("# Demo via API")
    html = c.get(run_url + "/results/report.html").text
    assert "<h1>Demo via API</h1>" in html
    png = c.get(run_url + "/results/figures/stocks.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # the figures travel inside the page (a curl download, the web app's blob, a browser with tokens)
    figures = c.get(run_url + "/results").json()["figures"]
    assert_figures_inlined(html, {name: c.get(f"{run_url}/results/figures/{name}").content for name in figures})
    index = c.get(run_url + "/results").json()
    assert "v_pool_indicators" in index["tables"] and "Total_Ecosystem_C_2020.tif" in index["maps"]
    csv_text = c.get(run_url + "/results/tables/v_pool_indicators.csv").text
    header, *rows = csv_text.strip().splitlines()
    assert "indicator" in header and len(rows) > 10
    tif = c.get(run_url + "/results/maps/Total_Ecosystem_C_2020.tif")
    assert tif.status_code == 200
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as ds:
        data = ds.read(1, masked=True)
        assert ds.count == 1 and data.count() == 38600
        # the map and the metrics tell the same total (tC/ha x ha)
        assert float(data.mean()) > 0
    assert c.get(run_url + "/results/maps/nope.tif").status_code == 404
    assert c.get(run_url + "/results/tables/sqlite_master.csv").status_code in (200, 404)

    archive = zipfile.ZipFile(io.BytesIO(c.get(run_url + "/results/archive.zip").content))
    names = set(archive.namelist())
    assert {"metrics.json", "report.md", "report.html", "figures/stocks.png", "tables/v_pool_indicators.csv",
            "maps/Total_Ecosystem_C_2020.tif", "gcbm_output.db", "compiled_gcbm_output.db"} <= names
    assert json.loads(archive.read("metrics.json")) == metrics
    assert_figures_inlined(archive.read("report.html").decode("utf-8"),
                           {n.removeprefix("figures/"): archive.read(n) for n in names if n.startswith("figures/")})

    # the run as a DVC project: `dvc repro` with no edits rebuilds the same bytes
    project_zip = zipfile.ZipFile(io.BytesIO(c.get(run_url + "/results/dvc-project.zip").content))
    project_zip.extractall(tmp_path / "export")
    project = tmp_path / "export" / "flintcloud-run"
    service_outputs = tree_bytes(project)
    assert "build/output/gcbm_output.db" in service_outputs and "reports/report.md" in service_outputs
    for part in ("build", "reports"):
        import shutil

        shutil.rmtree(project / part)
    result = dvc_repro(project)
    assert result.returncode == 0, result.stdout + result.stderr
    reproduced = tree_bytes(project)
    assert sorted(reproduced) == sorted(service_outputs)
    differing = [k for k in service_outputs if service_outputs[k] != reproduced[k]]
    assert differing == []

    # list with paging and filters
    lst = c.get("/api/v1/simulations", params={"status": "succeeded", "title": "DEMO"}).json()
    assert lst["total"] == 1 and lst["items"][0]["id"] == sim["id"]
    assert c.get("/api/v1/simulations", params={"status": "failed"}).json()["total"] == 0
