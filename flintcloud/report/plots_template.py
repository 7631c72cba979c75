"""Build the offline HTML template for `dvc plots show --html-template`.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so the
plots are blank on a machine (or in a CI artifact viewer) without internet.
Our template inlines the three libraries instead and leaves out DVC's
`{scripts}` placeholder, so DVC never adds its CDN <script> tags.

The libraries come from the npm registry packages (vega@5, vega-lite@5,
vega-embed@6). Rebuild the committed template with `make plots-template`,
which runs `npm pack` in a temporary directory and then:

    python -m flintcloud.report.plots_template vega-*.tgz vega-lite-*.tgz vega-embed-*.tgz
"""

from __future__ import annotations

import argparse
import re
import tarfile
from importlib import resources
from pathlib import Path

from flintcloud.atomic import atomic_file
from flintcloud.errors import ReportError

TEMPLATE_NAME = "plots_template.html"
# (npm package name, file inside the package tarball), in load order.
LIBRARIES = (
    ("vega", "package/build/vega.min.js"),
    ("vega-lite", "package/build/vega-lite.min.js"),
    ("vega-embed", "package/build/vega-embed.min.js"),
)
PLOTS_PLACEHOLDER = "{plot_divs}"


def template_path() -> Path:
    """Path of the committed offline template inside the installed package."""
    return Path(str(resources.files("flintcloud.report").joinpath(TEMPLATE_NAME)))


def build_template(scripts: dict[str, tuple[str, str]]) -> str:
    """Return the template HTML from {package: (version, minified js)} (pure)."""
    missing = [name for name, _ in LIBRARIES if name not in scripts]
    if missing:
        raise ReportError(f"plots template: missing library source(s) {missing}; expected {[n for n, _ in LIBRARIES]}")
    tags = []
    for name, _ in LIBRARIES:
        version, js = scripts[name]
        if re.search(r"</script", js, flags=re.IGNORECASE):
            raise ReportError(f"plots template: {name}@{version} contains '</script' and cannot be inlined")
        if PLOTS_PLACEHOLDER in js:
            raise ReportError(f"plots template: {name}@{version} contains DVC's placeholder {PLOTS_PLACEHOLDER!r}")
        tags.append(f"<!-- {name}@{version} (npm), inlined -->\n<script>\n{js}\n</script>")
    versions = ", ".join(f"{name}@{scripts[name][0]}" for name, _ in LIBRARIES)
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>flintcloud plots</title>\n"
        f"<!-- Offline DVC plots template: {versions}. Built by flintcloud/report/plots_template.py; "
        "no CDN and no DVC scripts placeholder, on purpose. -->\n"
        + "\n".join(tags)
        + "\n<style>\nbody { font-family: sans-serif; }\ntable { border-spacing: 15px; }\n</style>\n"
        "</head>\n<body>\n" + PLOTS_PLACEHOLDER + "\n</body>\n</html>\n"
    )


def read_npm_tarball(tgz: Path) -> tuple[str, str, str]:
    """Return (package name, version, minified build js) from an `npm pack` tarball."""
    import json

    if not Path(tgz).is_file():
        raise ReportError(f"plots template: npm tarball {str(tgz)!r} not found")
    with tarfile.open(tgz, "r:gz") as tar:
        try:
            meta = json.load(tar.extractfile("package/package.json"))
        except KeyError as err:
            raise ReportError(f"plots template: {str(tgz)!r} has no package/package.json") from err
        name = meta["name"]
        member = dict(LIBRARIES).get(name)
        if member is None:
            raise ReportError(f"plots template: {str(tgz)!r} is {name!r}, expected one of {[n for n, _ in LIBRARIES]}")
        try:
            js = tar.extractfile(member).read().decode("utf-8")
        except KeyError as err:
            raise ReportError(f"plots template: {str(tgz)!r} lacks {member!r}") from err
    return name, meta["version"], js


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tarballs", nargs=3, type=Path, help="npm pack tarballs of vega, vega-lite, vega-embed")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name(TEMPLATE_NAME))
    args = parser.parse_args(argv)
    scripts = {}
    for tgz in args.tarballs:
        name, version, js = read_npm_tarball(tgz)
        scripts[name] = (version, js)
    html = build_template(scripts)
    with atomic_file(args.output, "w", encoding="utf-8") as fh:
        fh.write(html)
    print(f"wrote {args.output} ({len(html) / 1e6:.2f} MB): " + ", ".join(f"{n}@{v}" for n, (v, _) in scripts.items()))


if __name__ == "__main__":
    main()
