"""Where the real GCBM data lives: the one place that knows (env override included).

Order: $FLINTCLOUD_SHARED_DATA, ../shared/gcbm-data beside the checkout, then the copy
committed in tests/data/gcbm-data (the FLINT.Cloud demo, GCBM's output for it, FLINT.Cloud's
templates and Belize; tests/data/README.md). A plain module, not conftest, so tests in
any folder import it by a unique name.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_DATA = REPO_ROOT / "tests" / "data" / "gcbm-data"
SIBLING_DATA = REPO_ROOT.parent / "shared" / "gcbm-data"


def _shared_data() -> Path:
    env = os.environ.get("FLINTCLOUD_SHARED_DATA")
    if env:
        return Path(env)
    return SIBLING_DATA if SIBLING_DATA.is_dir() else COMMITTED_DATA


SHARED_DATA = _shared_data()
#: Under CI a missing fixture is a failure, not a skip (the engine checks must run there).
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_fixture(reason: str) -> None:
    """Skip with the reason; under CI=true fail instead (a skipped engine check is not a green build)."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing fixture fails the run)", pytrace=False)
    pytest.skip(reason)
