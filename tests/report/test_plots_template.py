from __future__ import annotations

import io
import json
import tarfile

import pytest

from flintcloud.errors import ReportError
from flintcloud.report import plots_template as pt


def test_committed_template_is_offline_and_complete():
    html = pt.template_path().read_text(encoding="utf-8")
    assert html.count("{plot_divs}") == 1
    assert "{scripts}" not in html  # DVC would insert its CDN <script src=...> tags there
    assert "<script src=" not in html and "cdn.jsdelivr" not in html
    for name in ("vega", "vega-lite", "vega-embed"):
        assert f"<!-- {name}@" in html
    assert "vegaEmbed" in html


def _tgz(tmp_path, name, version, js):
    path = tmp_path / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for member, data in (("package/package.json", json.dumps({"name": name, "version": version})),
                             (dict(pt.LIBRARIES)[name], js)):
            raw = data.encode()
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_build_from_npm_tarballs(tmp_path):
    paths = [_tgz(tmp_path, n, "1.2.3", f"var {n.replace('-', '_')} = 1;") for n, _ in pt.LIBRARIES]
    out = tmp_path / "t.html"
    pt.main([str(p) for p in paths] + ["-o", str(out)])
    html = out.read_text()
    assert html.index("var vega = 1;") < html.index("var vega_lite = 1;") < html.index("var vega_embed = 1;")
    assert html.count("{plot_divs}") == 1


def test_script_end_tag_cannot_be_inlined():
    scripts = {n: ("1", "x") for n, _ in pt.LIBRARIES}
    scripts["vega"] = ("1", "a='</script>'")
    with pytest.raises(ReportError, match="vega@1 contains '</script'"):
        pt.build_template(scripts)
    with pytest.raises(ReportError, match=r"missing library source\(s\) \['vega-embed'\]"):
        pt.build_template({"vega": ("1", ""), "vega-lite": ("1", "")})


def test_wrong_tarball_is_named(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        pt.read_npm_tarball(tmp_path / "nope.tgz")
