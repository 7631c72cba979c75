"""params.yaml `scenarios:` parsing: every bad definition named by scenario and key, before anything runs."""

from __future__ import annotations

import pytest

from flintcloud.errors import ConfigError
from flintcloud.scenarios.spec import (
    LayerRoles,
    check_against_project,
    load_params_text,
    parse_or_raise,
    parse_scenarios,
    scenario_params,
)

PARAMS = {
    "project": {"dir": "data/demo/project", "db": "data/demo/project/input_database/gcbm_input.db",
                "layers_dir": None, "layers": {"disturbances": ["fire_2011", "harvest_2015"], "temperature": None}},
    "simulation": {"start_year": 2010, "end_year": 2020, "spinup": {"delay": 0}},
    "outputs": {"years": None},
    "report": {"title": "x"},
    "executor": {"kind": "local"},
}
ROLES = LayerRoles({"fire_2011": "disturbance", "harvest_2015": "disturbance", "mat": "temperature",
                    "age": "age"}, frozenset({"Wildfire", "Clearcut"}))


def with_alternatives(alts: dict, **extra) -> dict:
    return {**PARAMS, "scenarios": {"baseline": {"name": "baseline", "title": "Base"}, "alternatives": alts, **extra}}


def problems_of(alts: dict) -> list[str]:
    scenarios, problems = parse_scenarios(with_alternatives(alts))
    return problems + check_against_project(scenarios.alternatives, ROLES, "proj")


def test_a_valid_section_parses_into_operations():
    s = parse_or_raise(with_alternatives({
        "later": {"title": "Later harvest", "params": {"simulation.end_year": 2030},
                  "inputs": [{"shift_years": {"layers": ["harvest_2015"], "years": 5}},
                             {"keep_fraction": {"disturbance_type": "Wildfire", "fraction": 0.25, "seed": 3}},
                             {"temperature_offset": 1.5}]},
    }))
    assert s.names() == ["baseline", "later"]
    later = s.get("later")
    assert later.params == {"simulation.end_year": 2030}
    assert [(o.kind, o.key) for o in later.inputs] == [
        ("shift_years", "inputs[0].shift_years"), ("keep_fraction", "inputs[1].keep_fraction"),
        ("temperature_offset", "inputs[2].temperature_offset")]
    assert later.inputs[0].layers == ("harvest_2015",) and later.inputs[0].years == 5
    assert later.inputs[1].fraction == 0.25 and later.inputs[1].seed == 3 and later.inputs[1].layers is None
    assert later.inputs[2].offset == 1.5


def test_a_type_edit_on_pixel_values_that_mix_types_names_layer_value_and_types():
    roles = LayerRoles(ROLES.layers, ROLES.disturbance_types, {"harvest_2015": {3: ("Clearcut", "Wildfire")}})
    scenarios, problems = parse_scenarios(with_alternatives({
        "thin": {"inputs": [{"keep_fraction": {"disturbance_type": "Wildfire", "fraction": 0.5, "seed": 1}}]},
        "nofire_2011": {"inputs": [{"drop_events": {"layers": ["fire_2011"], "disturbance_type": "Wildfire"}}]},
        "all": {"inputs": [{"drop_events": {"layers": ["harvest_2015"]}}]},  # every type: whole pixels are right
        "later": {"inputs": [{"shift_years": {"disturbance_type": "Wildfire", "years": 2}}]},  # edits events
    }))
    assert problems == []
    assert check_against_project(scenarios.alternatives, roles, "proj") == [
        "scenario 'thin': key inputs[0].keep_fraction.disturbance_type: layer 'harvest_2015' pixel value 3 holds "
        "events of several types (Clearcut, Wildfire); keep_fraction of 'Wildfire' edits whole pixels and would drop "
        "the other types' events with them: give each type its own pixel value in the sidecar, or leave out "
        "disturbance_type"]


def test_a_layer_that_does_not_exist_names_scenario_and_key():
    problems = problems_of({"nofire": {"inputs": [{"drop_layers": ["fire_2099"]}]}})
    assert problems == ["scenario 'nofire': key 'inputs[0].drop_layers': layer 'fire_2099' does not exist in "
                        "project 'proj' (layers: fire_2011, harvest_2015, mat, age)"]


