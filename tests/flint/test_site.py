"""The RothC site pipeline's library functions (flintcloud.flint.site)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from flintcloud.errors import ConfigError
from flintcloud.flint import run_configs
from flintcloud.flint.site import (
    INPUT_COLUMNS, example_site_inputs, parse_site_inputs, parse_site_params, site_configs, summarize_pools,
)
from shared_paths import REPO_ROOT

PARAMS = yaml.safe_load((REPO_ROOT / "examples" / "rothc" / "params.yaml").read_text())


def test_example_site_is_reproducible_and_valid():
    a = example_site_inputs(years=3, seed=7)
    b = example_site_inputs(years=3, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 36 and a["month"].iloc[0] == "2000-01" and a["month"].iloc[-1] == "2002-12"
    parse_site_inputs(a)
    assert set(a["soil_cover"]) == {0.0, 1.0}
    assert a["plant_input_tc_ha"].sum() == pytest.approx(7.5, rel=0.1)
    assert not example_site_inputs(years=3, seed=8).equals(a)


def test_site_config_runs_and_conserves_carbon():
    site = parse_site_params(PARAMS["site"])
    inputs = example_site_inputs(years=site.months // 12)
    configs = site_configs(site, inputs)
    result = run_configs(configs)
    assert len(result.steps) == site.months + 1
    assert result.start_date == "2000/01/01" and result.end_date == "2029/12/31"
    rain = next(v["rainfall"] for v in configs[0]["Variables"] if "rainfall" in v)["transform"]["data"]
    assert rain[1:] == list(inputs["rainfall_mm"]) and rain[0] == rain[1]
    for s in result.steps:
        assert abs(sum(s.pools)) < 1e-10
    table, m = summarize_pools(result.to_records(), result.pool_names)
    assert m["rothc_years"] == 30.0
    assert m["rothc_soc_start_tc_ha"] == pytest.approx(sum(site.initial[k] for k in (
        "dpmaCMInit", "rpmaCMInit", "biofCMInit", "biosCMInit", "humsCMInit", "inrtCMInit")))
    assert m["rothc_plant_input_tc_ha"] == pytest.approx(inputs["plant_input_tc_ha"].sum())
    assert abs(m["rothc_mass_balance_error_tc_ha"]) < 1e-9
    assert m["rothc_soc_change_tc_ha_per_yr"] == pytest.approx(
        (m["rothc_soc_end_tc_ha"] - m["rothc_soc_start_tc_ha"]) / 30.0)
    assert table["iom"].nunique() == 1


def test_bad_site_params_name_the_key():
    bad = copy.deepcopy(PARAMS["site"])
    bad["clay_frac"] = 1.5
    with pytest.raises(ConfigError, match=r"site\.clay_frac = 1\.5 is outside"):
        parse_site_params(bad)
    bad = copy.deepcopy(PARAMS["site"])
    del bad["soil"]["sdcmRateMultHums"]
    with pytest.raises(ConfigError, match=r"site\.soil\.sdcmRateMultHums is missing"):
        parse_site_params(bad)
    bad = copy.deepcopy(PARAMS["site"])
    bad["initial"]["hum"] = 3.0
    with pytest.raises(ConfigError, match="unknown key"):
        parse_site_params(bad)


def test_inputs_checked_and_must_cover_the_run():
    frame = example_site_inputs(years=2)
    with pytest.raises(ConfigError, match="column"):
        parse_site_inputs(frame.drop(columns=["soil_cover"]), "in.csv")
    gap = frame.drop(index=5).reset_index(drop=True)
    with pytest.raises(ConfigError, match="in.csv: row 7 month '2000-07' does not follow '2000-05'"):
        parse_site_inputs(gap, "in.csv")
    bad = frame.astype({"rainfall_mm": object})
    bad.loc[3, "rainfall_mm"] = "wet"
    with pytest.raises(ConfigError, match="row 5 rainfall_mm 'wet' is not a number"):
        parse_site_inputs(bad, "in.csv")
    site = parse_site_params({**PARAMS["site"], "years": 3})
    with pytest.raises(ConfigError, match="site inputs end at 2001-12 but the run needs months up to 2002-12"):
        site_configs(site, parse_site_inputs(frame))
    assert set(INPUT_COLUMNS) <= set(frame.columns)
