"""Reading FLINT's configuration: moja.cli's merge, and bad input named by key and file before any step."""

from __future__ import annotations

import copy
import json

import pytest

from flintcloud.errors import ConfigError, SimulationError
from flintcloud.flint import default_point_configs, default_rothc_configs, parse_flint_config, run_configs
from flintcloud.flint.config import merge_config_docs, read_flint_config
from flintcloud.flint.simulation import build_simulation


def _var(cfg, name):
    return next(item for item in cfg[0]["Variables"] if name in item)


def test_merge_first_file_wins_and_later_files_add_missing_keys():
    a = {"LocalDomain": {"type": "point", "x": 1}, "Modules": {"M": {"order": 1}}}
    b = {"LocalDomain": {"x": 2, "y": 3}, "Libraries": {"L": "external"}}
    merged, origin = merge_config_docs([("a.json", a), ("b.json", b)])
    assert merged["LocalDomain"] == {"type": "point", "x": 1, "y": 3}
    assert merged["Libraries"] == {"L": "external"}
    assert origin["LocalDomain.y"] == "b.json" and origin["LocalDomain.x"] == "a.json"
    assert origin["Libraries"] == "b.json"


def test_a_list_section_in_two_files_is_an_error_naming_both():
    with pytest.raises(ConfigError, match=r"'Pools' is in both 'a.json' and 'b.json'"):
        merge_config_docs([("a.json", {"Pools": ["x"]}), ("b.json", {"Pools": ["y"]})])


def test_default_configs_parse():
    cfg = parse_flint_config(list(zip(["point_rothc_example.json", "libs.json"], default_rothc_configs())))
    assert cfg.pool_names[:3] == ["initialValues", "plantCM", "SoilDPM"]
    assert [m.name for m in cfg.modules][:5] == ["TransactionManagerEndOfStepModule", "CalendarSequencer",
                                                 "PlantResidueModule", "SoilCoverModule", "RothCModule"]
    assert cfg.variables["rainfall"].kind == "transform"
    assert cfg.libraries["moja.flint.example.rothc"].source == "libs.json"


def _err(cfg, sources=("run.json", "libs.json")):
    with pytest.raises(ConfigError) as ei:
        run_configs(cfg, sources=list(sources))
    return str(ei.value)


def test_missing_variable_names_the_variable_module_and_file():
    cfg = default_rothc_configs()
    cfg[0]["Variables"] = [v for v in cfg[0]["Variables"] if "avgAirTemp" not in v]
    msg = _err(cfg)
    assert "run.json" in msg and "RothCModule" in msg and "'avgAirTemp'" in msg


def test_missing_soil_setting_names_the_key():
    cfg = default_rothc_configs()
    del _var(cfg, "soil")["soil"]["sdcmRateMultHums"]
    msg = _err(cfg)
    assert "run.json" in msg and "'soil'" in msg and "'sdcmRateMultHums'" in msg


def test_missing_module_order_or_library():
    cfg = default_rothc_configs()
    del cfg[0]["Modules"]["RothCModule"]["order"]
    assert "run.json: Modules.RothCModule.order is missing" in _err(cfg)
    cfg = default_rothc_configs()
    del cfg[0]["Modules"]["SoilCoverModule"]["library"]
    assert "run.json: Modules.SoilCoverModule.library is missing" in _err(cfg)


def test_wrong_time_series_type():
    cfg = default_rothc_configs()
    _var(cfg, "rainfall")["rainfall"]["transform"]["data"][3] = "24.0"
    msg = _err(cfg)
    assert "run.json" in msg and "'rainfall'" in msg and "data[3]" in msg and "'24.0'" in msg
    cfg = default_rothc_configs()
    _var(cfg, "presCM")["presCM"]["transform"]["data"] = 9.3
    assert "'presCM'" in _err(cfg) and "list of numbers" in _err(cfg)
    cfg = default_rothc_configs()
    _var(cfg, "presCM")["presCM"]["transform"]["data"] = []
    assert "is empty" in _err(cfg)
    cfg = default_rothc_configs()
    _var(cfg, "soilCover")["soilCover"]["transform"]["type"] = "TimeSeriesTransfrom"
    assert "unknown transform 'TimeSeriesTransfrom'" in _err(cfg)


