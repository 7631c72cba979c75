"""Web app fixtures: a real `flintcloud serve` with two users' tokens, and headless Chromium (Debian's
chromium + chromium-driver) driven by Selenium. The browser tests skip with a reason where no browser is
installed, and fail under CI=true (.ci/run installs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.helpers import Server

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots of each page: test artifacts; `make screenshots` points this at docs/images for the README.
ARTIFACTS = Path(os.environ.get("FLINTCLOUD_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "webapp"))


def create_token(data_dir: Path, user: str) -> str:
    out = subprocess.run([sys.executable, "-c", "from flintcloud.cli import run; run()", "token", "create", user,
                          "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip().splitlines()[-1].strip()


@pytest.fixture(scope="module")
def users_server(tmp_path_factory):
    """A server with tokens for alice and bob (so it requires them)."""
    data = tmp_path_factory.mktemp("webapp") / "data"
    data.mkdir()
    tokens = {user: create_token(data, user) for user in ("alice", "bob")}
    srv = Server(data).start()
    srv.tokens = tokens
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMEDRIVER.exists() and CHROMIUM.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium is missing: .ci/run installs Debian's chromium and chromium-driver")
        pytest.skip("no browser: apt-get install chromium chromium-driver (Debian) to run the web app's browser tests")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1366,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_zip_file(tmp_path_factory) -> Path:
    """The built-in demo project as the .zip a modeller would upload (the bytes the demo button uses)."""
    from flintcloud.service.routers.webapp import demo_zip

    path = tmp_path_factory.mktemp("upload") / "demo-project.zip"
    path.write_bytes(demo_zip())
    return path

