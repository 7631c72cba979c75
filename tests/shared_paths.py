"""Where the real GCBM data and the FLINT example live: the one place that knows (env overrides included).

GCBM data, order: $FLINTCLOUD_SHARED_DATA, ../shared/gcbm-data beside the checkout, then the copy
committed in tests/data/gcbm-data, which holds only what moja global's README allows in the repository:
the FLINT.Cloud demo and GCBM's output for it (tests/data/README.md). Belize, FLINT.Cloud's templates and
GCBM's output for the other cases stay in ../shared; so does the FLINT example ($FLINTCLOUD_FLINT_EXAMPLE,
else ../shared/flint-example). Tests that need those carry the `shared_only` marker (tests/conftest.py adds
it from their fixtures): GitHub's workflow, which has no ../shared, deselects them; .ci/run runs them.
A plain module, not conftest, so tests in any folder import it by a unique name.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_DATA = REPO_ROOT / "tests" / "data" / "gcbm-data"
SIBLING_DATA = REPO_ROOT.parent / "shared" / "gcbm-data"
SIBLING_FLINT_EXAMPLE = REPO_ROOT.parent / "shared" / "flint-example"


def _shared_data() -> Path:
    env = os.environ.get("FLINTCLOUD_SHARED_DATA")
    if env:
        return Path(env)
    return SIBLING_DATA if SIBLING_DATA.is_dir() else COMMITTED_DATA


SHARED_DATA = _shared_data()
FLINT_EXAMPLE = Path(os.environ.get("FLINTCLOUD_FLINT_EXAMPLE") or SIBLING_FLINT_EXAMPLE)
#: Under CI a missing fixture is a failure, not a skip (the engine checks must run there).
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_fixture(reason: str) -> None:
    """Skip with the reason; under CI=true fail instead (a skipped engine check is not a green build)."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing fixture fails the run)", pytrace=False)
    pytest.skip(reason)
