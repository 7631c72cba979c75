"""Runs over real HTTP: cancel, failure with its reason, restart of the server mid-run, queued runs surviving it."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile

import pytest

from .helpers import Server, wait_for

pytestmark = pytest.mark.e2e


def new_sim(c, title, demo_zip, params=None) -> str:
    sim = c.post("/api/v1/simulations", json={"title": title, "params": params or {}}).json()
    r = c.post(f"/api/v1/simulations/{sim['id']}/inputs", files={"files": ("demo.zip", demo_zip)})
    assert r.status_code == 201 and r.json()["validation"]["valid"], r.text
    return f"/api/v1/simulations/{sim['id']}"


def start(c, base) -> str:
    r = c.post(base + "/runs")
    assert r.status_code == 202, r.text
    return f"{base}/runs/{r.json()['id']}"


def wait_running(c, url, timeout=120):
    return wait_for(c, url, statuses=("running", "succeeded", "failed", "cancelled"), timeout=timeout)


def leftovers(data_dir):
    return [p for p in data_dir.rglob(".*tmp-*")]


def test_cancel_and_failure_leave_earlier_results(server, demo_zip):
    c = server.client()
    base = new_sim(c, "cancel me", demo_zip)
    first = start(c, base)
    assert wait_for(c, first)["status"] == "succeeded"
    metrics = c.get(first + "/results/metrics").json()
    assert c.get(first + "/results/report.md").text.startswith("# cancel me\n")  # titled after the simulation
    assert c.post(base + "/runs").status_code == 202  # a second run
    second = c.get(base + "/runs").json()["items"][0]
    second_url = f"{base}/runs/{second['id']}"
    assert second["status"] in ("queued", "running")
    assert c.post(base + "/runs").status_code == 409  # one active run per simulation
    assert wait_running(c, second_url)["status"] == "running"
    r = c.post(second_url + "/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    done = wait_for(c, second_url)
    assert done["status"] == "cancelled" and "cancelled" in done["error"]
    assert c.post(second_url + "/cancel").status_code == 409
    assert c.get(second_url + "/results/metrics").status_code == 409
    assert c.get(first + "/results/metrics").json() == metrics
    assert leftovers(server.data_dir) == []

    # a failing run: the error names the culprit; the earlier results stay
    r = c.patch(base, json={"params": {"simulation": {"engine": "gcbm-container"}}})
    assert r.status_code == 200, r.text
    failed = wait_for(c, start(c, base))
    assert failed["status"] == "failed"
    assert "gcbm_container.image" in failed["error"] or "Docker" in failed["error"] or "docker" in failed["error"]
    if "gcbm_container.image" in failed["error"]:  # the params key it names, for the run page's link
        assert failed["culprit"]["key"] == "simulation.gcbm_container.image", failed["culprit"]
    log = c.get(f"{base}/runs/{failed['id']}/log").text
    assert "stage simulate: started" in log and "error:" in log
    assert c.get(first + "/results/metrics").json() == metrics
    assert leftovers(server.data_dir) == []


def test_api_only_server_and_a_separate_worker(tmp_path, demo_zip):
    srv = Server(tmp_path / "data", workers=0).start()  # API only: nothing takes runs off the queue
    try:
        c = srv.client()
        base = new_sim(c, "queued", demo_zip)
        url = start(c, base)
        assert c.get(url).json()["status"] == "queued"
        assert c.get("/api/v1/ready").json()["queued_jobs"] == 1
        r = c.post(url + "/cancel")
        assert r.json()["status"] == "cancelled" and r.json()["error"] == "cancelled before it started"
        # `flintcloud worker` on the same data dir takes the next run (the Compose/Kubernetes layout)
        url = start(c, base)
        worker = subprocess.Popen([sys.executable, "-c", "from flintcloud.cli import run; run()", "worker"],
                                  env={**srv.env, "FLINTCLOUD_DATA_DIR": str(srv.data_dir), "FLINTCLOUD_WORKERS": "1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert wait_for(c, url)["status"] == "succeeded"
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    finally:
        srv.stop()


def test_restart_mid_run(tmp_path, demo_zip):
    """SIGTERM the server while run A runs and run B waits: after the restart A is failed 'interrupted'
    and restartable, B starts and succeeds; nothing half-written is left."""
    data = tmp_path / "data"
    srv = Server(data, workers=1).start()
    c = srv.client()
    # A simulates 2010-2060 so that it is surely still running when the server stops
    long = {"simulation": {"end_year": 2060}}
    a_base, b_base = new_sim(c, "A", demo_zip, long), new_sim(c, "B", demo_zip, long)
    a, b = start(c, a_base), start(c, b_base)
    assert wait_running(c, a)["status"] == "running"
    assert c.get(b).json()["status"] == "queued"  # one worker: bounded concurrency
    c.close()
    srv.stop()
    with sqlite3.connect(data / "flintcloud.db") as conn:
        states = dict(conn.execute("SELECT simulation_id, status FROM runs"))
    # as the stopping worker left them: A failed 'interrupted' (or still 'running' if it was killed before it
    # could say so: the next start marks it), B still queued
    assert states[a_base.rsplit("/", 1)[1]] in ("running", "failed") and states[b_base.rsplit("/", 1)[1]] == "queued"

    srv.start()
    try:
        c = srv.client()
        a_state = c.get(a).json()
        assert a_state["status"] == "failed" and a_state["error"].startswith("interrupted")
        b_done = wait_for(c, b)
        assert b_done["status"] == "succeeded", (b_done, c.get(b + "/log").text[-2000:])
        r = c.post(a + "/restart")
        assert r.status_code == 202 and r.json()["status"] == "queued"
        done = wait_for(c, a)
        assert done["status"] == "succeeded", done
        assert c.get(a + "/results/metrics").json() == c.get(b + "/results/metrics").json()
        assert leftovers(data) == []
    finally:
        srv.stop()


def test_without_tokens_only_loopback(tmp_path):
    """Without tokens the server refuses a non-loopback address and says why."""
    out = subprocess.run([sys.executable, "-c", "from flintcloud.cli import run; run()", "serve", "--host", "0.0.0.0",
                          "--port", "0", "--data-dir", str(tmp_path / "d"), "--workers", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "no API tokens are configured, so the server only listens on loopback" in out.stderr


def small_geotiff() -> bytes:
    """A valid GeoTIFF (it passes the upload's checks) on another grid than the demo's layers."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=4, height=3, count=1, dtype="int16", crs="EPSG:4326",
                      transform=from_origin(-106, 55, 0.00025, 0.00025)) as ds:
            ds.write(np.full((1, 3, 4), 50, dtype="int16"))
        return mem.read()


