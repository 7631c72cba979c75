"""Fixtures for the outputs tests; the builders live in outputs_fixtures.py."""

from __future__ import annotations

import pytest
from outputs_fixtures import three_stand_run


@pytest.fixture
def run_steps():
    return three_stand_run()
