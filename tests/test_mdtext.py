from pathlib import Path

import pytest

from flintcloud.mdtext import escape_markdown, relative_link


def test_image_link_in_a_title_renders_as_text():
    out = escape_markdown("![x](../.dvc/config.local)")
    assert out == r"\!\[x\]\(\.\./\.dvc/config\.local\)"
    assert "](" not in out


def test_newlines_cannot_start_a_block():
    assert escape_markdown("a\n# heading\n| t |") == r"a \# heading \| t \|"


def test_html_and_emphasis_are_escaped():
    assert escape_markdown("<img src=x> *b* _i_") == r"\<img src\=x\> \*b\* \_i\_"


def test_relative_link_inside_and_outside(tmp_path: Path):
    (tmp_path / "figures").mkdir()
    assert relative_link(Path("figures/stocks (1).png"), tmp_path) == "figures/stocks%20%281%29.png"
    with pytest.raises(ValueError, match="outside"):
        relative_link(Path("../.dvc/config.local"), tmp_path)
