"""The HWP pool against the closed forms of IPCC Tier 1 first-order decay."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from flintcloud.report.hwp import HwpSettings, hwp_pool, parse_hwp_settings


def one(commodity: str, share: float, half_life: float, initial: str = "empty") -> HwpSettings:
    return HwpSettings(enabled=True, shares={commodity: share}, half_lives={commodity: half_life}, initial_stock=initial)


def rows(df: pd.DataFrame, commodity: str) -> pd.DataFrame:
    return df[df["commodity"] == commodity].set_index("year")


def test_constant_inflow_from_empty_approaches_inflow_over_k():
    inflow = pd.Series(100.0, index=range(2000, 2060))
    df = rows(hwp_pool(inflow, one("sawnwood", 1.0, 35.0)), "sawnwood")
    k = math.log(2) / 35.0
    n = np.arange(1, 61)
    # IPCC Eq. 12.1 with C(0) = 0 and a constant inflow I: C(n) = I/k * (1 - exp(-k n))
    assert np.allclose(df["stock_end_tc"].to_numpy(), 100.0 / k * (1 - np.exp(-k * n)), rtol=1e-12)
    # every year: what came in and did not stay decayed
    assert np.allclose(df["inflow_tc"] - df["decay_tc"], df["stock_change_tc"], atol=1e-9)
    assert df["stock_end_tc"].iloc[-1] == pytest.approx(df["inflow_tc"].sum() - df["decay_tc"].sum())


def test_steady_state_start_stays_put_under_the_same_inflow():
    inflow = pd.Series(80.0, index=range(2010, 2021))
    df = rows(hwp_pool(inflow, one("wood_based_panels", 0.5, 25.0, "steady_state")), "wood_based_panels")
    k = math.log(2) / 25.0
    assert df["stock_start_tc"].iloc[0] == pytest.approx(40.0 / k)
    assert np.allclose(df["stock_change_tc"], 0.0, atol=1e-9)
    assert np.allclose(df["decay_tc"], 40.0)


def test_a_pulse_halves_after_one_half_life():
    inflow = pd.Series([50.0] + [0.0] * 4, index=range(2000, 2005))
    df = rows(hwp_pool(inflow, one("paper", 1.0, 2.0)), "paper")
    assert df.loc[2002, "stock_end_tc"] == pytest.approx(df.loc[2000, "stock_end_tc"] / 2)
    assert df.loc[2004, "stock_end_tc"] == pytest.approx(df.loc[2000, "stock_end_tc"] / 4)
    k = math.log(2) / 2.0
    assert df.loc[2000, "stock_end_tc"] == pytest.approx(50.0 * (1 - math.exp(-k)) / k)


def test_shares_split_the_inflow_and_the_total_sums_the_commodities():
    st = parse_hwp_settings({"enabled": True, "shares": {"sawnwood": 0.5, "wood_based_panels": 0.2, "paper": 0.1}})
    df = hwp_pool(pd.Series([10.0, 20.0, 0.0], index=[2010, 2011, 2012]), st)
    assert list(df["commodity"].iloc[:4]) == ["sawnwood", "wood_based_panels", "paper", "total"]
    total = rows(df, "total")
    assert total.loc[2011, "inflow_tc"] == pytest.approx(20.0 * 0.8)  # 0.2 oxidised at harvest
    parts = df[df["commodity"] != "total"].groupby("year")[["stock_end_tc", "decay_tc"]].sum()
    assert np.allclose(parts["stock_end_tc"], total["stock_end_tc"]) and np.allclose(parts["decay_tc"], total["decay_tc"])
