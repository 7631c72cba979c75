"""The web app in a real browser (headless Chromium, Selenium) against a live server on a loopback port.

One test walks the whole path a modeller takes: sign in -> create -> upload the built-in demo -> set end_year
-> run -> watch the progress bar reach 100 % and the log stream -> results (stocks chart and a map) -> a second
simulation with another end_year -> compare them. Others: a broken upload shows its problems next to the
files concerned; another user's simulation is neither listed nor reachable. Each page is saved as a
screenshot (build/test-artifacts/webapp; `make screenshots` writes docs/images/ for the README).
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from service.helpers import Server

RUN_TIMEOUT = 600  # a demo run takes ~30 s on an idle 2-core machine; generous for a loaded one
LIST_REFRESH_S = 3  # app.js LIST_REFRESH_MS: the simulations list's status refresh while a run is active


def wait(driver, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.2)


def go(driver, server, fragment: str):
    """A fresh page load (not a hash change): nothing of the previous page can be found while the next renders.
    The token is in the tab's sessionStorage, which survives navigation within the tab."""
    driver.get("about:blank")
    driver.get(f"{server.url}/#{fragment}")


def sign_in(driver, server, user: str):
    go(driver, server, "/login")
    field = wait(driver).until(EC.element_to_be_clickable((By.ID, "token")))
    field.clear()
    field.send_keys(server.tokens[user])
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait(driver).until(EC.text_to_be_present_in_element((By.ID, "who"), f"Signed in as {user}"))


def shot(driver, artifacts: Path, name: str) -> Path:
    """The whole page (the window grows to the page's height for the picture, then shrinks back)."""
    path = artifacts / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1366, min(max(height, 800), 5000))
    time.sleep(0.3)  # let the charts re-layout to the new size
    driver.save_screenshot(str(path))
    driver.set_window_size(1366, 1000)
    assert path.stat().st_size > 10_000, f"{name}: an empty screenshot"
    return path


def create_simulation(driver, server, title: str, *, upload: Path | None) -> str:
    go(driver, server, "/new")
    wait(driver).until(EC.element_to_be_clickable((By.ID, "title"))).send_keys(title)
    if upload is not None:
        driver.find_element(By.ID, "files").send_keys(str(upload))
    else:
        driver.find_element(By.ID, "src-demo").click()
    driver.find_element(By.ID, "create").click()
    wait(driver, 180).until(EC.presence_of_element_located((By.ID, "validation")))
    link = driver.find_element(By.LINK_TEXT, "Continue to the simulation")
    return link.get_attribute("href").rsplit("/", 1)[1]


def set_end_year_and_run(driver, server, sim_id: str, end_year: int) -> str:
    go(driver, server, f"/sim/{sim_id}")
    field = wait(driver).until(EC.element_to_be_clickable((By.ID, "p-simulation-end_year")))
    field.clear()
    field.send_keys(str(end_year))
    box = driver.find_element(By.CSS_SELECTOR, '.field[data-key="simulation.end_year"]')
    assert "changed" in box.get_attribute("class")  # highlighted against the default
    driver.find_element(By.CSS_SELECTOR, "#params-form button[type=submit]").click()
    wait(driver).until(EC.text_to_be_present_in_element((By.ID, "params-msg"), "Saved."))
    driver.find_element(By.ID, "start-run").click()
    wait(driver, 180).until(lambda d: "/runs/" in d.current_url)  # starting validates the inputs first
    return driver.current_url.rsplit("/", 1)[1]


