"""The API routes the web app's pages use, over real HTTP: values checked against the run's own files,
and the attacks (another user's runs, path tricks in names, no token) refused."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import rasterio
import yaml
from PIL import Image

from flintcloud.service.params_form import form_fields, range_problems
from service.helpers import raw_request, wait_for

from .conftest import create_token


@pytest.fixture(scope="module")
def run(users_server):
    """One succeeded run of the built-in demo (2010 only), made through the web app's own demo route."""
    alice = users_server.client(users_server.tokens["alice"])
    sim = alice.post("/api/v1/simulations", json={"title": "api", "params": {"simulation": {"end_year": 2010}}}).json()
    up = alice.post(f"/api/v1/simulations/{sim['id']}/inputs/demo")
    assert up.status_code == 201, up.text
    assert up.json()["validation"]["valid"] is True
    started = alice.post(f"/api/v1/simulations/{sim['id']}/runs")
    assert started.status_code == 202, started.text
    body = wait_for(alice, f"/api/v1/simulations/{sim['id']}/runs/{started.json()['id']}")
    assert body["status"] == "succeeded", body
    project = users_server.data_dir / "simulations" / sim["id"] / "runs" / body["id"] / "project"
    return {"sim": sim["id"], "run": body["id"], "client": alice, "project": project,
            "results": f"/api/v1/simulations/{sim['id']}/runs/{body['id']}/results"}


def test_pages_are_served_with_their_vendored_libraries(users_server):
    anon = users_server.client()
    page = anon.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in ("/static/app.js", "/static/style.css", "/static/vendor/vega.min.js", "/static/vendor/vega-lite.min.js",
                "/static/vendor/vega-embed.min.js"):
        assert f'"{src}"' in page.text
        assert anon.get(src).status_code == 200, src
    assert "cdn" not in page.text.lower()


# Each target exists relative to the static folder (flintcloud/service/webapp/static): a handler that joined
# the name onto the folder would serve it.
@pytest.mark.parametrize("path,name", [
    ("/static/../../app.py", "../../app.py"),                   # sent byte for byte (httpx would drop the '..')
    ("/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/params.yaml", "../../../../params.yaml"),
    ("/static/..%2F..%2Fapp.py", "../../app.py"),
    ("/static//etc/passwd", "/etc/passwd"),
    ("/static/vendor/../../../routers/webapp.py", "vendor/../../../routers/webapp.py"),
    ("/static/..%5C..%5Capp.py", "..\\..\\app.py"),
])
def test_static_files_never_leave_their_folder(users_server, path, name):
    """The handler itself gets the '..' (its own 404 names it) and finds no file: names are looked up in a
    listing of the static folder, never joined onto a path."""
    status, body = raw_request(users_server, "GET", path)
    assert status == 404, body
    assert body["error"] == f"no static file {name!r}", body


def test_params_schema_is_params_yaml_documented(users_server):
    alice = users_server.client(users_server.tokens["alice"])
    fields = {f["key"]: f for f in alice.get("/api/v1/params/schema").json()["fields"]}
    params = yaml.safe_load(open("params.yaml"))
    assert fields["simulation.end_year"]["default"] == params["simulation"]["end_year"]
    assert fields["simulation.end_year"]["help"].startswith("Last simulated year (inclusive")
    assert fields["simulation.engine"]["choices"] == ["libcbm", "gcbm-container"]
    assert fields["simulation.spinup.enabled"]["type"] == "bool"
    assert fields["outputs.indicators"]["multiple"] is True and "NBP" in fields["outputs.indicators"]["choices"]
    assert "project.dir" not in fields and "simulation.gcbm_container.image" not in fields
    assert users_server.client().get("/api/v1/params/schema").status_code == 401


