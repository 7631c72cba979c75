"""In-process checks of the app (FastAPI TestClient): settings, validation text, OpenAPI, health."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from flintcloud.errors import ConfigError
from flintcloud.service.app import create_app
from flintcloud.service.overrides import effective_params, parse_config_params
from flintcloud.service.settings import Limits, parse_settings


def test_settings_from_env_and_flags(tmp_path):
    s = parse_settings({"FLINTCLOUD_HOST": "0.0.0.0", "FLINTCLOUD_PORT": "9000", "FLINTCLOUD_WORKERS": "3",
                        "FLINTCLOUD_DATA_DIR": str(tmp_path), "FLINTCLOUD_MAX_FILES": "7"})
    assert (s.host, s.port, s.workers, s.data_dir, s.limits.max_files) == ("0.0.0.0", 9000, 3, tmp_path, 7)
    assert not s.is_loopback
    s = parse_settings({"FLINTCLOUD_PORT": "9000"}, port=8081, workers=0)
    assert (s.host, s.port, s.workers, s.is_loopback) == ("127.0.0.1", 8081, 0, True)
    assert s.limits == Limits()
    with pytest.raises(ConfigError, match="FLINTCLOUD_PORT='http' is not a whole number"):
        parse_settings({"FLINTCLOUD_PORT": "http"})
    with pytest.raises(ConfigError, match="FLINTCLOUD_WORKERS='-1' must be at least 0"):
        parse_settings({"FLINTCLOUD_WORKERS": "-1"})


def test_no_anonymous_access_beyond_loopback(tmp_path):
    """Tokenless mode is decided per request from the settings: a server configured for a non-loopback address
    answers 401 to anonymous requests even with no token at all (serve refuses to start so, but the app must not
    depend on that), and a loopback one that started with tokens stays closed once they are revoked."""
    from flintcloud.service.store import Store

    public = TestClient(create_app(parse_settings({}, host="0.0.0.0", data_dir=str(tmp_path / "public"))))
    r = public.get("/api/v1/simulations")
    assert r.status_code == 401 and "no valid API token" in r.json()["error"]
    assert public.post("/gcbm/new", data={"title": "x"}).status_code == 401
    store = Store(tmp_path / "public" / "flintcloud.db").init()
    tok = store.create_token("alice")
    assert public.get("/api/v1/simulations", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    store.revoke_tokens(user="alice")
    assert public.get("/api/v1/simulations").status_code == 401

    loopback = TestClient(create_app(parse_settings({}, data_dir=str(tmp_path / "local"))), base_url="http://127.0.0.1")
    assert loopback.get("/api/v1/whoami").json()["user"] == "local"  # started tokenless on loopback


def test_params_from_a_gcbm_config():
    docs = {"localdomain.json": {"LocalDomain": {"start_date": "2010/01/01", "end_date": "2021/01/01"}},
            "variables.json": {"Variables": {"admin_boundary": "British Columbia", "eco_boundary": {"transform": {}}}}}
    assert parse_config_params(docs) == {"simulation": {"start_year": 2010, "end_year": 2020,
                                                        "admin_boundary": "British Columbia"}}
    assert effective_params({"simulation": {"end_year": 2015}})["simulation"]["end_year"] == 2015


@pytest.fixture
def client(tmp_path):
    from flintcloud.service.settings import read_settings

    # addressed to loopback, as a tokenless server requires (TestClient's default host is 'testserver')
    return TestClient(create_app(read_settings(data_dir=tmp_path / "data")), base_url="http://127.0.0.1")


def test_health_ready_spec_docs(client):
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/api/v1/ready").json() == {"status": "ok", "store": "ok", "queue": "ok", "queued_jobs": 0}
    spec = client.get("/spec").json()
    for path in ("/api/v1/simulations", "/api/v1/simulations/{sim_id}/inputs", "/api/v1/simulations/{sim_id}/runs",
                 "/api/v1/simulations/{sim_id}/runs/{run_id}/events", "/gcbm/upload", "/gcbm/dynamic", "/gcbm/status",
                 "/gcbm/download", "/gcbm/list", "/gcbm/getConfig", "/version", "/check"):
        assert path in spec["paths"], path
    assert "swagger-ui" in client.get("/docs").text
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()


def test_upload_validation_has_the_text_of_flintcloud_validate(client, tmp_path):
    """Every problem at once, and the same messages `flintcloud validate` prints for the same folder."""
    from flintcloud.demo.project import generate_demo_project

    project = generate_demo_project(tmp_path / "project")
    (project / "layers" / "tiled" / "initial_age.json").unlink()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in project.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(project).as_posix())
    r = client.post("/api/v1/simulations", json={"title": "t", "params": {"simulation": {"end_year": 2005}}})
    assert r.status_code == 422 and "end_year" in r.json()["error"]  # params are checked as configure checks them
    sim = client.post("/api/v1/simulations", json={"title": "t"}).json()
    client.patch(f"/api/v1/simulations/{sim['id']}", json={"params": {"simulation": {"end_year": 2012}}})
    r = client.post(f"/api/v1/simulations/{sim['id']}/inputs", files={"files": ("p.zip", buf.getvalue())})
    assert r.status_code == 201
    api_messages = [e["message"] for e in r.json()["validation"]["errors"]]
    assert any("initial_age" in m for m in api_messages)
    assert not any(str(tmp_path) in m for m in api_messages)  # no server paths

    sim_dir = tmp_path / "data" / "simulations" / sim["id"]
    params = effective_params({"simulation": {"end_year": 2012}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run([sys.executable, "-c", "from flintcloud.cli import run; run()", "validate", "inputs",
                          "--params", str(tmp_path / "params.yaml"), "--root", "."], cwd=sim_dir,
                         capture_output=True, text=True)
    assert out.returncode == 1
    for message in api_messages:
        assert message in out.stderr, message
    r = client.post(f"/api/v1/simulations/{sim['id']}/runs")
    assert r.status_code == 422 and r.json()["problems"] == api_messages


def test_delete_input_and_simulation(client, tmp_path):
    from .test_uploads import tiff_bytes

    sim = client.post("/api/v1/simulations", json={"title": "gone soon"}).json()
    base = f"/api/v1/simulations/{sim['id']}"
    r = client.post(base + "/inputs", files=[("files", ("a.tiff", tiff_bytes())), ("files", ("b.tiff", tiff_bytes()))])
    assert [f["path"] for f in r.json()["files"]] == ["layers/tiled/a.tiff", "layers/tiled/b.tiff"]
    assert client.delete(base + "/inputs/layers/tiled/a.tiff").status_code == 204
    # '..' percent-encoded: httpx would drop a literal '../..' before sending (test_http_security sends it raw);
    # the route hands '../../flintcloud.db' to the handler, which deletes only a listed input
    r = client.delete(base + "/inputs/%2e%2e/%2e%2e/%2e%2e/flintcloud.db")  # inputs/../../.. is the data dir
    assert r.status_code == 404 and r.json()["error"].startswith("input '../../../flintcloud.db' not found"), r.text
    assert client.delete(base + "/inputs/layers/tiled/a.tiff").status_code == 404
    assert [f["path"] for f in client.get(base + "/inputs").json()["files"]] == ["layers/tiled/b.tiff"]
    sim_dir = tmp_path / "data" / "simulations" / sim["id"]
    assert sim_dir.is_dir()
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404 and not sim_dir.exists()
    assert (tmp_path / "data" / "flintcloud.db").is_file()


def test_paging(client):
    for i in range(5):
        assert client.post("/api/v1/simulations", json={"title": f"sim {i}"}).status_code == 201
    assert client.post("/api/v1/simulations", json={"title": "sim 0"}).status_code == 409
    page = client.get("/api/v1/simulations", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and [s["title"] for s in page["items"]] == ["sim 3", "sim 2"]
    assert client.get("/api/v1/simulations", params={"limit": 501}).status_code == 422


def test_the_whole_list_is_sorted_then_paged(client, tmp_path):
    """Sorting orders every simulation, not the page on screen: page 2 by title continues page 1."""
    from flintcloud.service.store import Store

    ids = {}
    for title in ("b", "D", "a", "c", "e"):
        params = {"simulation": {"engine": "gcbm-container"}} if title == "c" else {}
        ids[title] = client.post("/api/v1/simulations", json={"title": title, "params": params}).json()["id"]
    store, user = Store(tmp_path / "data" / "flintcloud.db"), client.get("/api/v1/whoami").json()["user"]
    for title, status in (("a", "failed"), ("e", "succeeded")):  # latest runs, as a worker records them
        run = store.create_run(f"run-{title}", store.get_simulation(user, ids[title]), {})
        store.finish_run(run.id, status)

    def titles(**query):
        return [s["title"] for page in (0, 2, 4) for s in client.get(
            "/api/v1/simulations", params={"limit": 2, "offset": page, **query}).json()["items"]]

    assert titles(sort="title", desc="false") == ["a", "b", "c", "D", "e"]  # case-insensitive, across pages
    assert titles(sort="title") == ["e", "D", "c", "b", "a"]
    assert titles() == ["e", "c", "a", "D", "b"]  # newest first
    assert titles(sort="engine", desc="false")[0] == "c"  # gcbm-container before the default libcbm
    assert titles(sort="status")[:2] == ["e", "a"]  # succeeded, failed, then those never run
    r = client.get("/api/v1/simulations", params={"sort": "title; DROP TABLE simulations"})
    assert r.status_code == 422 and "sort: 'title; DROP TABLE simulations' is not one of created, title" in r.json()["error"]
    assert client.get("/api/v1/simulations").json()["total"] == 5


def test_ready_says_when_the_store_is_gone(client, tmp_path):
    (tmp_path / "data" / "flintcloud.db").unlink()
    r = client.get("/api/v1/ready")
    assert r.status_code == 503 and r.json()["status"] == "unavailable" and "does not exist" in r.json()["store"]
    assert client.get("/api/v1/health").status_code == 200


def test_blob_url():
    from flintcloud.errors import RemoteError
    from flintcloud.service.blob import BlobMirror, parse_blob_url

    assert parse_blob_url("azure://flintcloud/service") == ("flintcloud", "service")
    assert parse_blob_url("az://c") == ("c", "")
    with pytest.raises(RemoteError, match="expected azure://<container>/<prefix>"):
        parse_blob_url("s3://bucket/x")
    with pytest.raises(RemoteError, match="AZURE_STORAGE_CONNECTION_STRING is not"):
        BlobMirror("azure://c/p", None)
    s = parse_settings({"FLINTCLOUD_BLOB_URL": "azure://c/p", "AZURE_STORAGE_CONNECTION_STRING": "secret"})
    assert s.blob_url == "azure://c/p" and "secret" not in repr(s)


def test_report_html_carries_its_figures(tmp_path):
    """report.html inlines each figures/<name>.png as a data: URI of the PNG itself (a saved or blob-downloaded
    page has no figures/ beside it, and an <img> cannot send a bearer token); unlisted names stay as written."""
    import base64
    import re

    from flintcloud.service.results import report_html

    figures = tmp_path / "reports" / "figures"
    figures.mkdir(parents=True)
    pngs = {"stocks.png": b"\x89PNG\r\n\x1a\n" + b"stocks", "nbp map.png": b"\x89PNG\r\n\x1a\n" + b"map"}
    for name, data in pngs.items():
        (figures / name).write_bytes(data)
    (tmp_path / "reports" / "report.md").write_text(
        "# T\n\n![Stocks](figures/stocks.png)\n\n![Map](<figures/nbp map.png>)\n\n![Gone](figures/missing.png)\n")
    html = report_html(tmp_path, "T")
    srcs = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', html)
    assert len(srcs) == 3
    assert [base64.b64decode(s.removeprefix("data:image/png;base64,")) for s in srcs[:2]] == list(pngs.values())
    assert srcs[2] == "figures/missing.png"
