"""Stage `example_site`: the generated example site's monthly inputs CSV.

    python stages/example_site.py OUT_CSV
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _path  # noqa: E402,F401
from common import load_params_unchecked as load_params, run_stage, section, usage  # noqa: E402  (the RothC site's params.yaml, checked by flintcloud.flint.site)

from flintcloud.flint.site import write_example_site_inputs  # noqa: E402


def main(args: list[str]) -> None:
    usage("example_site", args, ["OUT_CSV"])
    p = section(load_params(), "example_site")
    out = write_example_site_inputs(args[0], **p)
    print(f"example_site: {p['years']} years from {p['start_month']} -> {out}")


if __name__ == "__main__":
    run_stage("example_site", main)