def test_form_ranges_are_checked_on_the_server_too():
    fields = {f.key: f for f in form_fields(open("params.yaml").read())}
    assert fields["report.decimals"].minimum == 0 and fields["report.decimals"].maximum == 6
    problems = range_problems({"simulation": {"start_year": 1700}, "report": {"decimals": 9},
                               "outputs": {"indicators": ["NBP", "Carbon"]}})
    assert problems == [
        "simulation.start_year: 1700 is below the minimum 1800",
        "outputs.indicators: 'Carbon' is not one of " + ", ".join(fields["outputs.indicators"].choices),
        "report.decimals: 9 is above the maximum 6",
    ]
    assert range_problems(yaml.safe_load(open("params.yaml"))) == []
    # choices come from flintcloud.params' registry, which the server checks with the params' kinds
    assert fields["simulation.engine"].choices == ["libcbm", "gcbm-container"]
    assert fields["report.inventory.gwp"].choices == ["AR4", "AR5", "AR6"]
    from flintcloud.errors import ValidationError
    from flintcloud.service.overrides import check_overrides

    with pytest.raises(ValidationError) as err:
        check_overrides({"simulation": {"engine": "gcbm", "start_year": 1700}})
    # every key with a problem is named, each once (configure's own engine check words it again: not shown)
    assert err.value.problems == ["simulation.engine is 'gcbm'; expected one of libcbm, gcbm-container",
                                  "simulation.start_year: 1700 is below the minimum 1800"]
    with pytest.raises(ValidationError) as err:
        check_overrides({"simulation": {"start_yaer": 2000, "end_year": 2001}, "report": {"decimals": "two"}})
    assert err.value.problems == ["unknown key 'simulation.start_yaer'; did you mean 'simulation.start_year'?",
                                  "report.decimals is 'two'; expected an integer",
                                  "simulation.end_year 2001 is before simulation.start_year 2010; "
                                  "expected end_year >= start_year"]


