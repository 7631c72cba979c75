"""Attacks over real HTTP: other users' simulations, tokens, path tricks, zips, sizes, types, SQL-ish values."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys

import pytest

from .helpers import Server
from .test_uploads import tiff_bytes, zip_bytes

CLI = [sys.executable, "-c", "from flintcloud.cli import run; run()"]


def token(data_dir, user) -> str:
    out = subprocess.run([*CLI, "token", "create", user, "--data-dir", str(data_dir)], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A server with tokens for alice and bob and small limits; no workers (nothing here runs)."""
    data = tmp_path_factory.mktemp("secured") / "data"
    tokens = {u: token(data, u) for u in ("alice", "bob", "mallory")}
    subprocess.run([*CLI, "token", "revoke", "mallory", "--data-dir", str(data)], check=True, capture_output=True)
    srv = Server(data, workers=0, env={"FLINTCLOUD_MAX_UPLOAD_BYTES": str(3 * 1024**2),
                                       "FLINTCLOUD_MAX_FILES": "5", "FLINTCLOUD_MAX_TOTAL_BYTES": str(4 * 1024**2)})
    srv.start()
    yield srv, tokens
    srv.stop()


@pytest.fixture(scope="module")
def alice_sim(secured):
    srv, tokens = secured
    c = srv.client(tokens["alice"])
    sim = c.post("/api/v1/simulations", json={"title": "alice's forest"}).json()
    r = c.post(f"/api/v1/simulations/{sim['id']}/inputs", files={"files": ("layer.tiff", tiff_bytes())})
    assert r.status_code == 201, r.text
    return sim


def test_tokens_are_stored_hashed(secured):
    srv, tokens = secured
    with sqlite3.connect(srv.data_dir / "flintcloud.db") as conn:
        stored = [r[0] for r in conn.execute("SELECT token_hash FROM tokens")]
    assert len(stored) == 3 and all(len(h) == 64 for h in stored)
    assert not any(t in h for t in tokens.values() for h in stored)


def test_without_a_valid_token_401(secured, alice_sim):
    srv, tokens = secured
    for client in (srv.client(), srv.client("fct_not-a-token"), srv.client(tokens["mallory"])):
        r = client.get("/api/v1/simulations")
        assert r.status_code == 401 and "API token" in r.json()["error"]
        assert client.post("/gcbm/new", data={"title": "x"}).status_code == 401
    # liveness and readiness need no token
    assert srv.client().get("/api/v1/health").json()["status"] == "ok"
    assert srv.client().get("/api/v1/ready").status_code == 200


def test_another_users_simulation_is_404(secured, alice_sim):
    srv, tokens = secured
    bob = srv.client(tokens["bob"])
    base = f"/api/v1/simulations/{alice_sim['id']}"
    for method, url in [("GET", base), ("GET", base + "/inputs"), ("GET", base + "/validation"),
                        ("GET", base + "/runs"), ("POST", base + "/runs"), ("DELETE", base),
                        ("PATCH", base), ("DELETE", base + "/inputs/layers/tiled/layer.tiff"),
                        ("GET", base + "/runs/" + "0" * 32 + "/results/metrics")]:
        kwargs = {"json": {"params": {}}} if method == "PATCH" else {}
        r = bob.request(method, url, **kwargs)
        assert r.status_code == 404, (method, url, r.text)
        assert "not found" in r.json()["error"]
    r = bob.post(base + "/inputs", files={"files": ("evil.tiff", tiff_bytes())})
    assert r.status_code == 404
    assert bob.get("/api/v1/simulations").json()["total"] == 0
    assert bob.post("/gcbm/status", data={"title": "alice's forest"}).status_code == 404
    assert bob.get("/gcbm/list").json()["data"] == []
    alice = srv.client(tokens["alice"])
    assert [f["path"] for f in alice.get(base + "/inputs").json()["files"]] == ["layers/tiled/layer.tiff"]


@pytest.mark.parametrize("title", ["../../etc/passwd", "a/b", "C:\\x", "nul\x00byte", ".."])
def test_path_titles_are_refused(secured, title):
    srv, tokens = secured
    c = srv.client(tokens["bob"])
    r = c.post("/api/v1/simulations", json={"title": title})
    assert r.status_code == 400, r.text
    assert "title" in r.json()["error"]
    assert c.post("/gcbm/new", data={"title": title}).status_code == 400
    assert c.post("/gcbm/upload/db", data={"title": title}, files={"db": ("x.db", b"x")}).status_code == 400