def test_end_before_start():
    cfg = default_point_configs()
    cfg[0]["LocalDomain"]["end_date"] = "1919/12/31"
    msg = _err(cfg)
    assert "run.json: LocalDomain.end_date '1919/12/31' is not after start_date '1920/01/01'" in msg
    cfg[0]["LocalDomain"]["end_date"] = "1920/01/01"
    assert "is not after" in _err(cfg)
    cfg[0]["LocalDomain"]["end_date"] = "1924-12-31"
    assert "yyyy/mm/dd" in _err(cfg)


def test_unknown_module_and_library_names():
    cfg = default_rothc_configs()
    cfg[0]["Modules"]["RothCModul"] = cfg[0]["Modules"].pop("RothCModule")
    msg = _err(cfg)
    assert "run.json: Modules.RothCModul" in msg and "has no module 'RothCModul'" in msg
    cfg = default_rothc_configs()
    cfg[1]["Libraries"]["moja.flint.example.rothcc"] = "external"
    assert "libs.json: Libraries.moja.flint.example.rothcc: unknown library" in _err(cfg)
    cfg = default_rothc_configs()
    del cfg[1]["Libraries"]["moja.flint.example.rothc"]
    assert "library 'moja.flint.example.rothc' is not loaded" in _err(cfg)
    cfg = default_point_configs()
    cfg[0]["Modules"]["AggregatorLandUnit"] = {"library": "internal.flint", "order": 20}
    assert "not implemented by flintcloud" in _err(cfg)


def test_duplicate_order_and_missing_pool():
    cfg = default_point_configs()
    cfg[0]["Modules"]["TestModule2"]["order"] = 3
    assert "both have order 3" in _err(cfg)
    cfg = default_point_configs()
    cfg[0]["Modules"]["TestModule1"]["settings"]["pool_3"] = "Pool 4"
    assert "needs pool 'Pool 4' (settings.pool_3)" in _err(cfg)
    cfg = default_point_configs()
    cfg[0]["Variables"] = [v for v in cfg[0]["Variables"] if "variable 2" not in v]
    assert "needs variable 'variable 2'" in _err(cfg)


def test_errors_come_before_any_step(tmp_path):
    """build_simulation checks everything; a run never starts (nothing is written) on bad input."""
    cfg = default_rothc_configs()
    _var(cfg, "clayFrac")["clayFrac"] = "heavy"
    with pytest.raises(ConfigError, match="clayFrac"):
        build_simulation(parse_flint_config([("run.json", cfg[0]), ("libs.json", cfg[1])]))
    cfg = default_rothc_configs()
    _var(cfg, "soil")["soil"]["sampleDepth"] = 0.0
    assert "maxTSMDCvrd" in _err(cfg) and "sampleDepth" in _err(cfg)


def test_read_names_the_file(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(default_point_configs()[0]))
    b.write_text("{ not json")
    with pytest.raises(ConfigError, match=r"b\.json.*not valid JSON"):
        read_flint_config([a, b])
    with pytest.raises(ConfigError, match="not found"):
        read_flint_config([tmp_path / "missing.json"])


def test_nulls_are_dropped_as_poco_does():
    """A null setting is absent (TestModule default); a null in a series is removed (values shift)."""
    cfg = default_point_configs()
    cfg[0]["Modules"]["TestModule1"]["settings"]["ratio_1"] = None
    with_null = run_configs(cfg)
    cfg2 = default_point_configs()
    del cfg2[0]["Modules"]["TestModule1"]["settings"]["ratio_1"]
    assert [s.pools for s in with_null.steps] == [s.pools for s in run_configs(cfg2).steps]
    r = default_rothc_configs()
    data = _var(r, "rainfall")["rainfall"]["transform"]["data"]
    shifted = copy.deepcopy(r)
    data.insert(5, None)
    assert [s.pools for s in run_configs(r).steps] == [s.pools for s in run_configs(shifted).steps]