def test_plots_are_the_runs_csv_series(run):
    plots = run["client"].get(run["results"] + "/plots").json()
    assert {"stocks", "stock_changes", "disturbance_emissions", "age_classes"} <= set(plots)
    with open(run["project"] / "reports" / "plots" / "stocks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["year"] for r in plots["stocks"]] == [int(r["year"]) for r in rows]
    assert plots["stocks"][-1]["total_ecosystem"] == pytest.approx(float(rows[-1]["total_ecosystem"]), rel=1e-12)


def test_map_catalogue_info_and_preview(run):
    client, results = run["client"], run["results"]
    catalogue = client.get(results + "/maps").json()
    assert catalogue["NBP"] == {"years": [2010], "units": "tC/ha/yr", "signed": True}
    assert catalogue["Total_Ecosystem_C"]["units"] == "tC/ha" and catalogue["Age"]["units"] == "years"
    info = client.get(results + "/maps/Total_Ecosystem_C_2010.tif/info").json()
    with rasterio.open(run["project"] / "build" / "output" / "spatial" / "Total_Ecosystem_C_2010.tif") as ds:
        band = ds.read(1, masked=True)
    assert info["min"] == pytest.approx(float(band.min()), rel=1e-6)
    assert info["max"] == pytest.approx(float(band.max()), rel=1e-6)
    assert info["mean"] == pytest.approx(float(band.mean()), rel=1e-6)  # the data window is read whole (200 x 200)
    png = client.get(results + "/maps/Total_Ecosystem_C_2010.tif/preview.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.width >= 400 and image.height >= 300
    # at 54.5 N a degree of longitude is shorter on the ground: the drawn map is taller than it is wide
    assert image.height > 0.9 * image.width


@pytest.mark.parametrize("raw,name", [
    ("..", ".."), ("%2e%2e", ".."), ("..%5C..%5Cflintcloud.db", "..\\..\\flintcloud.db"),
    ("NBP_2010.tif%00.png", "NBP_2010.tif\x00.png"), ("NBP_2099.tif", "NBP_2099.tif"),
])
def test_map_names_are_looked_up_never_joined(users_server, run, raw, name):
    """Each name reaches the handler byte for byte, which answers its own 404 naming it (names are looked up
    in the run's listing of maps, never joined onto a path)."""
    headers = {"Authorization": f"Bearer {users_server.tokens['alice']}"}
    for route in ("preview.png", "info"):
        status, body = raw_request(users_server, "GET", f"{run['results']}/maps/{raw}/{route}", headers)
        assert status == 404, body
        assert body["error"].startswith(f"map {name!r} not found"), body


@pytest.mark.parametrize("raw", ["../../flintcloud.db", "..%2F..%2Fflintcloud.db", "/etc/passwd"])
def test_map_names_with_slashes_match_no_route(users_server, run, raw):
    """A name with a '/' (raw or %2F) cannot be one path segment: no map route matches, and the answer is the
    router's plain 404, not a file."""
    headers = {"Authorization": f"Bearer {users_server.tokens['alice']}"}
    status, body = raw_request(users_server, "GET", f"{run['results']}/maps/{raw}/preview.png", headers)
    assert status == 404 and body == {"error": "Not Found"}, body


@pytest.mark.parametrize("route,query,field", [
    ("/maps/NBP_2010.tif/preview.png", {"vmin": "1e308", "vmax": "-1e308"}, "vmin"),  # matplotlib overflowed: 500
    ("/maps/NBP_2010.tif/preview.png", {"vmin": "nan"}, "vmin"),
    ("/maps/NBP_2010.tif/preview.png", {"vmax": "inf"}, "vmax"),
    ("/maps/NBP_2010.tif/preview.png", {"vmax": "-1e13"}, "vmax"),
    ("difference.png", {"limit": "inf"}, "limit"),
    ("difference.png", {"limit": "1e300"}, "limit"),
])
def test_colour_scales_are_finite_and_bounded(run, route, query, field):
    ref = f"{run['sim']}:{run['run']}"
    url = (run["results"] + route if route.startswith("/") else
           f"/api/v1/compare/maps/NBP_2010.tif/{route}")
    params = {**query, **({} if route.startswith("/") else {"a": ref, "b": ref})}
    resp = run["client"].get(url, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"].startswith(f"query.{field}:"), resp.json()
    assert run["client"].get(url, params={k: v for k, v in params.items() if k in "ab"}).status_code == 200


def test_difference_maps_of_own_runs_only(users_server, run):
    client = run["client"]
    ref = f"{run['sim']}:{run['run']}"
    same = client.get("/api/v1/compare/maps/NBP_2010.tif/difference", params={"a": ref, "b": ref}).json()
    assert same["min"] == same["max"] == 0.0
    png = client.get("/api/v1/compare/maps/NBP_2010.tif/difference.png", params={"a": ref, "b": ref, "limit": 5})
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    bob = users_server.client(users_server.tokens["bob"])
    for route in ("difference", "difference.png"):
        resp = bob.get(f"/api/v1/compare/maps/NBP_2010.tif/{route}", params={"a": ref, "b": ref})
        assert resp.status_code == 404 and "not found" in resp.json()["error"]
    assert bob.get(run["results"] + "/plots").status_code == 404
    assert bob.get(run["results"] + "/maps/NBP_2010.tif/preview.png").status_code == 404
    assert bob.post(f"/api/v1/simulations/{run['sim']}/inputs/demo").status_code == 404
    bad = client.get("/api/v1/compare/maps/NBP_2010.tif/difference", params={"a": "nocolon", "b": ref})
    assert bad.status_code == 404
    anon = users_server.client()
    assert anon.get("/api/v1/compare/maps/NBP_2010.tif/difference", params={"a": ref, "b": ref}).status_code == 401


def test_whoami(users_server, tmp_path):
    assert users_server.client(users_server.tokens["bob"]).get("/api/v1/whoami").json() == {"user": "bob", "tokens": True}
    assert users_server.client("fct_not-a-token").get("/api/v1/whoami").status_code == 401
    assert create_token  # the fixture helper the browser tests share


def test_difference_is_b_minus_a_on_the_union_window(tmp_path):
    from affine import Affine

    from flintcloud.service.map_preview import data_window, difference, read_preview, union_window

    profile = {"driver": "GTiff", "width": 50, "height": 40, "count": 1, "dtype": "float32", "nodata": -1.0,
               "crs": "EPSG:4326", "transform": Affine(0.01, 0, 10, 0, -0.01, 55)}
    a = np.full((40, 50), -1.0, dtype="float32")
    b = a.copy()
    a[5:10, 5:10] = 2.0
    b[5:10, 5:10] = 3.5
    b[30:35, 40:45] = 1.0  # outside a's data: nodata in the difference
    paths = []
    for name, arr in (("a.tif", a), ("b.tif", b)):
        with rasterio.open(tmp_path / name, "w", **profile) as ds:
            ds.write(arr, 1)
        paths.append(tmp_path / name)
    window = union_window(*(data_window(p) for p in paths))
    assert (window.col_off, window.row_off, window.width, window.height) == (5, 5, 40, 30)
    diff = difference(*(read_preview(p, window=window) for p in paths))
    assert diff.stats()["min"] == diff.stats()["max"] == pytest.approx(1.5)
    other = tmp_path / "c.tif"
    with rasterio.open(other, "w", **{**profile, "transform": Affine(0.02, 0, 10, 0, -0.02, 55)}) as ds:
        ds.write(b, 1)
    with pytest.raises(ValueError, match="different grids"):
        difference(read_preview(paths[0], window=window), read_preview(other, window=window))


def test_keys_the_form_hides_are_refused_or_capped_by_the_api():
    """The form hides the operator's keys; the API must not accept them either (overrides.OPERATOR_ONLY refuses,
    overrides.CAPPED bounds by the service's limits)."""
    from flintcloud.service.overrides import CAPPED, OPERATOR_ONLY
    from flintcloud.service.params_form import HIDDEN

    for key in HIDDEN:
        assert key in CAPPED or any(key == k or key.startswith(k + ".") for k in OPERATOR_ONLY), key
