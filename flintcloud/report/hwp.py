"""Harvested wood products (HWP): IPCC Tier 1 first-order decay of the carbon GCBM sends to `Products`.

GCBM moves harvested carbon to its `Products` pool and stops there: in NBP that carbon has
left the ecosystem, i.e. it is counted as emitted at harvest ("instant oxidation"). The IPCC's
Tier 1 method instead keeps it in product pools that decay with a half-life
(2019 Refinement to the 2006 IPCC Guidelines, Vol. 4, chapter 12, Equation 12.1):

    C(i+1) = exp(-k) * C(i) + [(1 - exp(-k)) / k] * Inflow(i),   k = ln(2) / HL
    dC(i)  = C(i+1) - C(i)

with C(i) the stock at the start of year i and Inflow(i) the carbon entering the pool in
year i. Default half-lives (Table 12.2): paper 2, wood-based panels 25, sawnwood 35 years.

The share of harvested carbon entering each commodity is a project setting: the IPCC gives
no default (countries use their FAOSTAT production statistics); what no commodity takes
(fuelwood, residues) is oxidised in the year of harvest.

Initial stocks: `empty` counts only wood harvested in the simulated years; `steady_state`
starts each commodity at Inflow_average / k with Inflow_average the mean inflow of the first
five simulated years (2006 IPCC Guidelines, Vol. 4, chapter 12, Equation 12.4, a pool in
equilibrium with a constant inflow).

Pure: `hwp_pool(inflow_tc, settings)` takes the yearly carbon to products and returns a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from flintcloud.errors import ConfigError, ReportError

IPCC_HALF_LIVES = {"sawnwood": 35.0, "wood_based_panels": 25.0, "paper": 2.0}
INITIAL_STOCKS = ("empty", "steady_state")
STEADY_STATE_YEARS = 5


@dataclass(frozen=True)
class HwpSettings:
    enabled: bool = False
    # commodity -> fraction of the carbon sent to Products that enters it (sum <= 1)
    shares: dict[str, float] = field(default_factory=dict)
    # commodity -> half-life (years)
    half_lives: dict[str, float] = field(default_factory=lambda: dict(IPCC_HALF_LIVES))
    initial_stock: str = "empty"


def parse_hwp_settings(obj: object, where: str = "report.inventory.hwp") -> HwpSettings:
    """HwpSettings from the params mapping; ConfigError naming the key and the value."""
    if obj is None:
        return HwpSettings()
    if not isinstance(obj, dict):
        raise ConfigError(f"params.yaml {where} must be a mapping, got {obj!r}")
    known = {"enabled", "shares", "half_lives", "initial_stock"}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ConfigError(f"params.yaml {where}: unknown key(s) {unknown}; expected {sorted(known)}")
    enabled = obj.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"params.yaml {where}.enabled must be true or false, got {enabled!r}")
    shares = _numbers(obj.get("shares") or {}, f"{where}.shares")
    half_lives = dict(IPCC_HALF_LIVES)
    half_lives.update(_numbers(obj.get("half_lives") or {}, f"{where}.half_lives"))
    for name, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"params.yaml {where}.shares.{name} must be between 0 and 1, got {share!r}")
        if name not in half_lives:
            raise ConfigError(
                f"params.yaml {where}.shares.{name}: no half-life for {name!r}; add {where}.half_lives.{name} "
                f"(IPCC defaults exist for {sorted(IPCC_HALF_LIVES)})"
            )
    for name, hl in half_lives.items():
        if not hl > 0:
            raise ConfigError(f"params.yaml {where}.half_lives.{name} must be > 0 years, got {hl!r}")
    if sum(shares.values()) > 1.0 + 1e-9:
        raise ConfigError(f"params.yaml {where}.shares sum to {sum(shares.values()):g}; they must sum to at most 1")
    if enabled and not shares:
        raise ConfigError(f"params.yaml {where}: enabled but no shares given (e.g. sawnwood: 0.5)")
    initial = obj.get("initial_stock", "empty")
    if initial not in INITIAL_STOCKS:
        raise ConfigError(f"params.yaml {where}.initial_stock must be one of {list(INITIAL_STOCKS)}, got {initial!r}")
    return HwpSettings(enabled=enabled, shares=shares, half_lives=half_lives, initial_stock=initial)


def _numbers(obj: object, where: str) -> dict[str, float]:
    if not isinstance(obj, dict):
        raise ConfigError(f"params.yaml {where} must be a mapping of name: number, got {obj!r}")
    out = {}
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"params.yaml {where}.{k} must be a number, got {v!r}")
        out[str(k)] = float(v)
    return out


def decay_constant(half_life: float) -> float:
    return math.log(2.0) / half_life


def hwp_pool(inflow_tc: pd.Series, settings: HwpSettings) -> pd.DataFrame:
    """Yearly HWP accounts from the carbon sent to products (index: year, tC).

    One row per year and commodity plus a `total` commodity: inflow_tc, stock_start_tc,
    stock_end_tc, decay_tc (carbon leaving the pool, emitted as CO2), stock_change_tc
    (= inflow - decay = end - start).
    """
    if inflow_tc.empty:
        raise ReportError("HWP: no years to account")
    years = sorted(int(y) for y in inflow_tc.index)
    inflow_tc = inflow_tc.groupby(level=0).sum().reindex(years, fill_value=0.0).astype(float)
    rows = []
    for name, share in settings.shares.items():
        k = decay_constant(settings.half_lives[name])
        into = inflow_tc * share
        if settings.initial_stock == "steady_state":
            stock = float(into.iloc[:STEADY_STATE_YEARS].mean()) / k
        else:
            stock = 0.0
        for y in years:
            end = math.exp(-k) * stock + (1.0 - math.exp(-k)) / k * float(into.loc[y])
            rows.append({"year": y, "commodity": name, "inflow_tc": float(into.loc[y]), "stock_start_tc": stock,
                         "stock_end_tc": end, "decay_tc": stock + float(into.loc[y]) - end,
                         "stock_change_tc": end - stock})
            stock = end
    df = pd.DataFrame(rows, columns=["year", "commodity", "inflow_tc", "stock_start_tc", "stock_end_tc",
                                     "decay_tc", "stock_change_tc"])
    total = df.groupby("year", as_index=False)[["inflow_tc", "stock_start_tc", "stock_end_tc", "decay_tc",
                                                "stock_change_tc"]].sum()
    total.insert(1, "commodity", "total")
    out = pd.concat([df, total], ignore_index=True)
    order = {name: i for i, name in enumerate([*settings.shares, "total"])}
    out["_o"] = out["commodity"].map(order)
    return out.sort_values(["year", "_o"], ignore_index=True).drop(columns="_o")
