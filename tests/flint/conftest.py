"""Fixtures for the FLINT example tests: FLINT.Cloud's configs and FLINT's output.

Where they are: shared_paths.FLINT_EXAMPLE ($FLINTCLOUD_FLINT_EXAMPLE, ../shared/flint-example, then the
copy committed in tests/data/flint-example). Absent -> skip with the reason, except under CI=true, where
a missing fixture fails (house rule).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_paths import FLINT_EXAMPLE, missing_fixture


@pytest.fixture(scope="session")
def flint_example() -> Path:
    """The FLINT example folder, with config/ and output/."""
    needed = [FLINT_EXAMPLE / "config" / "point_rothc_example.json",
              FLINT_EXAMPLE / "output" / "default_point_rothc_output.csv"]
    if not all(p.is_file() for p in needed):
        missing_fixture(f"FLINT example configs/output not found at {FLINT_EXAMPLE} (tests/data/flint-example "
                        "holds a copy; set FLINTCLOUD_FLINT_EXAMPLE to use another)")
    return FLINT_EXAMPLE