def test_pools_object_form_is_name_ordered_and_negative_pool_refused():
    cfg = default_point_configs()
    cfg[0]["Pools"] = {"Pool 3": 100.0, "Pool 1": 100.0, "Pool 2": 100.0}
    assert run_configs(cfg).pool_names == ["Pool 1", "Pool 2", "Pool 3"]
    cfg[0]["Pools"] = [{"Pool 1": -1.0}, "Pool 2", "Pool 3"]
    assert "cannot be less than 0.0" in _err(cfg)


def test_testmodule_ratio_2_quirk():
    """FLINT stores ratio_2 in the third ratio: ratio 2 is always 0.5."""
    from flintcloud.flint.testmodule import test_module_ratios

    assert test_module_ratios({"ratio_1": 0.4, "ratio_2": 0.3}) == (0.4, 0.5, 0.3)
    assert test_module_ratios({"ratio_2": 0.3, "ratio_3": 0.7}) == (0.5, 0.5, 0.7)
    cfg = default_point_configs()
    for m in ("TestModule2", "TestModule3"):
        del cfg[0]["Modules"][m]
    cfg[0]["Modules"]["TestModule1"]["settings"] = {"ratio_1": 0.1, "ratio_2": 0.2}
    step1 = dict(zip(["Pool 1", "Pool 2", "Pool 3"], run_configs(cfg).steps[1].pools))
    # 100 each: P1 -> P2 10, P2 -> P3 50 (ratio 2 = 0.5), P3 -> P1 20 (ratio_2 lands in ratio 3)
    assert step1 == {"Pool 1": 110.0, "Pool 2": 60.0, "Pool 3": 130.0}


def test_negative_transfers_refused_when_configured():
    cfg = default_point_configs()
    cfg[0]["LocalDomain"]["operationManager"]["allow_negative_transfers"] = False
    with pytest.raises(SimulationError, match="Negative transfer by TestModule"):
        run_configs(cfg)
    cfg[0]["LocalDomain"]["operationManager"]["name"] = "Ublas"
    assert "'Simple' operation manager only" in _err(cfg) or "\"Simple\" operation manager only" in _err(cfg)


def test_max_steps_for_callers_that_limit_run_length():
    cfg = default_rothc_configs()
    assert len(run_configs(cfg, max_steps=60).steps) == 61
    cfg[0]["LocalDomain"]["end_date"] = "2999/12/31"
    with pytest.raises(ConfigError, match="12960 monthly steps, more than the 600 allowed"):
        run_configs(cfg, max_steps=600)


def test_results_are_json_and_fixed_clock():
    r = run_configs(default_point_configs(), now=lambda: 0.0)
    doc = json.loads(r.to_json())
    assert doc["pools"] == ["Pool 1", "Pool 2", "Pool 3"] and len(doc["steps"]) == 61
    assert doc["steps"][1] == {"notification": "onOutputStep", "step": 1, "stepDate": "1920-01-31:23:59:59.999999",
                               "fracOfStep": 1.0, "stepLenInYears": 31 / 366, "Pool 1": 119.0, "Pool 2": 80.0,
                               "Pool 3": 101.0}
    assert doc["files"] == ["Example_Point_Flux.csv", "Example_Point_Stock.csv"]
    assert len(doc["fluxes"]) == 60 * 9
    assert r.to_csv() == run_configs(default_point_configs(), now=lambda: 0.0).to_csv()   # same clock, same text
    import time

    assert f"Started:{time.strftime('%c %Z', time.localtime(0))}" in r.to_csv()
