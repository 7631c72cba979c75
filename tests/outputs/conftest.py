"""Fixtures for the outputs tests; the builders live in outputs_fixtures.py."""

from __future__ import annotations

import pytest
from outputs_fixtures import three_stand_run


@pytest.fixture
def run_steps():
    return three_stand_run()


@pytest.fixture(scope="session")
def flint_demo_run(flint_demo, tmp_path_factory):
    """`run_project` on the FLINT.Cloud demo (libcbm engine), once per session: the output folder."""
    from flintcloud.run import run_project

    out = tmp_path_factory.mktemp("flint_demo_run") / "out"
    run_project(flint_demo / "config", out)
    return out