@pytest.mark.parametrize("filename", ["../../evil.tiff", "/etc/evil.tiff", "sub/evil.tiff", "..\\evil.tiff",
                                      ".evil.json"])
def test_path_file_names_are_refused(secured, alice_sim, filename):
    srv, tokens = secured
    r = srv.client(tokens["alice"]).post(f"/api/v1/simulations/{alice_sim['id']}/inputs",
                                         files={"files": (filename, tiff_bytes())})
    assert r.status_code == 400, r.text
    assert "file name" in r.json()["error"] or "path" in r.json()["error"]
    assert not list(srv.data_dir.parent.rglob("evil*")) and not list(srv.data_dir.parent.rglob(".evil*"))


@pytest.mark.parametrize("entries,symlinks,status,message", [
    ({"../../evil.json": b"{}"}, None, 400, "zip slip"),
    ({"/etc/evil.json": b"{}"}, None, 400, "absolute path"),
    ({"x.json": b"{}"}, {"evil.json": "/etc/passwd"}, 400, "symbolic link"),
    ({"bomb.tiff": b"\0" * (2 * 1024**2)}, None, 413, "zip bomb"),
    ({"big.tiff": b"\0" * (30 * 1024**2)}, None, 413, "uncompressed size exceeds the limit"),
])
def test_malicious_zips(secured, alice_sim, entries, symlinks, status, message):
    srv, tokens = secured
    r = srv.client(tokens["alice"]).post(f"/api/v1/simulations/{alice_sim['id']}/inputs",
                                         files={"files": ("project.zip", zip_bytes(entries, symlinks))})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert not list(srv.data_dir.parent.rglob("evil*")) and not list(srv.data_dir.parent.rglob("bomb*"))


def test_oversized_uploads_413(secured, alice_sim):
    srv, tokens = secured
    c = srv.client(tokens["alice"])
    url = f"/api/v1/simulations/{alice_sim['id']}/inputs"
    big = b'{"x": "' + b"y" * (4 * 1024**2) + b'"}'
    r = c.post(url, files={"files": ("big.json", big)})
    assert r.status_code == 413 and "upload limit" in r.json()["error"]
    r = c.post(url, files=[("files", (f"s{i}.json", b"{}")) for i in range(6)])
    assert r.status_code == 413 and "at most 5 input files" in r.json()["error"]
    # a chunked body with no Content-Length is counted too
    def chunked():
        yield b'--bnd\r\nContent-Disposition: form-data; name="files"; filename="big.json"\r\n\r\n{"x": "'
        for _ in range(80):
            yield b"y" * 65536
        yield b'"}\r\n--bnd--\r\n'

    r = c.post(url, content=chunked(), headers={"content-type": "multipart/form-data; boundary=bnd"})
    assert r.status_code == 413 and "upload limit" in r.json()["error"]
    assert [f["path"] for f in c.get(url).json()["files"]] == ["layers/tiled/layer.tiff"]


@pytest.mark.parametrize("name,data,message", [
    ("fake.tiff", b"II*\x00 but not really a tiff", "cannot be opened as a GeoTIFF"),
    ("fake.db", b"not sqlite", "is not a SQLite database"),
    ("bad.json", b"{nope", "is not valid JSON (line 1, column 2"),
    ("tool.exe", b"MZ", "type not accepted"),
])
def test_wrong_types_400_naming_the_file(secured, alice_sim, name, data, message):
    srv, tokens = secured
    r = srv.client(tokens["alice"]).post(f"/api/v1/simulations/{alice_sim['id']}/inputs",
                                         files={"files": (name, data)})
    assert r.status_code == 400, r.text
    assert message in r.json()["error"] and repr(name) in r.json()["error"]


def test_sql_ish_values_are_data(secured):
    srv, tokens = secured
    c = srv.client(tokens["bob"])
    title = "x'; DROP TABLE simulations; --"
    sim = c.post("/api/v1/simulations", json={"title": title}).json()
    assert c.get(f"/api/v1/simulations/{sim['id']}").json()["title"] == title
    assert c.get("/api/v1/simulations", params={"title": "%' OR 1=1 --"}).json()["total"] == 0
    assert c.get("/api/v1/simulations", params={"title": "DROP TABLE"}).json()["total"] == 1
    r = c.get("/api/v1/simulations", params={"status": "succeeded' OR '1'='1"})
    assert r.status_code == 422 and "status" in r.json()["error"]
    r = c.get("/api/v1/simulations", params={"limit": "1; DELETE FROM runs"})
    assert r.status_code == 422 and "limit" in r.json()["error"]
    r = c.post("/gcbm/getConfig", data={"title": title, "file_name": "x' OR 1=1"})
    assert r.status_code == 404
    alice = srv.client(tokens["alice"])
    assert alice.get("/api/v1/simulations").json()["total"] >= 1  # the table is still there
    with sqlite3.connect(srv.data_dir / "flintcloud.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM simulations").fetchone()[0] >= 2


