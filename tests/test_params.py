"""flintcloud.params: one loader for params.yaml, key registry, engines, output layout (issue 12 item 2)."""

from __future__ import annotations

import copy

import pytest
import yaml

from flintcloud import params as P
from flintcloud.errors import ConfigError
from shared_paths import REPO_ROOT


def repo_params() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_the_repository_params_yaml_is_accepted_and_typed():
    p = P.read_params(REPO_ROOT / "params.yaml")
    assert p.get("simulation.start_year") == 2010
    assert p.get("simulation.end_year") == 2020
    assert p.get("simulation.engine") in P.ENGINES
    assert p.get("project.dir") == "data/demo/project"
    assert p.get("simulation.spinup.minimum_rotation") == 10
    assert p.get("outputs.indicators")[:2] == ["Age", "Total_Ecosystem_C"]


@pytest.mark.parametrize("path, typo, hint", [
    (("simulation",), "end_yaer", "simulation.end_year"),
    (("simulation", "spinup"), "minimum_rotations", "simulation.spinup.minimum_rotation"),
    (("outputs",), "indicator", "outputs.indicators"),
    (("project", "layers"), "classifier", "project.layers.classifiers"),
    ((), "simulations", "simulation"),
])
def test_a_misspelt_key_is_an_error_naming_it_and_the_closest_valid_key(path, typo, hint):
    obj = repo_params()
    node = obj
    for part in path:
        node = node[part]
    node[typo] = 1
    dotted = ".".join((*path, typo))
    with pytest.raises(ConfigError) as err:
        P.parse_params(obj)
    assert f"unknown key {dotted!r}; did you mean {hint!r}?" in str(err.value)


def test_every_problem_is_listed_at_once_with_the_value_and_what_was_expected():
    obj = repo_params()
    obj["simulation"]["start_year"] = "2010"
    obj["simulation"]["engine"] = "gcbm"
    obj["report"]["include_maps"] = "yes"
    obj["project"]["layers"] = ["a"]
    with pytest.raises(ConfigError) as err:
        P.parse_params(obj)
    text = str(err.value)
    assert "simulation.start_year is '2010'; expected an integer" in text
    assert "simulation.engine is 'gcbm'; expected one of libcbm, gcbm-container" in text
    assert "report.include_maps is 'yes'; expected true or false" in text
    assert "project.layers is ['a']; expected a mapping (section 'project.layers')" in text


def test_executor_may_be_a_name_or_a_mapping_of_its_keys():
    obj = repo_params()
    obj["executor"] = "dask"
    assert P.parse_params(obj).get("executor") == "dask"
    obj["executor"] = {"kind": "dask", "adress": "tcp://x:8786"}
    with pytest.raises(ConfigError, match="unknown key 'executor.adress'; did you mean 'executor.address'"):
        P.parse_params(obj)


def test_defaults_come_from_the_registry_when_a_key_is_absent():
    p = P.parse_params({"simulation": {"start_year": 2000, "end_year": 2001}})
    assert p.get("simulation.engine") == "libcbm"
    assert p.get("simulation.spinup.enabled") is True
    assert p.get("report.decimals") == 1
    with pytest.raises(KeyError):
        p.get("simulation.not_a_key")


def test_adding_a_key_is_one_registration(monkeypatch):
    obj = repo_params()
    obj["regions"] = {"north": {"simulation.mean_annual_temperature": 3.0}}
    with pytest.raises(ConfigError, match="unknown key 'regions'"):
        P.parse_params(copy.deepcopy(obj))
    monkeypatch.setattr(P, "KEYS", P.KEYS)
    monkeypatch.setattr(P, "_BY_NAME", dict(P._BY_NAME))
    P.register(P.Key("regions", "mapping", None, "named regions"))
    assert P.parse_params(obj).get("regions")["north"] == {"simulation.mean_annual_temperature": 3.0}


def test_one_engine_registry_and_one_output_layout():
    from flintcloud import run
    from flintcloud.cli.run import command
    from flintcloud.gcbm.config_writer import KNOWN_ENGINES

    assert KNOWN_ENGINES == run.ENGINES == tuple(P.ENGINES) == ("libcbm", "gcbm-container")
    engine_option = next(o for o in command.params if o.name == "engine")
    assert tuple(engine_option.type.choices) == P.ENGINE_NAMES
    assert (run.RAW_DB, run.COMPILED_DB, run.SPATIAL_DIR, run.SUMMARY_FILE) == (
        "gcbm_output.db", "compiled_gcbm_output.db", "spatial", "run_summary.json")


def test_read_params_names_the_file_when_missing_or_not_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        P.read_params(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("simulation: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        P.read_params(bad)


def test_the_temperature_range_is_a_setting_with_a_registered_default():
    """issue 19 item 11: the plausible mean annual temperatures are a setting, default -60..60 deg C."""
    assert P.read_params(REPO_ROOT / "params.yaml").get("simulation.temperature_range") == (-60.0, 60.0)
    obj = repo_params()
    obj["simulation"]["temperature_range"] = [-30, 45]
    assert P.parse_params(obj).get("simulation.temperature_range") == [-30, 45]
    assert P.param_value(obj, "simulation.temperature_range") == ([-30, 45], None)
    for bad in ([45, -30], [0, float("inf")], [1], "warm", [True, 5]):
        obj["simulation"]["temperature_range"] = bad
        with pytest.raises(ConfigError, match=r"simulation.temperature_range is .*; expected \[low, high\], two "
                                              "finite numbers with low < high"):
            P.parse_params(obj)
        value, problem = P.param_value(obj, "simulation.temperature_range")
        assert value == (-60.0, 60.0) and "simulation.temperature_range" in problem


def test_a_key_given_twice_is_an_error_naming_the_key_and_the_lines(tmp_path):
    """Plain YAML keeps the last of two equal keys silently: simulate would run 2030 while the reader of
    params.yaml sees 2020. The one loader refuses it (the scenarios' loader is this one too)."""
    from flintcloud.scenarios.spec import load_params_text

    path = tmp_path / "params.yaml"
    path.write_text("simulation:\n  start_year: 2010\n  end_year: 2020\n  end_year: 2030\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path} line 4: key 'end_year' appears twice in one mapping "
                                          r"\(first at line 3\); YAML would silently keep the last one"):
        P.load_params_file(path)
    with pytest.raises(ConfigError, match="line 4: key 'end_year' appears twice"):
        P.read_params(path)
    with pytest.raises(ConfigError, match="line 4: key 'end_year' appears twice"):
        load_params_text(path.read_text(encoding="utf-8"))
    path.write_text("simulation:\n  start_year: 2010\nreport:\n  start_year: 2010\n", encoding="utf-8")
    assert P.load_params_file(path) == {"simulation": {"start_year": 2010}, "report": {"start_year": 2010}}
    assert P.load_params_file(REPO_ROOT / "params.yaml") == repo_params()  # the repository's own file is fine
