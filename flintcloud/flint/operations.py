"""FLINT's simple operation manager (moja.flint/src/operationmanagersimple.cpp and the Simple operations).

A module *submits* an operation; its fluxes are computed at submission from the pool values of that
moment and *applied* later, when the TransactionManagerEndOfStepModule calls applyOperations (at
TimingPrePostInit for the init step, TimingPreEndStep for every step): results in submission order,
each flux in insertion order, `pool[src] -= v; pool[dst] += v`, a flux from a pool to itself skipped.

- Stock operation: fixed amounts. A transfer whose value is (almost) 0 is dropped.
- Proportional operation: flux = source pool value at submission x fraction. A transfer whose fraction
  or source pool is (almost) 0 is dropped. "Almost" is moja's FloatCmp::equalTo: within 4 ULPs.
- `allow_zero_result_transfers` keeps the zero transfers (they change no pool, only the flux rows);
  `allow_negative_transfers` (default true) false makes a negative flux a SimulationError;
  `use_kahan` applies with Kahan-compensated sums per pool.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from flintcloud.errors import SimulationError
from flintcloud.flint.config import OperationManagerSettings

STOCK = "stock"
PROPORTIONAL = "proportional"
_MAX_ULPS = 4


def _biased(x: float) -> int:
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    sign = 1 << 63
    return ((~bits + 1) & 0xFFFFFFFFFFFFFFFF) if bits & sign else (bits | sign)


def almost_equal(a: float, b: float) -> bool:
    """moja::FloatCmp::equalTo: at most 4 units in the last place apart; NaN equals nothing."""
    if a != a or b != b:
        return False
    return abs(_biased(a) - _biased(b)) <= _MAX_ULPS


def less_than(a: float, b: float) -> bool:
    """moja::FloatCmp::lessThan."""
    return False if almost_equal(a, b) else a < b


@dataclass(frozen=True)
class Flux:
    source: int
    sink: int
    value: float


@dataclass
class OperationResult:
    module: str
    kind: str
    fluxes: list[Flux] = field(default_factory=list)


def stock_fluxes(transfers: list[tuple[int, int, float]], allow_zero: bool = False,
                 full_step: bool = True, time_scale: float = 1.0) -> list[Flux]:
    """StockOperationSimple: addTransfer drops (almost) zero values; computeOperation keeps the rest."""
    out = []
    for src, dst, value in transfers:
        if not allow_zero and almost_equal(value, 0.0):
            continue
        out.append(Flux(src, dst, value if full_step else value * time_scale))
    return out


def proportional_fluxes(pools: list[float], transfers: list[tuple[int, int, float]], allow_zero: bool = False,
                        full_step: bool = True, time_scale: float = 1.0) -> list[Flux]:
    """ProportionalOperationSimple: flux = pools[src] * fraction, from the values given (start of step)."""
    out = []
    for src, dst, fraction in transfers:
        if not allow_zero and (almost_equal(fraction, 0.0) or almost_equal(pools[src], 0.0)):
            continue
        if full_step:
            if almost_equal(pools[src], 0.0):
                continue
            out.append(Flux(src, dst, pools[src] * fraction))
        else:
            out.append(Flux(src, dst, pools[src] * fraction * time_scale))
    return out


def apply_fluxes(pools: list[float], results: list[OperationResult], pool_names: list[str],
                 settings: OperationManagerSettings, corrections: list[float] | None = None) -> list[float]:
    """applyOperations on a copy of `pools`; returns the new values (Kahan corrections updated in place)."""
    values = list(pools)
    for result in results:
        for f in result.fluxes:
            if f.source == f.sink:
                continue
            v = f.value
            if settings.use_kahan:
                assert corrections is not None
                y = -v - corrections[f.source]
                t = values[f.source] + y
                corrections[f.source] = (t - values[f.source]) - y
                values[f.source] = t
                y = v - corrections[f.sink]
                t = values[f.sink] + y
                corrections[f.sink] = (t - values[f.sink]) - y
                values[f.sink] = t
                continue
            if not settings.allow_negative_transfers and less_than(v, 0.0):
                amount = v * 100.0 if result.kind == PROPORTIONAL else v
                how = "% of" if result.kind == PROPORTIONAL else "from"
                raise SimulationError(
                    f"Negative transfer by {result.module}: {amount:.15g} {how} {pool_names[f.source]} to "
                    f"{pool_names[f.sink]} (LocalDomain.operationManager.allow_negative_transfers is false)")
            values[f.source] -= v
            values[f.sink] += v
    return values


class OperationManager:
    """The pools of one land unit and the operations pending on them."""

    def __init__(self, pool_names: list[str], init_values: list[float], settings: OperationManagerSettings):
        self.pool_names = list(pool_names)
        self.index = {name: i for i, name in enumerate(pool_names)}
        self.values = [float(v) for v in init_values]
        self.settings = settings
        self.pending: list[OperationResult] = []
        self.last_applied: list[OperationResult] = []
        self.corrections = [0.0] * len(pool_names)

    def submit_stock(self, module: str, transfers: list[tuple[str, str, float]], full_step: bool = True,
                     time_scale: float = 1.0) -> None:
        t = [(self.index[s], self.index[d], v) for s, d, v in transfers]
        fluxes = stock_fluxes(t, self.settings.allow_zero_result_transfers, full_step, time_scale)
        self.pending.append(OperationResult(module, STOCK, fluxes))

    def submit_proportional(self, module: str, transfers: list[tuple[str, str, float]], full_step: bool = True,
                            time_scale: float = 1.0) -> None:
        t = [(self.index[s], self.index[d], v) for s, d, v in transfers]
        fluxes = proportional_fluxes(self.values, t, self.settings.allow_zero_result_transfers, full_step,
                                     time_scale)
        self.pending.append(OperationResult(module, PROPORTIONAL, fluxes))

    def apply(self) -> None:
        self.values = apply_fluxes(self.values, self.pending, self.pool_names, self.settings, self.corrections)
        self.last_applied.extend(self.pending)
        self.pending = []

    def clear_last_applied(self) -> None:
        self.last_applied = []