@pytest.mark.parametrize("path", ["/api/v1/simulations/..%2F..%2Fetc", "/api/v1/simulations/%2e%2e",
                                  "/api/v1/simulations/" + "0" * 31 + "g"])
def test_path_ids_are_404(secured, path):
    srv, tokens = secured
    r = srv.client(tokens["alice"]).get(path)
    assert r.status_code == 404


def test_bad_params_are_422_naming_the_key(secured):
    srv, tokens = secured
    c = srv.client(tokens["alice"])
    r = c.post("/api/v1/simulations", json={"title": "p", "params": {"simulation": {"start_yaer": 2000}}})
    assert r.status_code == 422 and "unknown key 'simulation.start_yaer'; did you mean 'simulation.start_year'?" in r.json()["error"]
    r = c.post("/api/v1/simulations", json={"title": "p", "params": {"project": {"dir": "/etc"}}})
    assert r.status_code == 422 and "params.project.dir" in r.json()["error"]
    r = c.post("/api/v1/simulations", json={"title": "p", "params": {"simulation": {"end_year": 1900}}})
    assert r.status_code == 422 and "end_year" in r.json()["error"]
    r = c.post("/api/v1/simulations", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


def test_revoking_the_last_token_does_not_open_the_server(tmp_path):
    """A server that started with tokens never falls back to anonymous 'local' access: revoking every token
    (here with the CLI, while it runs) leaves every request 401, anonymous or with the revoked token."""
    data = tmp_path / "data"
    alice = token(data, "alice")
    srv = Server(data, workers=0).start()
    try:
        assert srv.client(alice).get("/api/v1/simulations").status_code == 200
        assert srv.client().get("/api/v1/simulations").status_code == 401
        subprocess.run([*CLI, "token", "revoke", "alice", "--data-dir", str(data)], check=True, capture_output=True)
        for client in (srv.client(), srv.client(alice)):
            r = client.get("/api/v1/simulations")
            assert r.status_code == 401, r.text
            assert "no valid API token" in r.json()["error"]
            assert client.post("/gcbm/new", data={"title": "x"}).status_code == 401
            assert client.get("/api/v1/whoami").status_code == 401
        with sqlite3.connect(data / "flintcloud.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM simulations").fetchone()[0] == 0
    finally:
        srv.stop()


@pytest.mark.parametrize("params,key,why", [
    ({"executor": {"kind": "dask", "address": "tcp://evil:8786"}}, "params.executor.address", "unpickle"),
    ({"executor": {"address": None}}, "params.executor.address", "not settable through the API"),
    ({"simulation": {"gcbm_container": {"image": "evil/x"}}}, "params.simulation.gcbm_container.image", "docker run"),
    ({"simulation": {"gcbm_container": "evil/x"}}, "params.simulation.gcbm_container", "docker run"),
    ({"simulation": {"num_threads": 512}}, "params.simulation.num_threads", "not settable through the API"),
    ({"executor": {"chunks": 100000}}, "params.executor.chunks", "not settable through the API"),
    ({"executor": {"kind": "dask", "n_workers": 100000}}, "params.executor.n_workers", "limit of 4"),
    ({"executor": {"n_workers": 5.0}}, "params.executor.n_workers", "limit of 4"),
    ({"executor": {"threads_per_worker": 64}}, "params.executor.threads_per_worker", "limit of 2"),
    ({"executor": {"memory_limit": "1TB"}}, "params.executor.memory_limit", "limit of 8589934592"),
    ({"executor": {"memory_limit": "auto"}}, "params.executor.memory_limit", "not a memory size"),
    ({"project": {"db": "/etc/passwd"}}, "params.project.db", "is absolute"),
    ({"project": {"db": "../../flintcloud.db"}}, "params.project.db", "contains '..'"),
    ({"project": {"layers_dir": "inputs/../../.."}}, "params.project.layers_dir", "contains '..'"),
    ({"project": {"layers_dir": "~/layers"}}, "params.project.layers_dir", "is absolute"),
    ({"outputs": {"dir": "/tmp/elsewhere"}}, "params.outputs.dir", "is absolute"),
    ({"outputs": {"dir": "..\\..\\x"}}, "params.outputs.dir", "backslash"),
])
def test_params_that_steer_the_worker_are_refused(secured, alice_sim, params, key, why):
    """Keys that choose what the worker executes (a Dask scheduler, a Docker image), resources above the service's
    limits and paths out of the simulation's folder: 422 naming the key and why, on create and on update."""
    srv, tokens = secured
    c = srv.client(tokens["alice"])
    r = c.post("/api/v1/simulations", json={"title": "steer", "params": params})
    assert r.status_code == 422, r.text
    assert key in r.json()["error"] and why in r.json()["error"], r.json()
    r = c.patch(f"/api/v1/simulations/{alice_sim['id']}", json={"params": params})
    assert r.status_code == 422 and key in r.json()["error"], r.text
    assert c.get(f"/api/v1/simulations/{alice_sim['id']}").json()["params"] == {}
    assert c.get("/api/v1/simulations", params={"title": "steer"}).json()["total"] == 0


def test_legitimate_overrides_still_work(secured):
    srv, tokens = secured
    c = srv.client(tokens["bob"])
    params = {"simulation": {"end_year": 2012, "engine": "gcbm-container"}, "report": {"decimals": 2},
              "executor": {"kind": "dask", "n_workers": 4, "threads_per_worker": 2, "memory_limit": "2GB",
                           "processes": False},
              "project": {"db": "inputs/input_database/gcbm_input.db", "layers_dir": "inputs/layers/tiled"},
              "outputs": {"indicators": ["NBP"]}}
    r = c.post("/api/v1/simulations", json={"title": "legit", "params": params})
    assert r.status_code == 201, r.text
    assert r.json()["params"] == params
    r = c.patch(f"/api/v1/simulations/{r.json()['id']}", json={"params": {"executor": "dask"}})
    assert r.status_code == 200 and r.json()["params"] == {"executor": "dask"}, r.text


def test_params_stored_before_the_rules_do_not_run(secured):
    """A simulation whose stored params carry a refused key (written before these checks existed) cannot start
    a run: 422 naming the key, nothing queued."""
    srv, tokens = secured
    c = srv.client(tokens["bob"])
    sim = c.post("/api/v1/simulations", json={"title": "old params"}).json()
    from flintcloud.service.store import Store

    Store(srv.data_dir / "flintcloud.db").update_simulation_params("bob", sim["id"],
                                                                    {"executor": {"address": "tcp://evil:8786"}})
    r = c.post(f"/api/v1/simulations/{sim['id']}/runs")
    assert r.status_code == 422 and "params.executor.address" in r.json()["error"], r.text
    assert c.get(f"/api/v1/simulations/{sim['id']}/runs").json()["items"] == []


def test_validation_never_names_the_data_directory(server, demo_zip):
    """The validation answer (upload, GET .../validation, a refused run, FLINT.Cloud's routes) is free of the
    server's data directory anywhere in its JSON, for a broken and for a valid project; its root is '.'."""
    import json
    import os

    c = server.client()
    secrets = {str(server.data_dir), os.path.realpath(server.data_dir), "/simulations/"}

    def clean(body) -> None:
        text = json.dumps(body)
        for secret in secrets:
            assert secret not in text, (secret, text[:2000])

    broken = c.post("/api/v1/simulations", json={"title": "leak broken"}).json()
    r = c.post(f"/api/v1/simulations/{broken['id']}/inputs", files={"files": ("layer.tiff", tiff_bytes())})
    assert r.status_code == 201 and r.json()["validation"]["valid"] is False, r.text
    assert r.json()["validation"]["summary"]["root"] == "."
    clean(r.json())
    clean(c.get(f"/api/v1/simulations/{broken['id']}/validation").json())
    r = c.post(f"/api/v1/simulations/{broken['id']}/runs")
    assert r.status_code == 422
    clean(r.json())
    r = c.post("/gcbm/dynamic", data={"title": "leak broken"})
    assert r.status_code == 400
    clean(r.json())

    valid = c.post("/api/v1/simulations", json={"title": "leak valid"}).json()
    r = c.post(f"/api/v1/simulations/{valid['id']}/inputs", files={"files": ("demo.zip", demo_zip)})
    assert r.status_code == 201 and r.json()["validation"]["valid"] is True, r.text
    body = r.json()["validation"]
    assert body["summary"]["root"] == "." and body["target"] == "inputs"
    clean(r.json())
    clean(c.get(f"/api/v1/simulations/{valid['id']}/validation").json())


@pytest.mark.parametrize("offset", ["99999999999999999999", str(2**63), str(10**9 + 1), "-1", "1e3", "nan"])
def test_list_offset_is_bounded_422(secured, offset):
    """An offset SQLite cannot bind (beyond 64 bits) was a 500 (OverflowError): now 422 naming `offset`."""
    srv, tokens = secured
    r = srv.client(tokens["bob"]).get("/api/v1/simulations", params={"offset": offset})
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith("query.offset:"), r.json()


def test_list_offset_at_the_bound_is_an_empty_page(secured):
    srv, tokens = secured
    r = srv.client(tokens["bob"]).get("/api/v1/simulations", params={"offset": str(10**9)})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["offset"] == 10**9


@pytest.mark.parametrize("raw,relpath", [
    ("../../../flintcloud.db", "../../../flintcloud.db"),            # byte for byte: httpx would drop the '..'
    ("%2e%2e/%2e%2e/%2e%2e/flintcloud.db", "../../../flintcloud.db"),
    ("layers/tiled/../../../../../flintcloud.db", "layers/tiled/../../../../../flintcloud.db"),
    ("/etc/passwd", "/etc/passwd"),
])
def test_input_paths_with_dotdot_reach_the_handler_and_delete_nothing(secured, alice_sim, raw, relpath):
    """Each path leads from the simulation's inputs folder to the store, flintcloud.db: a handler that joined it
    would delete it. It reaches the handler as sent and is not a listed input: 404, nothing deleted."""
    srv, tokens = secured
    from .helpers import raw_request

    url = f"/api/v1/simulations/{alice_sim['id']}/inputs/{raw}"
    status, body = raw_request(srv, "DELETE", url, {"Authorization": f"Bearer {tokens['alice']}"})
    assert status == 404, body
    assert body["error"].startswith(f"input {relpath!r} not found"), body  # the handler's own answer
    assert (srv.data_dir / "flintcloud.db").is_file()
    files = srv.client(tokens["alice"]).get(f"/api/v1/simulations/{alice_sim['id']}/inputs").json()["files"]
    assert [f["path"] for f in files] == ["layers/tiled/layer.tiff"]


@pytest.mark.parametrize("raw,sim_id", [("..", ".."), ("%2e%2e", ".."), ("%2e%2e%5C%2e%2e", "..\\..")])
def test_dotdot_simulation_ids_reach_the_handler(secured, raw, sim_id):
    srv, tokens = secured
    from .helpers import raw_request

    status, body = raw_request(srv, "GET", f"/api/v1/simulations/{raw}/inputs",
                               {"Authorization": f"Bearer {tokens['alice']}"})
    assert status == 404 and body["error"] == f"simulation {sim_id!r} not found", body


def test_tokenless_server_refuses_other_sites_and_rebound_names(server, demo_zip):
    """Without tokens every request acts as 'local', so a page of another site must not be able to use the
    browser against it: a foreign Origin (CSRF: multipart form posts, fetches) or a Host that is not a loopback
    name (DNS rebinding: the attacker's name re-pointed at 127.0.0.1) is 403 with a JSON error naming the header.
    The server's own pages (Origin = its own origin) and clients that send no Origin still work."""
    c = server.client()
    sim = c.post("/api/v1/simulations", json={"title": "mine"}).json()
    own = f"http://127.0.0.1:{server.port}"
    foreign_origins = ["http://evil.example", "null", f"http://localhost:{server.port}",
                       f"http://127.0.0.1:{server.port + 1 if server.port < 65535 else 1}", "file://"]
    for origin in foreign_origins:
        h = {"Origin": origin}
        for method, url, kwargs in [
            ("POST", "/gcbm/new", {"data": {"title": "csrf"}}),
            ("POST", "/gcbm/upload/db", {"data": {"title": "csrf"}, "files": {"db": ("x.db", b"x")}}),
            ("POST", "/gcbm/dynamic", {"data": {"title": "mine"}}),
            ("POST", f"/api/v1/simulations/{sim['id']}/inputs", {"files": {"files": ("demo.zip", demo_zip)}}),
            ("POST", "/api/v1/simulations", {"json": {"title": "csrf"}}),
            ("DELETE", f"/api/v1/simulations/{sim['id']}", {}),
            ("GET", "/api/v1/simulations", {}),
        ]:
            r = c.request(method, url, headers=h, **kwargs)
            assert r.status_code == 403, (origin, method, url, r.text)
            assert r.json()["error"].startswith(f"Origin {origin!r} is not this server's own origin"), r.text
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1.evil.example:{server.port}", ""):
        r = c.get("/api/v1/simulations", headers={"Host": host})
        assert r.status_code == 403 and r.json()["error"].startswith(f"Host header {host!r}"), (host, r.text)
        r = c.post("/gcbm/new", data={"title": "rebound"}, headers={"Host": host})
        assert r.status_code == 403, r.text
    # nothing happened
    assert [s["title"] for s in c.get("/api/v1/simulations").json()["items"]] == ["mine"]
    assert c.get(f"/api/v1/simulations/{sim['id']}/inputs").json()["files"] == []
    # the server's own origin, under each loopback name, and clients without an Origin
    assert c.post("/gcbm/new", data={"title": "own page"}, headers={"Origin": own}).status_code == 200
    r = c.post(f"/api/v1/simulations/{sim['id']}/inputs", files={"files": ("demo.zip", demo_zip)},
               headers={"Origin": own})
    assert r.status_code == 201, r.text
    for host in (f"localhost:{server.port}", f"[::1]:{server.port}", f"127.0.0.1:{server.port}"):
        r = c.get("/api/v1/simulations", headers={"Host": host, "Origin": f"http://{host}"})
        assert r.status_code == 200 and r.json()["total"] == 2, r.text
    # a token created later does not switch the guard off (revoking it makes the server tokenless again)
    from flintcloud.service.store import Store

    tok = Store(server.data_dir / "flintcloud.db").init().create_token("alice")
    r = c.get("/api/v1/simulations", headers={"Authorization": f"Bearer {tok}", "Origin": "http://evil.example"})
    assert r.status_code == 403, r.text
    assert c.get("/api/v1/simulations", headers={"Authorization": f"Bearer {tok}"}).status_code == 200


def test_with_tokens_the_bearer_token_is_the_guard(secured):
    """A server with tokens does not look at Host or Origin (a reverse proxy may rewrite Host; a browser cannot
    send a bearer token to another origin without CORS, which the server does not grant)."""
    srv, tokens = secured
    c = srv.client(tokens["bob"])
    r = c.get("/api/v1/simulations", headers={"Host": "flint.example.org", "Origin": "https://flint.example.org"})
    assert r.status_code == 200, r.text
    r = srv.client().get("/api/v1/simulations", headers={"Origin": "http://evil.example"})
    assert r.status_code == 401
    r = c.options("/api/v1/simulations", headers={"Origin": "http://evil.example",
                                                  "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "authorization"})
    assert "access-control-allow-origin" not in r.headers  # no CORS: a foreign page cannot send the token


def test_serve_flags_set_the_limits(tmp_path):
    """`flintcloud serve --max-upload-bytes/--max-files/--max-total-bytes ...` (one flag per limit, each in
    --help) set the limits, over the environment's values."""
    from dataclasses import fields

    from flintcloud.service.settings import Limits

    helptext = subprocess.run([*CLI, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for f in fields(Limits):
        flag = "--" + f.name.replace("_", "-")
        assert flag in helptext and f"FLINTCLOUD_{f.name.upper()}" in helptext, flag

    srv = Server(tmp_path / "data", workers=0, env={"FLINTCLOUD_MAX_UPLOAD_BYTES": str(10 * 1024**2)},
                 args=["--max-upload-bytes", "4096", "--max-files", "2", "--max-total-bytes", "6000"]).start()
    try:
        c = srv.client()
        url = f"/api/v1/simulations/{c.post('/api/v1/simulations', json={'title': 'limits'}).json()['id']}/inputs"
        r = c.post(url, files={"files": ("big.json", b'{"x": "' + b"y" * 5000 + b'"}')})
        assert r.status_code == 413 and "upload limit of 4096 bytes" in r.json()["error"], r.text
        assert c.post(url, files={"files": ("a.json", b'{"x": "' + b"y" * 3000 + b'"}')}).status_code == 201
        r = c.post(url, files={"files": ("b.json", b'{"x": "' + b"y" * 3500 + b'"}')})
        assert r.status_code == 413 and "6000" in r.json()["error"], r.text  # the total of the simulation's inputs
        r = c.post(url, files=[("files", (f"s{i}.json", b"{}")) for i in range(2)])
        assert r.status_code == 413 and "at most 2 input files" in r.json()["error"], r.text
        assert [f["path"] for f in c.get(url).json()["files"]] == ["layers/tiled/a.json"]
    finally:
        srv.stop()
