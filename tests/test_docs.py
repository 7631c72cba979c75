"""What README.md, params.yaml and docs/ tell a user to type stays what the project means (house rule: docs
stay true); the behaviour they describe is tested where it lives (tests/report, tests/flint, ...)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `dvc exp run [-n NAME] -S ...` without --temp/--queue: applied to the workspace, so the next one inherits it.
STACKING = re.compile(r"dvc exp run(?! --temp)(?! --queue)(?: -n \S+)? -S\s*[\w.]+=")


def _text(rel: str) -> str:
    return (REPO / rel).read_text(encoding="utf-8")


def test_experiments_are_shown_the_way_that_does_not_stack():
    for rel in ("README.md", "params.yaml", "docs/pipeline.md", "docs/flint-example.md"):
        assert not STACKING.search(_text(rel)), f"{rel} shows a plain `dvc exp run -S`"
    readme = _text("README.md")
    assert "dvc exp run --temp -S simulation.end_year=2030" in readme
    assert "dvc exp run --queue -n to2030 -S simulation.end_year=2030" in readme and "dvc exp run --run-all" in readme
    assert "dvc exp run --temp -S" in _text("params.yaml") and "--run-all" in _text("params.yaml")
    # docs/scenarios.md shows the stacking pattern once, as the thing not to do, and says what --temp/--queue take
    scenarios = _text("docs/scenarios.md")
    assert len(STACKING.findall(scenarios)) == 2 and "# also has event_end_year=2012" in scenarios
    assert "from HEAD with only its own -S" not in scenarios
    assert "plus the uncommitted changes of the workspace" in scenarios


def test_the_readme_states_flints_testmodule_quirk_as_the_code_has_it():
    """Issue 16: the README says TestModule's `ratio_2` lands in the third ratio, and flintcloud matches FLINT."""
    from flintcloud.flint.testmodule import test_module_ratios

    flint = _text("README.md").split("**The FLINT example models.**")[1].split("\n\n")[0]
    assert "TestModule stores its `ratio_2` setting in its *third* ratio" in flint
    assert "the second stays 0.5" in flint and "flintcloud matches it" in flint
    assert test_module_ratios({"ratio_2": 0.1}) == (0.5, 0.5, 0.1)
    assert test_module_ratios({"ratio_2": 0.1, "ratio_3": 0.3}) == (0.5, 0.5, 0.3)
