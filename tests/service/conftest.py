"""Service fixtures: a real `flintcloud serve` on a free loopback port, real HTTP (httpx)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from .helpers import Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """The built-in demo GCBM project (small, seed 42), made once."""
    from flintcloud.demo.project import generate_demo_project

    return generate_demo_project(tmp_path_factory.mktemp("demo") / "project")


@pytest.fixture(scope="session")
def demo_zip(demo_project) -> bytes:
    """The demo project as a user would zip it (one top folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(demo_project.rglob("*")):
            if p.is_file():
                zf.write(p, "demo/" + p.relative_to(demo_project).as_posix())
    return buf.getvalue()


