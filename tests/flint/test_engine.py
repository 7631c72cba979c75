"""FLINT's calendar sequencer and simple operation manager, piece by piece."""

from __future__ import annotations

import pytest

from flintcloud.flint import default_point_configs, run_configs
from flintcloud.flint.calendar import YearMonth, calendar_steps, format_datetime, init_step
from flintcloud.flint.config import OperationManagerSettings, SimpleDate
from flintcloud.flint.operations import (
    OperationManager, OperationResult, PROPORTIONAL, almost_equal, apply_fluxes, proportional_fluxes, stock_fluxes,
)


def test_calendar_steps_dates_and_lengths():
    steps = calendar_steps(SimpleDate(1920, 1, 1), SimpleDate(1924, 12, 31))
    assert len(steps) == 60 and steps[0].step == 1 and steps[-1].step == 60
    assert steps[0].step_len_in_years == 31 / 366 and steps[1].step_len_in_years == 29 / 366
    assert steps[13].step_len_in_years == 28 / 365          # 1921-02
    assert format_datetime(steps[0].end, True) == "1920-01-31:23:59:59.999999"
    assert format_datetime(steps[1].end, True) == "1920-02-29:23:59:59.999999"
    assert format_datetime(steps[0].start, False) == "1920-01-01:00:00:00.000000"
    s0 = init_step(SimpleDate(1920, 1, 1))
    assert (s0.step, s0.step_len_in_years, s0.frac_of_step) == (0, 0.0, 1.0)
    assert format_datetime(s0.end, True) == "1919-11-30:23:59:59.999999"   # FLINT's step-0 date
    # only year and month count; 1900 is not a leap year, 2000 is
    assert len(calendar_steps(SimpleDate(2001, 3, 28), SimpleDate(2001, 3, 29))) == 1
    assert calendar_steps(SimpleDate(1900, 2, 1), SimpleDate(1900, 2, 1))[0].step_len_in_years == 28 / 365
    assert calendar_steps(SimpleDate(2000, 2, 1), SimpleDate(2000, 2, 1))[0].step_len_in_years == 29 / 366
    assert YearMonth(2000, 1).add_months(-1) == YearMonth(1999, 12)


def test_run_length_follows_the_dates():
    cfg = default_point_configs()
    cfg[0]["LocalDomain"]["start_date"], cfg[0]["LocalDomain"]["end_date"] = "2019/11/15", "2020/02/03"
    r = run_configs(cfg)
    assert [s.step_date for s in r.steps] == ["2019-09-30:23:59:59.999999", "2019-11-30:23:59:59.999999",
                                              "2019-12-31:23:59:59.999999", "2020-01-31:23:59:59.999999",
                                              "2020-02-29:23:59:59.999999"]


def test_float_cmp_is_four_ulps():
    assert almost_equal(0.0, 0.0) and almost_equal(0.0, -0.0) and almost_equal(0.0, 4 * 5e-324)
    assert not almost_equal(0.0, 5 * 5e-324) and not almost_equal(1e-300, 0.0)
    assert almost_equal(1.0, 1.0 + 2.220446049250313e-16 * 4) and not almost_equal(1.0, 1.0 + 2.3e-16 * 5)
    assert not almost_equal(float("nan"), float("nan"))


def test_proportional_from_start_of_step_values_and_zero_transfers_dropped():
    pools = [100.0, 0.0, 50.0]
    f = proportional_fluxes(pools, [(0, 1, 0.5), (1, 2, 0.5), (2, 0, 0.0), (2, 2, 0.1)])
    assert [(x.source, x.sink, x.value) for x in f] == [(0, 1, 50.0), (2, 2, 5.0)]
    kept = proportional_fluxes(pools, [(2, 0, 0.0)], allow_zero=True)
    assert [(x.source, x.sink, x.value) for x in kept] == [(2, 0, 0.0)]
    assert [x.value for x in stock_fluxes([(0, 1, 0.0), (0, 1, 2.5)])] == [2.5]


def test_apply_in_submission_order_and_skip_diagonal():
    om = OperationManager(["a", "b", "c"], [100.0, 100.0, 100.0], OperationManagerSettings())
    om.submit_proportional("M1", [("a", "b", 0.5)])
    om.submit_proportional("M2", [("b", "c", 0.5), ("c", "c", 0.9)])   # b's start-of-step value: 100
    assert om.values == [100.0, 100.0, 100.0]                            # nothing applied yet
    om.apply()
    assert om.values == [50.0, 100.0, 150.0]
    assert len(om.last_applied) == 2 and not om.pending
    om.clear_last_applied()
    assert om.last_applied == []


def test_kahan_and_negative_pools():
    s = OperationManagerSettings(use_kahan=True)
    res = [OperationResult("M", PROPORTIONAL, proportional_fluxes([1.0, 0.0], [(0, 1, 0.1)]))] * 10
    out = apply_fluxes([1.0, 0.0], res, ["a", "b"], s, [0.0, 0.0])
    assert out[0] + out[1] == pytest.approx(1.0, abs=1e-16)
    out = apply_fluxes([1.0, 0.0], [OperationResult("M", "stock", stock_fluxes([(0, 1, 3.0)]))], ["a", "b"],
                       OperationManagerSettings())
    assert out == [-2.0, 3.0]     # FLINT allows negative pools


def test_outputer_stream_variables_columns():
    """OutputerStream `variables`: values printed as FLINT's outputDynamicToStream prints them."""
    from flintcloud.flint import default_rothc_configs

    cfg = default_rothc_configs()
    cfg[0]["Modules"]["OutputerStream"]["settings"]["variables"] = [
        "TSMD", "isSoilCovered", "initSoil.TSMDInit", "soil", "spatialLocationInfo", "nope", "rainfall"]
    r = run_configs(cfg)
    lines = r.to_csv().splitlines()
    assert lines[4].endswith(",offsiteCM,TSMD,isSoilCovered,initSoil.TSMDInit,soil,spatialLocationInfo,nope,rainfall,")
    assert lines[5].endswith(',0,0,35.21,true,35.21,"[struct]","[IFlintData"],(missing variable),0,')
    assert lines[6].split(",")[-8:-1] == [lines[6].split(",")[-8], "true", "35.21", '"[struct]"', '"[IFlintData"]',
                                          "(missing variable)", "24"]
    assert float(lines[6].split(",")[-8]) != 35.21    # the deficit moved in step 1
    # annual output: one row per December
    cfg = default_rothc_configs()
    cfg[0]["Modules"]["OutputerStream"]["settings"]["output_annual_only"] = True
    rows = [line for line in run_configs(cfg).to_csv().splitlines() if line.startswith("onOutputStep")]
    assert [row.split(",")[2][:7] for row in rows] == ["1920-12", "1921-12", "1922-12", "1923-12", "1924-12"]
