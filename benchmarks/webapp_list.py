"""How fast the web app's simulations list renders with many simulations (issue 17: 1,000 in under a second).

    .venv/bin/python benchmarks/webapp_list.py [--simulations 1000] [--repeat 5] [--name webapp-list]

Starts `flintcloud serve` on a free loopback port with a fresh data directory and a token, creates N
simulations through the API, then opens the list page in headless Chromium (Debian's chromium +
chromium-driver, Selenium) at each page size and measures, in the page, the time from navigation start until
the table's rows are in the DOM (the page's own `performance.now()`), and the API's list call alone.
Prints a table and writes benchmarks/results/<name>.json. Nothing here asserts a time: the numbers go to
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from service.helpers import Server  # noqa: E402
from webapp.conftest import CHROMEDRIVER, CHROMIUM, create_token  # noqa: E402


def chromium():
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1366,1000", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulations", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--name", default="webapp-list")
    args = ap.parse_args(argv)
    if not (CHROMEDRIVER.exists() and CHROMIUM.exists()):
        print("no browser: apt-get install chromium chromium-driver", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        token = create_token(data, "bench")
        server = Server(data).start()
        try:
            client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            t0 = time.perf_counter()
            for i in range(args.simulations):
                client.post("/api/v1/simulations", json={"title": f"scenario {i:04d}",
                                                         "params": {"simulation": {"end_year": 2010 + i % 40}}}).raise_for_status()
            create_s = time.perf_counter() - t0
            driver = chromium()
            rows = []
            try:
                driver.get(server.url + "/#/login")
                driver.execute_script(f"sessionStorage.setItem('flintcloud.token', {json.dumps(token)})")
                for limit in (50, 500):
                    api_ms, page_ms = [], []
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        client.get("/api/v1/simulations", params={"limit": limit}).raise_for_status()
                        api_ms.append(1000 * (time.perf_counter() - t))
                        driver.get("about:blank")
                        driver.get(f"{server.url}/#/?limit={limit}")
                        page_ms.append(driver.execute_async_script("""
                            const done = arguments[arguments.length - 1], want = arguments[0];
                            (function poll() {
                              const n = document.querySelectorAll('#sim-table tbody tr').length;
                              if (n >= want) done(performance.now()); else setTimeout(poll, 5);
                            })();""", limit))
                    rows.append({"page_size": limit, "simulations": args.simulations,
                                 "api_list_ms_median": statistics.median(api_ms),
                                 "page_render_ms_median": statistics.median(page_ms),
                                 "page_render_ms_max": max(page_ms)})
            finally:
                driver.quit()
        finally:
            server.stop()

    print(f"created {args.simulations} simulations in {create_s:.1f} s ({args.simulations / create_s:.0f}/s)")
    print(f"{'page size':>9} | {'API list ms (median)':>20} | {'page rendered ms (median)':>25} | {'max':>6}")
    for r in rows:
        print(f"{r['page_size']:>9} | {r['api_list_ms_median']:>20.1f} | {r['page_render_ms_median']:>25.1f} | "
              f"{r['page_render_ms_max']:>6.1f}")
    out = HERE / "results" / f"{args.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                               "load_average": os.getloadavg(), "create_seconds": create_s, "rows": rows}, indent=2))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
