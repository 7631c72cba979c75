"""Where the shared GCBM data lives: the one place that knows (env override included).

A plain module, not conftest, so tests in any folder import it by a unique name.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FLINTCLOUD_SHARED_DATA", REPO_ROOT.parent / "shared" / "gcbm-data"))
