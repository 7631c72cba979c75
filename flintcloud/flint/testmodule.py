"""FLINT's TestModule (moja.flint/src/testmodule.cpp), the Point example's module, as pure functions.

Each step a TestModule submits one proportional operation: pool_1 -> pool_2 at ratio 1, pool_2 ->
pool_3 at ratio 2, pool_3 -> pool_1 at ratio 3, all from the start-of-step pool values.

FLINT: TestModule::configure stores the `ratio_2` setting in its *third* ratio (`ratio_3 =
config["ratio_2"]`), and `ratio_3`, when given, overwrites it again. So ratio 2 is always the default
0.5 and a configured `ratio_2` only matters when `ratio_3` is absent. Reproduced here because it
changes every number of the Point example.
"""

from __future__ import annotations

DEFAULT_RATIO = 0.50
DEFAULT_POOLS = ("Pool 1", "Pool 2", "Pool 3")
DEFAULT_VARIABLES = ("variable 1", "variable 2", "variable 3")


def test_module_ratios(settings: dict) -> tuple[float, float, float]:
    """(ratio 1, ratio 2, ratio 3) as FLINT's TestModule::configure leaves them."""
    r1 = r2 = r3 = DEFAULT_RATIO
    if "ratio_1" in settings:
        r1 = float(settings["ratio_1"])
    if "ratio_2" in settings:
        r3 = float(settings["ratio_2"])   # FLINT: ratio_2 is stored in ratio_3 (upstream bug, kept)
    if "ratio_3" in settings:
        r3 = float(settings["ratio_3"])
    return r1, r2, r3


def test_module_transfers(pools: tuple[str, str, str], ratios: tuple[float, float, float]) -> list[tuple[str, str, float]]:
    p1, p2, p3 = pools
    r1, r2, r3 = ratios
    return [(p1, p2, r1), (p2, p3, r2), (p3, p1, r3)]


test_module_ratios.__test__ = False      # not pytest tests, despite the name
test_module_transfers.__test__ = False
