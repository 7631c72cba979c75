"""GCBM config set parsing: real projects and in-memory documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flintcloud.errors import ConfigError
from flintcloud.gcbm.config import parse_gcbm_config, read_gcbm_config, resolve_path

ROOT = Path("/proj/config")


def _layer(name: str) -> dict:
    return {"transform": {"type": "LocationIdxFromFlintDataTransform", "provider": "RasterTiled", "data_id": name}}


def _docs() -> dict:
    return {
        "localdomain.json": {
            "Libraries": {"moja.modules.cbm": "external", "moja.modules.zipper": "external"},
            "LocalDomain": {"start_date": "2010/01/01", "end_date": "2021/01/01", "landscape": {"provider": "RasterTiled"}},
        },
        "modules_cbm.json": {
            "Modules": {
                "CBMBuildLandUnitModule": {"order": 1},
                "CBMDisturbanceListener": {"enabled": True, "order": 3, "settings": {"vars": ["fire_2011", "mpb"]}},
                "CBMGrowthModule": {"enabled": True, "order": 7},
                "CBMDecayModule": {"enabled": False, "order": 8},
            }
        },
        "modules_output.json": {
            "Modules": {
                "WriteVariableGeotiff": {
                    "enabled": True,
                    "settings": {
                        "output_path": "..\\output",
                        "items": [
                            {"data_name": "NPP", "flux": {"from": ["Atmosphere"], "to": ["SoftwoodMerch"]}},
                            {"data_name": "Age", "variable_name": "age", "enabled": False},
                        ],
                    },
                },
                "CBMAggregatorSQLiteWriter": {"enabled": True, "settings": {"databasename": "output\\gcbm_output.db"}},
            }
        },
        "spinup.json": {
            "Spinup": {"enabled": True, "sequencer": "CBMSpinupSequencer"},
            "SpinupVariables": {"delay": 2, "minimum_rotation": 12, "run_delay": True},
            "Variables": {"spinup_parameters": {"transform": {"type": "SQLQueryTransform", "queryString": "SELECT 1"}}},
            "SpinupModules": {"CBMGrowthModule": {"order": 2}, "CBMSpinupSequencer": {"order": 1}},
        },
        "variables.json": {
            "Variables": {
                "admin_boundary": "British Columbia",
                "eco_boundary": _layer("eco"),
                "initial_age": _layer("age"),
                "mean_annual_temperature": 2.5,
                "age_class_range": 10,
                "age_maximum": 200,
                "slow_ag_to_bg_mixing_rate": 0.01,
                "initial_classifier_set": {"transform": {"type": "CompositeTransform", "vars": ["Species", "Site"]}},
                "Species": _layer("species_layer"),
                "Site": "G",
                "fire_2011": _layer("fire_2011"),
                "mpb": _layer("mpb"),
                "eco": _layer("eco"),
            }
        },
        "provider_config.json": {
            "Providers": {
                "SQLite": {"type": "SQLite", "path": "..\\input_database\\gcbm_input.db"},
                "RasterTiled": {
                    "layers": [
                        {"name": n, "layer_path": f"..\\layers\\tiled\\{n}_moja.tiff"}
                        for n in ["species_layer", "age", "fire_2011", "mpb", "eco"]
                    ]
                },
            }
        },
    }


def test_parse_in_memory_docs():
    cfg = parse_gcbm_config(_docs(), ROOT)
    assert (cfg.start_year, cfg.end_year, cfg.n_years) == (2010, 2020, 11)
    assert cfg.db_path == Path("/proj/input_database/gcbm_input.db")
    assert cfg.layers["mpb"] == Path("/proj/layers/tiled/mpb_moja.tiff")
    assert cfg.classifier_names == ["Species", "Site"]
    assert cfg.classifier_layers == ["species_layer"]
    assert cfg.classifier_values == {"Site": "G"}
    assert cfg.age_layer == "age" and cfg.age_value is None
    assert cfg.temperature_layer is None and cfg.temperature_value == 2.5
    assert (cfg.admin_boundary, cfg.admin_boundary_layer) == ("British Columbia", False)
    assert (cfg.eco_boundary, cfg.eco_boundary_layer) == ("eco", True)
    assert cfg.disturbance_layers == ["fire_2011", "mpb"]
    assert cfg.spinup.delay == 2 and cfg.spinup.minimum_rotation == 12 and cfg.spinup.run_delay is True
    assert cfg.spinup.parameters_query == "SELECT 1"
    assert cfg.spinup.modules == ["CBMSpinupSequencer", "CBMGrowthModule"]
    assert [i["data_name"] for i in cfg.output_items] == ["NPP"]
    assert cfg.output_path == Path("/proj/output")
    assert cfg.output_db_path == Path("/proj/config/output/gcbm_output.db")
    assert (cfg.age_class_range, cfg.age_maximum, cfg.slow_mixing_rate) == (10, 200, 0.01)
    assert "CBMDecayModule" not in cfg.enabled_modules and "CBMGrowthModule" in cfg.enabled_modules
    assert cfg.libraries["moja.modules.zipper"] == "external"


def test_end_date_is_exclusive_only_on_january_first():
    docs = _docs()
    docs["localdomain.json"]["LocalDomain"]["end_date"] = "2020/12/31"
    assert parse_gcbm_config(docs, ROOT).end_year == 2020
    docs["localdomain.json"]["LocalDomain"]["end_date"] = "2011/01/01"
    assert parse_gcbm_config(docs, ROOT).end_year == 2010


def test_disabled_listener_means_no_disturbance_layers():
    docs = _docs()
    docs["modules_cbm.json"]["Modules"]["CBMDisturbanceListener"]["enabled"] = False
    assert parse_gcbm_config(docs, ROOT).disturbance_layers == []


def test_variables_may_live_in_any_listed_file():
    docs = _docs()
    temp = docs["variables.json"]["Variables"].pop("mean_annual_temperature")
    docs["spinup.json"]["Variables"]["mean_annual_temperature"] = temp
    assert parse_gcbm_config(docs, ROOT).temperature_value == 2.5


def _broken(path: list, value) -> dict:
    docs = copy.deepcopy(_docs())
    node = docs
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return docs


@pytest.mark.parametrize(
    "path, value, message",
    [
        (["localdomain.json", "LocalDomain", "start_date"], KeyError, "no 'start_date'"),
        (["localdomain.json", "LocalDomain", "end_date"], "2009/01/01", "must be after start_date"),
        (["localdomain.json", "LocalDomain", "start_date"], "01-01-2010", "not a date 'YYYY/MM/DD'"),
        (["localdomain.json", "LocalDomain", "start_date"], "2010/02/30", "not a valid date"),
        (["provider_config.json", "Providers", "SQLite"], KeyError, "no SQLite provider"),
        (["variables.json", "Variables", "initial_classifier_set"], KeyError, "initial_classifier_set must be"),
        (["variables.json", "Variables", "Species"], KeyError, "names 'Species', which is not a variable"),
        (["variables.json", "Variables", "Species"], _layer("nope"), "reads layer 'nope', which is not in"),
        (["variables.json", "Variables", "mean_annual_temperature"], "warm", "must be a number"),
        (["variables.json", "Variables", "age_maximum"], 2.5, "age_maximum 2.5 must be an integer"),
        (["variables.json", "Variables", "mpb"], 3, "disturbance variable 'mpb' must be a raster layer"),
        (["variables.json", "Variables", "initial_age"],
         {"transform": {"type": "SQLQueryTransform"}}, "uses transform 'SQLQueryTransform'"),
        (["modules_cbm.json", "Modules", "CBMDisturbanceListener", "settings", "vars"], ["ghost"],
         "reads 'ghost', which is not a variable"),
    ],
)
def test_bad_docs_raise_config_error_naming_the_value(path, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_gcbm_config(_broken(path, value), ROOT)


def test_resolve_path_accepts_windows_and_posix():
    assert resolve_path("..\\input_database\\gcbm_input.db", ROOT) == Path("/proj/input_database/gcbm_input.db")
    assert resolve_path("../layers/a.tiff", ROOT) == Path("/proj/layers/a.tiff")
    assert resolve_path("/abs/a.tiff", ROOT) == Path("/abs/a.tiff")
    with pytest.raises(ConfigError, match="expected a file path"):
        resolve_path("", ROOT)


def test_read_reports_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match=r"gcbm_config\.cfg' not found"):
        read_gcbm_config(tmp_path)
    (tmp_path / "gcbm_config.cfg").write_text("config=localdomain.json\n")
    with pytest.raises(ConfigError, match=r"localdomain\.json' not found"):
        read_gcbm_config(tmp_path)
    (tmp_path / "localdomain.json").write_text('{"LocalDomain": {,}}')
    with pytest.raises(ConfigError, match=r"localdomain\.json' is not valid JSON \(line 1"):
        read_gcbm_config(tmp_path)
    (tmp_path / "gcbm_config.cfg").write_text("just words\n")
    with pytest.raises(ConfigError, match="line 1: expected 'config=<file>.json'"):
        read_gcbm_config(tmp_path)


def test_read_round_trips_docs_written_to_disk(tmp_path):
    docs = _docs()
    names = [n for n in docs if n != "provider_config.json"]
    (tmp_path / "gcbm_config.cfg").write_text("\n".join(f"config={n}" for n in names) + "\n")
    for name, doc in docs.items():
        (tmp_path / name).write_text(json.dumps(doc))
    from_disk = read_gcbm_config(tmp_path)
    assert from_disk == parse_gcbm_config(docs, tmp_path.resolve())
    assert read_gcbm_config(tmp_path / "gcbm_config.cfg") == from_disk


def test_flint_cloud_demo(flint_demo):
    cfg = read_gcbm_config(flint_demo / "config")
    assert (cfg.start_year, cfg.end_year) == (2010, 2020)
    assert cfg.db_path == (flint_demo / "input_database" / "gcbm_input.db").resolve()
    assert cfg.db_path.is_file()
    assert all(p.is_file() for p in cfg.layers.values())
    assert cfg.classifier_layers == ["Classifier2", "Classifier1"]
    assert cfg.age_layer == "initial_age"
    assert cfg.temperature_layer == "mean_annual_temperature"
    assert (cfg.admin_boundary, cfg.eco_boundary) == ("British Columbia", "Taiga Plains")
    assert sorted(cfg.disturbance_layers) == [f"disturbances_{y}" for y in (2011, 2012, 2013, 2014, 2015, 2016, 2018)]
    assert cfg.spinup.enabled and cfg.spinup.minimum_rotation == 10
    assert len(cfg.output_items) == 21
    assert cfg.output_db_path == (flint_demo / "output" / "gcbm_output.db").resolve()


def test_belize_project_windows_paths_and_extra_library(belize_project):
    cfg = read_gcbm_config(belize_project / "gcbm_project")
    assert (cfg.start_year, cfg.end_year) == (1900, 2050)
    assert cfg.db_path == (belize_project / "input_database" / "gcbm_input.db").resolve()
    assert cfg.db_path.is_file()
    assert cfg.layers["LifeZone"] == (belize_project / "layers" / "tiled" / "LifeZone_moja.tiff").resolve()
    assert all(p.is_file() for p in cfg.layers.values())
    assert cfg.classifier_layers == ["LifeZone"]
    assert cfg.age_layer is None and cfg.age_value == 0
    assert cfg.disturbance_layers == []
    assert "moja.modules.zipper" in cfg.libraries
    assert cfg.output_db_path == (belize_project / "gcbm_project" / "output" / "gcbm_output.db").resolve()


@settings(deadline=None, max_examples=60)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
        max_leaves=8,
    ),
    st.sampled_from([
        ["variables.json", "Variables"],
        ["variables.json", "Variables", "initial_classifier_set"],
        ["localdomain.json", "LocalDomain"],
        ["provider_config.json", "Providers", "RasterTiled", "layers"],
        ["modules_cbm.json", "Modules", "CBMDisturbanceListener", "settings"],
        ["spinup.json", "SpinupVariables"],
    ]),
)
def test_garbage_anywhere_gives_config_error_or_a_config(garbage, path):
    try:
        parse_gcbm_config(_broken(path, garbage), ROOT)
    except ConfigError:
        pass
