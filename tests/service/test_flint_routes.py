"""FLINT.Cloud's FLINT-example routes (`POST /point`, `POST /rothc`) and the JSON routes the web app's FLINT
pages use, over real HTTP: FLINT's own published output, bad configs named, tokens required, long runs refused."""

from __future__ import annotations

import copy

import pytest

from shared_paths import FLINT_EXAMPLE, missing_fixture

from .helpers import Server


def published(name: str) -> list[str]:
    path = FLINT_EXAMPLE / "output" / name
    if not path.is_file():
        missing_fixture(f"FLINT's published output not found at {path} (tests/data/flint-example holds a copy; "
                        "set FLINTCLOUD_FLINT_EXAMPLE to use another)")
    return path.read_text().splitlines()


def without_timestamps(lines: list[str]) -> list[str]:
    return [ln for ln in lines if not ln.startswith(("Started:", "Finished:"))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("flint") / "data"
    srv = Server(data, workers=0).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def token(server):
    from flintcloud.service.store import Store

    return Store(server.data_dir / "flintcloud.db").init().create_token("modeller")


@pytest.mark.shared_only  # FLINT's published output: ../shared/flint-example
@pytest.mark.parametrize("route, name", [("/point", "default_point_output.csv"),
                                         ("/rothc", "default_point_rothc_output.csv")])
def test_flint_cloud_routes_answer_flints_own_csv(server, token, route, name):
    expected = published(name)
    resp = server.client(token).post(route)  # FLINT.Cloud: an empty body runs the default config
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert f'filename="{route[1:]}_output.csv"' in resp.headers["content-disposition"]
    assert without_timestamps(resp.text.splitlines()) == without_timestamps(expected)


def test_a_posted_config_replaces_the_example_and_bad_ones_are_named(server, token):
    client = server.client(token)
    configs = client.get("/api/v1/flint/point/config").json()["configs"]
    run = copy.deepcopy(configs[0])
    run["LocalDomain"]["end_date"] = "1920/03/31"
    body = client.post("/point", json=run)
    rows = [ln for ln in body.text.splitlines() if ln.startswith("onOutputStep")]
    assert body.status_code == 200 and len(rows) == 3  # Jan, Feb, Mar 1920

    run["LocalDomain"]["end_date"] = "1919/01/01"  # before the start
    bad = client.post("/point", json=run)
    assert bad.status_code == 422 and "end_date" in bad.json()["error"]
    garbage = client.post("/rothc", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 422 and "not JSON" in garbage.json()["error"]
    long_run = copy.deepcopy(configs[0])
    long_run["LocalDomain"]["end_date"] = "9000/12/31"  # 85,000 monthly steps
    refused = client.post("/point", json=long_run)
    assert refused.status_code == 422 and "step" in refused.json()["error"].lower()


@pytest.mark.shared_only
def test_json_results_for_the_web_app(server, token):
    client = server.client(token)
    configs = client.get("/api/v1/flint/rothc/config").json()["configs"]
    out = client.post("/api/v1/flint/rothc", json={"configs": configs}).json()
    expected = without_timestamps(published("default_point_rothc_output.csv"))
    header = next(ln for ln in expected if ln.startswith("notification,")).rstrip(",").split(",")
    last = next(ln for ln in reversed(expected) if ln.startswith("onOutputStep")).rstrip(",").split(",")
    row = out["records"][-1]
    for name, value in zip(header[5:], last[5:]):
        assert row[name] == pytest.approx(float(value), rel=1e-9, abs=1e-12), name
    assert out["pools"] == header[5:]
    assert client.post("/api/v1/flint/rothc", json={"configs": []}).status_code == 422
    assert client.get("/api/v1/flint/other/config").status_code == 422


def test_tokens_are_required_once_they_exist(server, token):
    anon = server.client()
    for method, path in (("post", "/point"), ("post", "/rothc"), ("get", "/api/v1/flint/point/config")):
        assert getattr(anon, method)(path).status_code == 401, path