def test_a_run_failing_on_a_broken_layer_names_it(tmp_path, demo_zip):
    """The age layer is replaced by one on another grid after the run was queued: the run fails in its validate
    stage and records the culprit (the input file and its layer) for the run page to link to."""
    srv = Server(tmp_path / "data", workers=0).start()  # no worker yet: the run waits in the queue
    worker = None
    try:
        c = srv.client()
        base = new_sim(c, "broken layer", demo_zip)
        url = start(c, base)
        r = c.post(base + "/inputs", files={"files": ("initial_age.tiff", small_geotiff())})
        assert r.status_code == 201 and r.json()["validation"]["valid"] is False
        worker = subprocess.Popen([sys.executable, "-c", "from flintcloud.cli import run; run()", "worker"],
                                  env={**srv.env, "FLINTCLOUD_DATA_DIR": str(srv.data_dir), "FLINTCLOUD_WORKERS": "1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        failed = wait_for(c, url)
        assert failed["status"] == "failed" and "initial_age" in failed["error"], failed["error"]
        culprit = failed["culprit"]
        assert culprit["input"] == "layers/tiled/initial_age.tiff" and culprit["layer"] == "initial_age"
        assert culprit["message"].startswith("layer 'initial_age' ('inputs/layers/tiled/initial_age.tiff') "
                                             "does not share the grid"), culprit
        assert str(srv.data_dir) not in json.dumps(culprit)
        assert failed["record"]["culprit"] == culprit
        assert "initial_age" in c.get(url + "/log").text
        # the live stream's last event carries it too (the run page reads it there)
        with c.stream("GET", url + "/events") as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert json.loads(lines[-1][6:])["culprit"] == culprit
        # fixed and restarted, the run succeeds and names no culprit any more
        inputs = {f["path"] for f in c.get(base + "/inputs").json()["files"]}
        assert "layers/tiled/initial_age.tiff" in inputs
        with zipfile.ZipFile(io.BytesIO(demo_zip)) as zf:
            age = zf.read(next(n for n in zf.namelist() if n.endswith("layers/tiled/initial_age.tiff")))
        assert c.post(base + "/inputs", files={"files": ("initial_age.tiff", age)}).json()["validation"]["valid"]
        assert c.post(url + "/restart").status_code == 202
        assert c.get(url).json()["culprit"] is None
        done = wait_for(c, url)
        assert done["status"] == "succeeded" and done["culprit"] is None and "culprit" not in done["record"]
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        srv.stop()


def test_gcbm_status_says_failed_and_why(tmp_path, demo_zip):
    """FLINT.Cloud's /gcbm/status for a run that failed on a bad input: `finished` is "Failed: <reason>", with the
    reason (naming the culprit) also in `error`. The input goes bad after the run was queued: its database is
    deleted before a worker takes the run, so the run's own validation fails."""
    srv = Server(tmp_path / "data", workers=0).start()
    worker = None
    try:
        c = srv.client()
        assert "New simulation started" in c.post("/gcbm/new", data={"title": "will fail"}).json()["data"]
        sim = c.get("/api/v1/simulations", params={"title": "will fail"}).json()["items"][0]
        base = f"/api/v1/simulations/{sim['id']}"
        r = c.post(base + "/inputs", files={"files": ("demo.zip", demo_zip)})
        assert r.status_code == 201 and r.json()["validation"]["valid"], r.text
        r = c.post("/gcbm/dynamic", data={"title": "will fail"})
        assert r.status_code == 200 and r.json()["status"] == "Run started", r.text
        assert c.post("/gcbm/status", data={"title": "will fail"}).json()["finished"] == "In Progress"
        assert c.delete(base + "/inputs/input_database/gcbm_input.db").status_code == 204
        worker = subprocess.Popen([sys.executable, "-c", "from flintcloud.cli import run; run()", "worker"],
                                  env={**srv.env, "FLINTCLOUD_DATA_DIR": str(srv.data_dir), "FLINTCLOUD_WORKERS": "1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        run = wait_for(c, f"{base}/runs/{r.json()['run_id']}")
        assert run["status"] == "failed", run
        status = c.post("/gcbm/status", data={"title": "will fail"}).json()
        assert status["status"] == "failed" and status["run_id"] == run["id"] and status["stage"] == "validate"
        assert status["error"] == run["error"] and "gcbm_input.db" in status["error"], status
        assert status["finished"] == f"Failed: {run['error']}"
        r = c.post("/gcbm/download", data={"title": "will fail"})
        assert r.status_code == 409 and "failed" in r.json()["error"]
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        srv.stop()
