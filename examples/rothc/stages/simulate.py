"""Stage `simulate`: run the site's FLINT RothC configuration; FLINT's stock and flux CSVs + pools.json.

    python stages/simulate.py CONFIG_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _path  # noqa: E402,F401
from common import run_stage, usage  # noqa: E402

from flintcloud.flint.site import run_site  # noqa: E402


def main(args: list[str]) -> None:
    usage("simulate", args, ["CONFIG_DIR", "OUT_DIR"])
    result = run_site(args[0], args[1])
    print(f"simulate: {len(result.steps) - 1} monthly steps, {len(result.pool_names)} pools -> {args[1]}")


if __name__ == "__main__":
    run_stage("simulate", main)
