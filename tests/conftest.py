"""Shared fixtures. Environment skips live here and in shared_paths.missing_fixture (CI=true: fail)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared_paths import SHARED_DATA, missing_fixture  # noqa: E402

# DVC and CML must never phone home from tests (subprocesses inherit this).
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "1")

# Fixtures whose data only ../shared holds (not redistributed in tests/data: tests/shared_paths.py).
SHARED_ONLY_FIXTURES = {"belize_project", "flint_example", "api_templates"}


def pytest_collection_modifyitems(config, items):
    """A test that uses a ../shared-only fixture is `shared_only` (GitHub's workflow deselects those)."""
    for item in items:
        if SHARED_ONLY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared_only)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real GCBM projects and GCBM's own output (read-only): ../shared/gcbm-data or tests/data/gcbm-data."""
    if not SHARED_DATA.is_dir():
        missing_fixture(f"GCBM data not found at {SHARED_DATA} (tests/data/gcbm-data holds a copy; "
                        "set FLINTCLOUD_SHARED_DATA to use another)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def flint_demo(shared_data: Path) -> Path:
    path = shared_data / "flint-cloud-linux-demo"
    if not (path / "config" / "gcbm_config.cfg").is_file():
        missing_fixture(f"FLINT.Cloud demo project not found at {path}")
    return path


@pytest.fixture(scope="session")
def gcbm_reference_output(shared_data: Path) -> Path:
    path = shared_data / "gcbm-reference-output" / "flint-cloud-linux-demo"
    if not (path / "gcbm_output.db").is_file():
        missing_fixture(f"GCBM reference output not found at {path}")
    return path


@pytest.fixture(scope="session")
def belize_project(shared_data: Path) -> Path:
    path = shared_data / "belize"
    if not (path / "gcbm_project" / "gcbm_config.cfg").is_file():
        missing_fixture(f"Belize GCBM project not found at {path}")
    return path


@pytest.fixture(scope="session")
def api_templates(shared_data: Path) -> Path:
    """FLINT.Cloud's REST API config templates (../shared only)."""
    path = shared_data / "flint-cloud-api-templates" / "templates"
    if not path.is_dir():
        missing_fixture(f"FLINT.Cloud's config templates not found at {path} (../shared/gcbm-data only)")
    return path
