"""Building scenario projects from a real (small, seeded) demo project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from flintcloud.errors import ConfigError
from flintcloud.scenarios.build import build_scenario, read_params_file

from .conftest import CLEARCUT, base_params


def _pixels(project: Path, layer: str) -> np.ndarray:
    with rasterio.open(project / "layers" / "tiled" / f"{layer}.tiff") as src:
        return src.read(1)


def _sidecar(project: Path, layer: str) -> dict:
    return json.loads((project / "layers" / "tiled" / f"{layer}.json").read_text())


def _codes(project: Path, layer: str, dtype: str) -> list[int]:
    return [int(k) for k, v in _sidecar(project, layer)["attributes"].items() if v["disturbance_type"] == dtype]


def _disturbance_layers(project: Path) -> list[str]:
    return sorted(p.stem for p in (project / "layers" / "tiled").glob("disturbances_*.tiff"))


def _count(project: Path, layer: str, dtype: str) -> int:
    return int(np.isin(_pixels(project, layer), _codes(project, layer, dtype)).sum())


def test_no_clearcut_removes_every_clearcut_pixel_and_nothing_else(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = base_params(demo_project, {"no_cc": {"inputs": [{"drop_events": {"disturbance_type": CLEARCUT}}]}})
    result = build_scenario(params, "no_cc", demo_project, tmp_path / "out")
    out = result.project_dir
    layers = _disturbance_layers(demo_project)
    assert sum(_count(demo_project, n, CLEARCUT) for n in layers) > 0
    for name in layers:
        assert _count(out, name, CLEARCUT) == 0
        assert _count(out, name, "Wildfire") == _count(demo_project, name, "Wildfire")
    # every other file is byte for byte the base project's
    for src in demo_project.rglob("*"):
        if src.is_file() and not src.name.startswith("disturbances_"):
            assert (out / src.relative_to(demo_project)).read_bytes() == src.read_bytes(), src
    written = yaml.safe_load((tmp_path / "out" / "params.yaml").read_text())
    assert written["project"]["dir"] == out.as_posix() and "scenarios" not in written
    summary = json.loads((tmp_path / "out" / "scenario.json").read_text())
    assert summary["name"] == "no_cc" and all(c["pixels_after"] == 0 for c in summary["changes"])


def test_wildfire_doubled_and_reproducible(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    alt = {"fire2": {"inputs": [{"scale_events": {"disturbance_type": "Wildfire", "factor": 2.0, "seed": 1}}]}}
    params = base_params(demo_project, alt)
    a = build_scenario(params, "fire2", demo_project, tmp_path / "a").project_dir
    b = build_scenario(params, "fire2", demo_project, tmp_path / "b").project_dir
    for name in _disturbance_layers(demo_project):
        assert _count(a, name, "Wildfire") == 2 * _count(demo_project, name, "Wildfire")
        assert (_pixels(a, name) == _pixels(b, name)).all()
        # added fire only where the landscape is simulated (an age value) and the layer had no event
        age = _pixels(demo_project, "initial_age")
        added = (_pixels(a, name) != _pixels(demo_project, name))
        with rasterio.open(demo_project / "layers" / "tiled" / "initial_age.tiff") as src:
            assert not (added & (age == src.nodata)).any()


def test_keep_fraction_shift_years_temperature_and_drop_layers(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layers = _disturbance_layers(demo_project)
    alt = {"mix": {"params": {"simulation.end_year": 2016},
                   "inputs": [{"keep_fraction": {"disturbance_type": "Wildfire", "fraction": 0.5, "seed": 4}},
                              {"shift_years": {"layers": [layers[1]], "years": 2}},
                              {"drop_layers": [layers[0]]},
                              {"temperature_offset": -1.5}]}}
    result = build_scenario(base_params(demo_project, alt), "mix", demo_project, tmp_path / "o")
    out = result.project_dir
    for name in layers[1:]:
        n = _count(demo_project, name, "Wildfire")
        assert _count(out, name, "Wildfire") == round(0.5 * n)
    assert all(v["year"] == int(layers[1].rsplit("_", 1)[1]) + 2 for v in _sidecar(out, layers[1])["attributes"].values())
    assert not (out / "layers" / "tiled" / f"{layers[0]}.tiff").exists()
    study = json.loads((out / "layers" / "tiled" / "study_area.json").read_text())
    assert layers[0] not in [e["name"] for e in study["layers"]] and layers[1] in [e["name"] for e in study["layers"]]
    with rasterio.open(demo_project / "layers" / "tiled" / "mean_annual_temperature.tiff") as src:
        base_t, nodata = src.read(1), src.nodata
    new_t = _pixels(out, "mean_annual_temperature")
    data = ~np.isclose(base_t, nodata)
    assert np.allclose(new_t[data], base_t[data] - 1.5, atol=1e-5) and (new_t[~data] == base_t[~data]).all()
    assert read_params_file(tmp_path / "o" / "params.yaml")["simulation"]["end_year"] == 2016


def test_replace_layer_takes_the_file_from_files_dir(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layers = _disturbance_layers(demo_project)
    files = tmp_path / "data" / "scenarios"
    files.mkdir(parents=True)
    shutil.copy(demo_project / "layers" / "tiled" / f"{layers[2]}.tiff", files / "alt.tiff")
    shutil.copy(demo_project / "layers" / "tiled" / f"{layers[2]}.json", files / "alt.json")
    alt = {"swap": {"inputs": [{"replace_layer": {"layer": layers[0], "with": "alt.tiff"}}]}}
    out = build_scenario(base_params(demo_project, alt), "swap", demo_project, tmp_path / "o").project_dir
    assert (out / "layers" / "tiled" / f"{layers[0]}.tiff").read_bytes() == (files / "alt.tiff").read_bytes()
    assert _sidecar(out, layers[0]) == _sidecar(demo_project, layers[2])


def test_a_sidecar_value_listing_two_types_is_refused_for_one_types_edit(demo_project, tmp_path, monkeypatch):
    """A sidecar attribute listing a wildfire and a clearcut event: drop_events of the clearcut type would have
    dropped the wildfire too (the pixel value goes). Refused before anything is built; dropping every type of
    the layer still works."""
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    shutil.copytree(demo_project, project)
    layer = _disturbance_layers(project)[0]
    doc = _sidecar(project, layer)
    fire = next(k for k, v in doc["attributes"].items() if v["disturbance_type"] == "Wildfire")
    year = doc["attributes"][fire]["year"]
    doc["attributes"][fire] = [{"year": year, "disturbance_type": "Wildfire", "transition": 1},
                               {"year": year + 2, "disturbance_type": CLEARCUT, "transition": 1}]
    (project / "layers" / "tiled" / f"{layer}.json").write_text(json.dumps(doc, indent=4))
    params = base_params(Path("proj"), {"no_cc": {"inputs": [{"drop_events": {"disturbance_type": CLEARCUT}}]},
                                        "no_dist": {"inputs": [{"drop_events": {"layers": [layer]}}]}})
    with pytest.raises(ConfigError) as err:
        build_scenario(params, "no_cc", Path("proj"), tmp_path / "o")
    assert str(err.value) == (
        f"params.yaml scenarios: scenario 'no_cc': key inputs[0].drop_events.disturbance_type: layer {layer!r} "
        f"pixel value {fire} holds events of several types ({CLEARCUT}, Wildfire); drop_events of {CLEARCUT!r} "
        "edits whole pixels and would drop the other types' events with them: give each type its own pixel value "
        "in the sidecar, or leave out disturbance_type")
    assert not (tmp_path / "o").exists()
    out = build_scenario(base_params(Path("proj"), {"no_dist": params["scenarios"]["alternatives"]["no_dist"]}),
                         "no_dist", Path("proj"), tmp_path / "o").project_dir
    assert (_pixels(project, layer) == int(fire)).any() and not (_pixels(out, layer) == int(fire)).any()


def test_one_bad_scenario_stops_every_scenario_before_anything_is_written(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    alts = {"good": {"inputs": [{"drop_events": {"disturbance_type": CLEARCUT}}]},
            "bad": {"inputs": [{"drop_layers": ["harvest_2099"]}]},
            "missing": {"inputs": [{"replace_layer": {"layer": "initial_age", "with": "nope.tif"}}]}}
    with pytest.raises(ConfigError) as err:
        build_scenario(base_params(demo_project, alts), "good", demo_project, tmp_path / "o")
    message = str(err.value)
    assert "scenario 'bad': key 'inputs[0].drop_layers': layer 'harvest_2099' does not exist in project" in message
    assert "scenario 'missing': key inputs[0].replace_layer.with: file 'nope.tif' not found in scenarios.files_dir" in message
    assert not (tmp_path / "o").exists()