def wait_for_run(driver, timeout=RUN_TIMEOUT) -> list[int]:
    """Until the run ends; returns the number of log lines seen at each poll (the stream, without reloads)."""
    # The URL changes as soon as Run is pressed; the run page renders once its two API calls answer, which
    # on a loaded machine is not immediate: wait for it before reading it.
    wait(driver, 120).until(EC.presence_of_element_located((By.ID, "run-status")))
    counts = []
    deadline = time.monotonic() + timeout
    url = driver.current_url
    while time.monotonic() < deadline:
        assert driver.current_url == url, "the run page reloaded or navigated away"
        status = driver.find_element(By.ID, "run-status").text
        counts.append(len(driver.find_element(By.ID, "run-log").text.splitlines()))
        if status in ("succeeded", "failed", "cancelled"):
            return counts
        time.sleep(0.5)
    raise AssertionError(f"the run did not end within {timeout} s")


def test_whole_path_create_upload_run_results_compare(users_server, browser, artifacts, demo_zip_file):
    server, d = users_server, browser
    go(d, server, "/")
    wait(d).until(EC.presence_of_element_located((By.ID, "token")))  # tokens configured: sign in first
    sign_in(d, server, "alice")

    sim_a = create_simulation(d, server, "Demo to 2012", upload=demo_zip_file)
    panel = d.find_element(By.ID, "validation").text
    assert "The project is valid." in panel and "pixels to simulate" in panel
    shot(d, artifacts, "new-simulation")

    run_a = set_end_year_and_run(d, server, sim_a, 2012)
    counts = wait_for_run(d)
    assert d.find_element(By.ID, "run-status").text == "succeeded"
    assert d.find_element(By.ID, "run-progress").get_attribute("value") == "100"
    assert d.find_element(By.ID, "run-pct").text == "100 %"
    wait(d).until(lambda drv: drv.find_element(By.ID, "run-elapsed").text.endswith(" s"))  # the run's own duration
    # the log arrived while the page stayed put: more lines over time, ending with the report stage's line
    assert counts[-1] > 5 and len(set(counts)) > 1, counts
    assert "report" in d.find_element(By.ID, "run-log").text
    shot(d, artifacts, "run")

    d.find_element(By.ID, "results-link").click()
    wait(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#chart-stocks svg")))
    headline = d.find_element(By.ID, "headline").text
    assert "Total ecosystem C end" in headline and "tC" in headline and "2012" in headline
    assert "CH4 emissions" in headline and "t CH4" in headline and "tCO2e" in headline  # the inventory's units
    img = wait(d, 60).until(lambda drv: drv.execute_script(
        "const i = document.getElementById('map-img'); return i && i.complete && i.naturalWidth > 0 ? i : null"))
    assert "Total_Ecosystem_C" in img.get_attribute("alt") and "2012" in img.get_attribute("alt")
    marks = d.find_elements(By.CSS_SELECTOR, "#chart-stocks svg path")
    assert len(marks) >= 7  # one line per pool at least
    # the year slider moves the map to another year
    slider = d.find_element(By.ID, "map-year")
    d.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'))", slider)
    wait(d).until(EC.text_to_be_present_in_element((By.ID, "map-year-label"), "2010"))
    wait(d).until(lambda drv: "2010" in drv.find_element(By.ID, "map-img").get_attribute("alt"))
    d.execute_script("arguments[0].value = 2; arguments[0].dispatchEvent(new Event('input'))", slider)
    wait(d).until(EC.text_to_be_present_in_element((By.ID, "map-year-label"), "2012"))
    shot(d, artifacts, "results")

    # The numbers on the page are the run's: compare with the API's metrics.
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.tokens['alice']}"}, timeout=60)
    metrics = api.get(f"/api/v1/simulations/{sim_a}/runs/{run_a}/results/metrics").json()
    assert f"{metrics['total_ecosystem_c_end_tc']:,.1f}" in headline

    sim_b = create_simulation(d, server, "Demo to 2011", upload=None)  # the built-in demo button
    set_end_year_and_run(d, server, sim_b, 2011)
    wait_for_run(d)
    assert d.find_element(By.ID, "run-status").text == "succeeded"

    go(d, server, "/")
    wait(d).until(EC.presence_of_element_located((By.ID, "sim-table")))
    wait(d).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, '#sim-table [data-metric="cumulative_nbp_tc"]')[0].text != "–")
    table = d.find_element(By.ID, "sim-table").text
    assert "Demo to 2012" in table and "Demo to 2011" in table and table.count("succeeded") == 2
    shot(d, artifacts, "simulations")
    # sorting by title asks the server for the order (descending first, then ascending)
    d.find_element(By.LINK_TEXT, "Title").click()
    wait(d).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, '#sim-table th[aria-sort="descending"]'), "Title"))
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#sim-table tbody tr")]
    assert rows[0].startswith("Demo to 2012") and rows[1].startswith("Demo to 2011"), rows
    d.find_element(By.PARTIAL_LINK_TEXT, "Title").click()
    wait(d).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, '#sim-table th[aria-sort="ascending"]'), "Title"))
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#sim-table tbody tr")]
    assert rows[0].startswith("Demo to 2011") and rows[1].startswith("Demo to 2012"), rows

    go(d, server, "/compare")
    boxes = wait(d).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, 'input[name="runs"]'))
    assert len(boxes) == 2
    for box in boxes:
        box.click()
    d.find_element(By.CSS_SELECTOR, "#compare-form button[type=submit]").click()
    wait(d, 60).until(EC.presence_of_element_located((By.ID, "metrics-diff")))
    diff = d.find_element(By.ID, "metrics-diff").text
    assert "Demo to 2012" in diff and "Demo to 2011" in diff
    params = d.find_element(By.ID, "params-diff").text
    assert "simulation.end_year" in params and "2012" in params and "2011" in params
    wait(d, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#cmp-stocks svg")))
    wait(d, 60).until(lambda drv: drv.execute_script(
        "const i = document.querySelector('#cmp-maps img'); return i && i.complete && i.naturalWidth > 0"))
    caption = d.find_element(By.CSS_SELECTOR, "#cmp-maps figcaption").text
    assert "shared by all maps" in caption
    shot(d, artifacts, "compare")

    # the parameters form: generated from params.yaml, changed values highlighted
    go(d, server, f"/sim/{sim_a}")
    wait(d).until(EC.presence_of_element_located((By.ID, "params-form")))
    help_text = d.find_element(By.ID, "p-simulation-end_year-help").text
    assert "Last simulated year" in help_text
    shot(d, artifacts, "simulation")


def test_broken_upload_shows_every_problem_next_to_its_file(users_server, browser, artifacts, demo_zip_file, tmp_path):
    server, d = users_server, browser
    sign_in(d, server, "alice")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(demo_zip_file) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("gcbm_input.db"):
                continue  # no database
            if item.filename.endswith("LeadingSpecies.json"):
                doc = json.loads(data)
                doc["attributes"] = {"1": {"LeadingSpecies": 7}}  # a classifier value that is not a string
                data = json.dumps(doc).encode()
            dst.writestr(item, data)
    create_simulation(d, server, "Broken upload", upload=broken)
    panel = d.find_element(By.ID, "validation")
    assert "problem(s) to fix before a run" in panel.text
    groups = panel.find_elements(By.CSS_SELECTOR, "#errors > li")
    names = [g.find_element(By.CSS_SELECTOR, ".problem-file").text for g in groups]
    assert len(groups) >= 2, panel.text
    assert any("gcbm_input.db" in g.text for g in groups), panel.text
    assert any("LeadingSpecies" in n for n in names), names
    shot(d, artifacts, "validation-errors")


def test_another_users_simulation_is_not_visible(users_server, browser):
    server, d = users_server, browser
    alice = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.tokens['alice']}"}, timeout=60)
    sim = alice.post("/api/v1/simulations", json={"title": "Alice's private simulation"}).json()
    sign_in(d, server, "bob")
    go(d, server, "/")
    wait(d).until(EC.presence_of_element_located((By.ID, "sim-table")))
    assert "Alice's private simulation" not in d.find_element(By.ID, "main").text
    go(d, server, f"/sim/{sim['id']}")
    alert = wait(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#err [role=alert]")))
    assert "not found" in alert.text
    assert "Alice's private simulation" not in d.find_element(By.ID, "main").text


def test_flint_example_pages_run_flints_models(users_server, browser, artifacts):
    """The RothC page: the form's defaults are FLINT.Cloud's, Run draws the pools and the last step's values are
    the ones FLINT printed (shared_paths.FLINT_EXAMPLE: ../shared/flint-example or tests/data's copy)."""
    from shared_paths import FLINT_EXAMPLE

    server, d = users_server, browser
    sign_in(d, server, "alice")
    go(d, server, "/flint/rothc")
    start = wait(d).until(EC.presence_of_element_located((By.ID, "flint-start")))
    assert start.get_attribute("value") == "1920/01/01"
    d.find_element(By.CSS_SELECTOR, "#flint-form button[type=submit]").click()
    wait(d, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#flint-chart svg")))
    table = wait(d).until(EC.presence_of_element_located((By.ID, "flint-last"))).text
    published = FLINT_EXAMPLE / "output" / "default_point_rothc_output.csv"
    if published.is_file():
        lines = [ln.rstrip(",") for ln in published.read_text().splitlines()]
        header = next(ln for ln in lines if ln.startswith("notification,")).split(",")
        last = next(ln for ln in reversed(lines) if ln.startswith("onOutputStep")).split(",")
        soil_hum = float(last[header.index("SoilHUM")])
        assert f"{soil_hum:.4g}".rstrip("0").rstrip(".") in table.replace(",", "")
    shot(d, artifacts, "flint-rothc")
    # the Point page edits a pool and a date through the form
    go(d, server, "/flint/point")
    pool = wait(d).until(EC.element_to_be_clickable((By.ID, "flint-pool-0")))
    pool.clear()
    pool.send_keys("200")
    d.find_element(By.CSS_SELECTOR, "#flint-form button[type=submit]").click()
    wait(d, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#flint-chart svg")))
    assert "rows" in d.find_element(By.ID, "flint-msg").text


def test_the_list_refresh_keeps_the_search_text_and_focus(browser, tmp_path, demo_zip_file):
    """While a run is active the list refreshes its status cells every 3 s; what is typed in the search box
    (not yet sent) stays, and so does the keyboard focus. An API-only server (no worker) keeps the run queued."""
    server, d = Server(tmp_path / "data", workers=0).start(), browser
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        sim = api.post("/api/v1/simulations", json={"title": "Queued for a while"}).json()
        base = f"/api/v1/simulations/{sim['id']}"
        r = api.post(base + "/inputs", files={"files": ("demo.zip", demo_zip_file.read_bytes())})
        assert r.status_code == 201 and r.json()["validation"]["valid"], r.text
        run = api.post(base + "/runs").json()
        assert run["status"] == "queued"
        go(d, server, "/")
        wait(d).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#sim-table [data-status]"), "queued"))
        search = d.find_element(By.ID, "f-title")
        search.click()
        search.send_keys("Queued for")
        time.sleep(LIST_REFRESH_S * 2 + 1)  # two refreshes
        assert d.find_element(By.ID, "f-title").get_attribute("value") == "Queued for"
        assert d.switch_to.active_element.get_attribute("id") == "f-title"
        # the refresh does update the row: cancelled through the API, the cell says so without a reload
        assert api.post(f"{base}/runs/{run['id']}/cancel").json()["status"] == "cancelled"
        wait(d, 30).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#sim-table [data-status]"), "cancelled"))
        assert d.find_element(By.ID, "f-title").get_attribute("value") == "Queued for"
        assert d.switch_to.active_element.get_attribute("id") == "f-title"
    finally:
        server.stop()


def test_a_failed_run_links_to_the_input_it_names(browser, tmp_path, demo_zip_file):
    """A run fails on a layer replaced after it was queued: the run page names the layer's file and links to it;
    the simulation page opens with that input highlighted and focused."""
    import os
    import signal
    import subprocess
    import sys

    from service.test_http_runs import small_geotiff

    server, d = Server(tmp_path / "data", workers=0).start(), browser
    worker = None
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        sim = api.post("/api/v1/simulations", json={"title": "Broken after queueing"}).json()
        base = f"/api/v1/simulations/{sim['id']}"
        assert api.post(base + "/inputs", files={"files": ("demo.zip", demo_zip_file.read_bytes())}).status_code == 201
        run = api.post(base + "/runs").json()
        assert api.post(base + "/inputs", files={"files": ("initial_age.tiff", small_geotiff())}).status_code == 201
        worker = subprocess.Popen([sys.executable, "-c", "from flintcloud.cli import run; run()", "worker"],
                                  env={**server.env, "FLINTCLOUD_DATA_DIR": str(server.data_dir),
                                       "FLINTCLOUD_WORKERS": "1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        go(d, server, f"/sim/{sim['id']}/runs/{run['id']}")
        link = wait(d, RUN_TIMEOUT).until(EC.presence_of_element_located((By.ID, "culprit-link")))
        assert "layers/tiled/initial_age.tiff" in link.text and "initial_age" in link.text
        assert d.find_element(By.ID, "run-status").text == "failed"
        link.click()
        item = wait(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#input-list li.culprit")))
        assert item.get_attribute("data-path") == "layers/tiled/initial_age.tiff"
        assert item.is_displayed()  # the inputs list is opened on it
        assert d.switch_to.active_element == item
        groups = d.find_elements(By.CSS_SELECTOR, "#sim-validation li.culprit .problem-file")
        assert any("initial_age" in g.text for g in groups), [g.text for g in groups]
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        server.stop()


def test_tokenless_server_works_for_its_own_pages_and_refuses_other_sites(browser, tmp_path):
    """A server without tokens (every request is 'local'): its own pages still create a simulation and upload
    the demo (Chromium sends their Origin itself), while a page of another origin on this machine, which makes
    the browser post a form and a fetch to the server (CSRF), gets 403 and creates nothing."""
    import functools
    import http.server
    import threading

    from service.helpers import Server, free_port

    server = Server(tmp_path / "data", workers=0).start()
    attacker_dir = tmp_path / "attacker"
    attacker_dir.mkdir()
    (attacker_dir / "attack.html").write_text(f"""<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="{server.url}/gcbm/new">
  <input name="title" value="csrf-form"></form>
<script>
  const body = new FormData(); body.append("title", "csrf-fetch");
  fetch("{server.url}/gcbm/new", {{method: "POST", mode: "no-cors", body}})
    .finally(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script></body></html>""")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(attacker_dir))
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        d = browser
        d.get("about:blank")
        d.get(f"{server.url}/#/")
        wait(d).until(EC.text_to_be_present_in_element((By.ID, "who"), "Signed in as local"))
        sim_id = create_simulation(d, server, "Local simulation", upload=None)
        assert "Continue to the simulation" in d.find_element(By.ID, "main").text
        client = server.client()
        files = client.get(f"/api/v1/simulations/{sim_id}/inputs").json()["files"]
        assert any(f["path"].endswith("gcbm_input.db") for f in files)

        d.get(f"http://localhost:{attacker.server_address[1]}/attack.html")  # another origin on this machine
        wait(d).until(lambda drv: "is not this server" in drv.page_source)  # the form landed on our 403
        assert "Origin 'http://localhost:" in d.page_source
        titles = [s["title"] for s in client.get("/api/v1/simulations").json()["items"]]
        assert titles == ["Local simulation"], titles
    finally:
        attacker.shutdown()
        server.stop()
