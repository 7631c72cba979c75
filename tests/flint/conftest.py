"""Fixtures for the FLINT example tests: ../shared/flint-example (FLINT.Cloud's configs and FLINT's output).

Absent -> skip with the reason, except under CI=true, where a missing fixture fails (house rule).
FLINTCLOUD_FLINT_EXAMPLE overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared_paths import REPO_ROOT

FLINT_EXAMPLE = Path(os.environ.get("FLINTCLOUD_FLINT_EXAMPLE", REPO_ROOT.parent / "shared" / "flint-example"))


@pytest.fixture(scope="session")
def flint_example() -> Path:
    """../shared/flint-example with config/ and output/."""
    needed = [FLINT_EXAMPLE / "config" / "point_rothc_example.json",
              FLINT_EXAMPLE / "output" / "default_point_rothc_output.csv"]
    if not all(p.is_file() for p in needed):
        msg = f"FLINT example configs/output not found at {FLINT_EXAMPLE} (../shared/flint-example)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " - CI must have ../shared beside the checkout")
        pytest.skip(msg)
    return FLINT_EXAMPLE
