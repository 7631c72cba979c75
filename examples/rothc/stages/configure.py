"""Stage `configure`: params.yaml `site` + the monthly inputs CSV -> FLINT's RothC configuration.

    python stages/configure.py INPUTS_CSV CONFIG_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _path  # noqa: E402,F401
from common import load_params_unchecked as load_params, run_stage, usage  # noqa: E402  (params.yaml here is the RothC site's, checked by flintcloud.flint.site)

from flintcloud.flint.site import parse_site_params, read_site_inputs, site_configs, write_site_configs  # noqa: E402


def main(args: list[str]) -> None:
    usage("configure", args, ["INPUTS_CSV", "CONFIG_DIR"])
    site = parse_site_params(load_params().get("site"))
    files = write_site_configs(site_configs(site, read_site_inputs(args[0])), args[1])
    print(f"configure: {site.name}, {site.months} months from {site.start[0]}-{site.start[1]:02d} -> "
          f"{', '.join(map(str, files))}")


if __name__ == "__main__":
    run_stage("configure", main)