def test_an_override_that_is_not_a_params_key_names_scenario_and_key():
    problems = problems_of({"longer": {"params": {"simulation.end_yr": 2030, "simulation.spinup.delay": 2}}})
    assert problems == ["scenario 'longer': key 'params.simulation.end_yr' is not a params.yaml key"]


@pytest.mark.parametrize("key", ["project.dir", "report.title", "executor.kind", "project.demo.seed"])
def test_keys_a_scenario_may_not_override(key):
    problems = problems_of({"x": {"params": {key: 1}}})
    assert len(problems) == 1 and f"key 'params.{key}' cannot be overridden by a scenario" in problems[0]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "half", True])
def test_a_fraction_outside_0_1_names_scenario_and_key(fraction):
    problems = problems_of({"thin": {"inputs": [{"keep_fraction": {"fraction": fraction, "seed": 1}}]}})
    assert problems == [f"scenario 'thin': key inputs[0].keep_fraction.fraction must be a number in [0, 1], "
                        f"got {fraction!r}"]


def test_two_scenarios_with_one_name_in_params_yaml():
    text = """
scenarios:
  alternatives:
    no_fire:
      inputs: [{drop_layers: [fire_2011]}]
    no_fire:
      inputs: [{drop_layers: [harvest_2015]}]
"""
    with pytest.raises(ConfigError, match=r"line 6: key 'no_fire' appears twice in one mapping \(first at line 4\); "
                                          "two scenarios cannot share a name"):
        load_params_text(text)


def test_an_alternative_named_like_the_baseline():
    problems = problems_of({"baseline": {"inputs": [{"drop_layers": ["fire_2011"]}]}})
    assert problems == ["scenario 'baseline': key 'scenarios.alternatives.baseline' has the baseline's name; "
                        "two scenarios cannot share a name"]


def test_other_bad_definitions_are_all_listed_at_once():
    problems = problems_of({
        "a b": {},
        "ops": {"inputs": [{"burn": {}}, {"scale_events": {"factor": 2}}, {"shift_years": {"years": 1.5}},
                           {"drop_events": {"disturbance_type": "Insects"}}, {"drop_layers": ["mat"]},
                           {"replace_layer": {"layer": "harvest_2015", "with": "../secret.tif"}}],
                "colour": "red"},
    })
    text = "\n".join(problems)
    assert "scenario 'a b': key 'scenarios.alternatives.a b': a name is letters" in text
    assert "scenario 'ops': key 'colour' is not a scenario setting" in text
    assert "scenario 'ops': key 'inputs[0].burn' is not an input operation" in text
    assert "scenario 'ops': key inputs[1].scale_events.seed is missing" in text
    assert "scenario 'ops': key inputs[2].shift_years.years must be a whole number of years, got 1.5" in text
    assert "scenario 'ops': key inputs[5].replace_layer.with must be a .tif/.tiff path inside" in text
    # 'ops' had parse problems, so it is not checked against the project; a clean one is:
    assert problems_of({"ins": {"inputs": [{"drop_events": {"disturbance_type": "Insects"}},
                                           {"drop_layers": ["mat"]}]}}) == [
        "scenario 'ins': key inputs[0].drop_events.disturbance_type: 'Insects' is not a disturbance type of "
        "project 'proj' (types: Clearcut, Wildfire)",
        "scenario 'ins': key 'inputs[1].drop_layers': layer 'mat' is a temperature layer, not a disturbance layer",
    ]


def test_scenario_params_apply_overrides_and_move_the_project():
    s = parse_or_raise(with_alternatives({
        "x": {"params": {"simulation.end_year": 2030}, "inputs": [{"drop_layers": ["fire_2011"]}]}}))
    out = scenario_params(with_alternatives({}), s.get("x"), "build/scenarios/x/project", dropped_layers=["fire_2011"])
    assert out["simulation"]["end_year"] == 2030 and out["simulation"]["start_year"] == 2010
    assert out["project"]["dir"] == "build/scenarios/x/project"
    assert out["project"]["db"] == "build/scenarios/x/project/input_database/gcbm_input.db"
    assert out["project"]["layers"]["disturbances"] == ["harvest_2015"]
    assert set(out) == {"project", "simulation", "outputs"}  # no report/executor/scenarios
    assert PARAMS["simulation"]["end_year"] == 2020  # the base params are not touched
