"""Make the repository's stages/common.py importable from examples/rothc/stages (DVC runs the
stages from examples/rothc)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "stages"))
