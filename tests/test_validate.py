"""flintcloud.validate: one pass over a GCBM project, every problem reported.

`build_project` (also used by tests/test_bad_input.py and
tests/gcbm/test_config_writer.py) writes a tiny but complete GCBM project in
tmp_path: 6x8 px EPSG:4326 layers (two classifiers, age, temperature, one
disturbance layer) with sidecars, and a gcbm_input.db with the tables and
columns flintcloud.inputdb requires, three growth curves and two
disturbance types.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from flintcloud.errors import ValidationError
from flintcloud.gcbm.config_writer import ConfigSettings, write_gcbm_config
from flintcloud.inputdb.reader import REQUIRED_COLUMNS
from flintcloud.validate import (
    ValidationReport,
    validate_params,
    validate_project,
    write_report,
)

ROWS, COLS = 6, 8
CELL = 0.00025
ORIGIN = (-106.0, 55.0)
START, END = 2010, 2020
MAX_CURVE_AGE = 200

# Pixel layouts (row-major). 255 / 32767 = nodata.
CLASSIFIER1 = np.array([[1, 1, 1, 1, 2, 2, 2, 2]] * 3 + [[1, 1, 2, 2, 255, 255, 1, 1]] * 3, dtype=np.uint8)
CLASSIFIER2 = np.array([[1, 1, 2, 2, 1, 1, 1, 1]] * 6, dtype=np.uint8)
AGES = (np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS) * 3 + 5)
TEMPERATURE = np.linspace(-3.0, 1.0, ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS)
DISTURBANCE = np.full((ROWS, COLS), 255, dtype=np.uint8)
DISTURBANCE[0, :3] = 1
DISTURBANCE[5, 6:] = 2

CLASSIFIER1_ATTRS = {"1": "TA", "2": "BS"}
CLASSIFIER2_ATTRS = {"1": "5", "2": "6"}
DISTURBANCE_ATTRS = {
    "1": {"year": 2012, "disturbance_type": "Wildfire", "transition": 1},
    "2": {"year": 2015, "disturbance_type": "Clearcut harvesting with salvage", "transition": 1},
}
# (Classifier1, Classifier2) -> growth curve; BS matches any Classifier2 through '?'.
CURVES = {1: ("TA", "5"), 2: ("TA", "6"), 3: ("BS", "?")}
N_VALID = int((CLASSIFIER1 != 255).sum())


def write_layer(folder: Path, name: str, data: np.ndarray, *, nodata, attributes=None, sidecar=True,
                transform=None, crs="EPSG:4326", layer_data=None) -> Path:
    """A GeoTIFF + GCBM sidecar (`<name>.json`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.tiff"
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name,
                   crs=crs, transform=transform or Affine(CELL, 0.0, ORIGIN[0], 0.0, -CELL, ORIGIN[1]), nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    if sidecar:
        obj = {
            "layer_type": "GridLayer",
            "layer_data": layer_data or {"uint8": "Byte", "int16": "Int16", "float32": "Float32"}[data.dtype.name],
            "nodata": nodata,
            "tileLatSize": 1.0, "tileLonSize": 1.0, "blockLatSize": 0.1, "blockLonSize": 0.1,
            "cellLatSize": CELL, "cellLonSize": CELL,
        }
        if attributes is not None:
            obj["attributes"] = attributes
        (folder / f"{name}.json").write_text(json.dumps(obj, indent=2))
    return path


def build_db(path: Path, *, curves=CURVES, max_age: int = MAX_CURVE_AGE,
             disturbance_types=("Wildfire", "Clearcut harvesting with salvage"),
             spatial_units=(("British Columbia", "Taiga Plains"),)) -> Path:
    """A gcbm_input.db with every table/column flintcloud.inputdb requires and the rows validation reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for table, columns in REQUIRED_COLUMNS.items():
            cols = list(dict.fromkeys(("id", *columns))) if "id" in columns or table not in (
                "growth_curve_classifier_value", "growth_curve_component_value", "disturbance_matrix_value",
                "disturbance_matrix_association", "turnover_parameter_association", "transition_classifier_value",
                "vol_to_bio_factor_association") else list(columns)
            conn.execute(f'CREATE TABLE "{table}" ({", ".join(cols)})')
        conn.executemany("INSERT INTO classifier (id, name) VALUES (?, ?)", [(1, "Classifier1"), (2, "Classifier2")])
        values = {}
        for cid, vals in ((1, ("TA", "BS", "?")), (2, ("5", "6", "?"))):
            for v in vals:
                values[(cid, v)] = len(values) + 1
                conn.execute("INSERT INTO classifier_value (id, classifier_id, value) VALUES (?, ?, ?)",
                             (values[(cid, v)], cid, v))
        conn.execute("INSERT INTO forest_type (id, name) VALUES (1, 'Softwood')")
        conn.execute("INSERT INTO genus (id, name) VALUES (1, 'Pine')")
        conn.execute("INSERT INTO species (id, name, forest_type_id, genus_id) VALUES (1, 'Jack pine', 1, 1)")
        for gid, (c1, c2) in curves.items():
            conn.execute("INSERT INTO growth_curve (id) VALUES (?)", (gid,))
            for cid, v in ((1, c1), (2, c2)):
                conn.execute("INSERT INTO growth_curve_classifier_value (growth_curve_id, classifier_value_id) "
                             "VALUES (?, ?)", (gid, values[(cid, v)]))
            conn.execute("INSERT INTO growth_curve_component (id, growth_curve_id, species_id) VALUES (?, ?, 1)",
                         (gid, gid))
            conn.executemany(
                "INSERT INTO growth_curve_component_value (growth_curve_component_id, age, merchantable_volume) "
                "VALUES (?, ?, ?)", [(gid, a, 2.0 * a) for a in range(0, max_age + 1, 10)])
        for i, name in enumerate(disturbance_types, 1):
            conn.execute("INSERT INTO disturbance_type (id, name, code, transition_land_class_id) VALUES (?, ?, ?, 1)",
                         (i, name, i))
        conn.execute("INSERT INTO spinup_parameter (id, historic_disturbance_type_id, return_interval, max_rotations, "
                     "mean_annual_temperature) VALUES (1, 1, 125, 30, -0.5)")
        admins = {a: i for i, a in enumerate(dict.fromkeys(a for a, _ in spatial_units), 1)}
        ecos = {e: i for i, e in enumerate(dict.fromkeys(e for _, e in spatial_units), 1)}
        conn.executemany("INSERT INTO admin_boundary (id, name, stump_parameter_id) VALUES (?, ?, 1)",
                         [(i, a) for a, i in admins.items()])
        conn.executemany("INSERT INTO eco_boundary (id, name) VALUES (?, ?)", [(i, e) for e, i in ecos.items()])
        for i, (a, e) in enumerate(spatial_units, 1):
            conn.execute("INSERT INTO spatial_unit (id, admin_boundary_id, eco_boundary_id, spinup_parameter_id) "
                         "VALUES (?, ?, ?, 1)", (i, admins[a], ecos[e]))
            # every disturbance type has a matrix in every spatial unit (validate reads the project as the
            # run will, and the run's spinup needs the historic type's matrix)
            conn.executemany("INSERT INTO disturbance_matrix_association (spatial_unit_id, disturbance_type_id, "
                             "disturbance_matrix_id) VALUES (?, ?, 1)",
                             [(i, t) for t in range(1, len(disturbance_types) + 1)])
    conn.close()
    return path


def build_project(root: Path, name: str = "project") -> Path:
    """A valid GCBM project folder under `root`."""
    project = root / name
    tiled = project / "layers" / "tiled"
    write_layer(tiled, "Classifier1", CLASSIFIER1, nodata=255, attributes=CLASSIFIER1_ATTRS)
    write_layer(tiled, "Classifier2", CLASSIFIER2, nodata=255, attributes=CLASSIFIER2_ATTRS)
    write_layer(tiled, "initial_age", AGES, nodata=32767)
    write_layer(tiled, "mean_annual_temperature", TEMPERATURE, nodata=3.4e38)
    write_layer(tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=DISTURBANCE_ATTRS)
    build_db(project / "input_database" / "gcbm_input.db")
    return project


def settings(**kw) -> ConfigSettings:
    base = dict(start_year=START, end_year=END, admin_boundary="British Columbia", eco_boundary="Taiga Plains")
    base.update(kw)
    return ConfigSettings(**base)


def params(**sim) -> dict:
    s = {"start_year": START, "end_year": END, "engine": "libcbm", "admin_boundary": "British Columbia",
         "eco_boundary": "Taiga Plains"}
    s.update(sim)
    return {"project": {"dir": "project"}, "simulation": s, "outputs": {"indicators": ["NPP", "NBP"]}}


# --------------------------------------------------------------------------- tests


def test_a_valid_project_passes_with_its_landscape_summarised(tmp_path: Path):
    project = build_project(tmp_path)
    report = validate_project(project, settings(), root=tmp_path)
    assert report.ok, report.errors
    assert report.warnings == []
    assert report.summary["simulated_pixels"] == N_VALID == 42
    # (TA,5) (TA,6) (BS,5) (BS,6): the classifier sets on the landscape; BS matches curve 3 through '?'.
    assert report.summary["classifier_sets"] == 4
    assert report.summary["layers"] == {
        "Classifier1": "classifier", "Classifier2": "classifier", "disturbances_2012": "disturbance",
        "initial_age": "age", "mean_annual_temperature": "temperature",
    }


def test_a_written_config_folder_validates_the_same(tmp_path: Path):
    project = build_project(tmp_path)
    write_gcbm_config(project, tmp_path / "config", settings())
    report = validate_project(tmp_path / "config", root=tmp_path)
    assert report.ok, report.errors
    assert report.summary["mode"] == "config"
    assert report.summary["years"] == [START, END]
    assert report.summary["simulated_pixels"] == 42


def test_every_problem_is_reported_in_one_pass(tmp_path: Path):
    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    # three unrelated problems at once: unknown pixel value, negative age, unknown disturbance type
    bad = CLASSIFIER2.copy()
    bad[0, 0] = 7
    write_layer(tiled, "Classifier2", bad, nodata=255, attributes=CLASSIFIER2_ATTRS)
    ages = AGES.copy()
    ages[1, 1] = -4
    write_layer(tiled, "initial_age", ages, nodata=32767)
    attrs = dict(DISTURBANCE_ATTRS)
    attrs["2"] = {"year": 2015, "disturbance_type": "Alien invasion", "transition": 1}
    write_layer(tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=attrs)
    report = validate_project(project, settings(), root=tmp_path)
    checks = sorted(p.check for p in report.errors)
    assert checks == ["age", "disturbance_type", "pixel_value"], [p.message for p in report.errors]
    with pytest.raises(ValidationError, match=r"3 problem\(s\) found") as info:
        report.raise_for_errors()
    assert len(info.value.problems) == 3


def test_disturbance_years_outside_the_window_are_warnings_not_errors(tmp_path: Path):
    project = build_project(tmp_path)
    report = validate_project(project, settings(start_year=2013, end_year=2020), root=tmp_path)
    assert report.ok
    assert [(w.check, w.value, w.layer) for w in report.warnings] == [("disturbance_year", 2012, "disturbances_2012")]
    assert "outside the simulation window 2013-2020" in report.warnings[0].message


def test_report_json_is_written_atomically_and_lists_problems(tmp_path: Path):
    project = build_project(tmp_path)
    (project / "layers" / "tiled" / "Classifier1.json").unlink()
    report = validate_project(project, settings(), root=tmp_path)
    out = write_report(report, tmp_path / "reports" / "validation.json")
    data = json.loads(out.read_text())
    assert data["valid"] is False and data["n_errors"] == len(report.errors) >= 1
    assert data["errors"][0]["check"] == "sidecar"
    assert "Classifier1" in data["errors"][0]["message"]
    assert [p.name for p in out.parent.iterdir()] == ["validation.json"]  # no temp file left


def test_report_serialises_numpy_values():
    report = ValidationReport(target="x")
    report.error("age", "m", value=np.int16(-3))
    report.summary["n"] = np.int64(5)
    assert json.loads(json.dumps(report.to_dict()))["errors"][0]["value"] == -3


def test_validate_params_names_every_bad_value():
    problems = validate_params(params(start_year=2020, end_year=2010, engine="gcbm-docker"))
    messages = [p.message for p in problems]
    assert len(messages) == 2, messages
    assert any("end_year 2010 is before simulation.start_year 2020" in m for m in messages)
    assert any("engine 'gcbm-docker' is not a known engine" in m and "libcbm, gcbm-container" in m for m in messages)
    bad = params()
    bad["outputs"]["indicators"] = ["NPP", "Carbon_Magic"]
    (problem,) = validate_params(bad)
    assert "'Carbon_Magic'" in problem.message and "Total_Ecosystem_C" in problem.message
    assert validate_params(params()) == []


def test_the_repository_params_file_is_valid():
    import yaml

    repo_params = Path(__file__).resolve().parents[1] / "params.yaml"
    assert validate_params(yaml.safe_load(repo_params.read_text())) == []


def test_the_flint_demo_validates_clean(flint_demo: Path):
    report = validate_project(flint_demo / "config")
    assert report.ok, [p.message for p in report.errors]
    assert report.summary["simulated_pixels"] == 11347  # docs/own-projects.md's count of valid pixels
    assert report.summary["classifier_sets"] == 10


def test_growth_curve_matching_follows_gcbm_wildcards(tmp_path: Path):
    """validate and the engine share one matcher (inputdb.reader.match_growth_curves)."""
    import pandas as pd

    from flintcloud.engine import libcbm_engine
    from flintcloud.inputdb.reader import match_growth_curves, read_input_db

    assert libcbm_engine.match_growth_curves is match_growth_curves
    db = read_input_db(build_db(tmp_path / "gcbm_input.db"))
    stands = pd.DataFrame({"Classifier1": ["TA", "TA", "BS", "XX"], "Classifier2": ["5", "6", "9", "5"]})
    got = match_growth_curves(db, stands, strict=False).tolist()
    assert got[3] == -1  # no curve for XX
    assert got[2] == 3  # BS matches curve 3 through '?'
    assert got[:2] == [1, 2]  # TA/5 and TA/6 each get their own curve


def test_a_db_classifier_without_a_layer_is_matched_as_the_run_matches_it(tmp_path: Path):
    """Without a Classifier2 layer the run's classifier set is (Classifier1) and the engine matches curves
    on it alone; validate gives the same answer (no error) and warns that Classifier2 is not used."""
    project = build_project(tmp_path)
    for suffix in (".tiff", ".json"):
        (project / "layers" / "tiled" / f"Classifier2{suffix}").unlink()
    report = validate_project(project, settings(), root=tmp_path)
    assert report.errors == []
    (w,) = [p for p in report.warnings if p.check == "growth_curve"]
    assert "the db's classifier(s) 'Classifier2' have no layer or value" in w.message
    assert "matched on 'Classifier1' only" in w.message


def test_boundaries_left_null_must_be_unambiguous(tmp_path: Path):
    project = build_project(tmp_path)
    db = project / "input_database" / "gcbm_input.db"
    db.unlink()
    build_db(db, spatial_units=(("British Columbia", "Taiga Plains"), ("Alberta", "Taiga Plains")))
    report = validate_project(project, settings(admin_boundary=None, eco_boundary=None), root=tmp_path)
    (p,) = report.errors
    assert "admin_boundary is not set" in p.message and "'Alberta', 'British Columbia'" in p.message
    report = validate_project(project, settings(admin_boundary="Alberta", eco_boundary=None), root=tmp_path)
    assert report.ok, [p.message for p in report.errors]
    report = validate_project(project, settings(admin_boundary="Yukon"), root=tmp_path)
    (p,) = report.errors
    assert "admin boundary 'Yukon' is not in table admin_boundary" in p.message


def test_boundary_layers_must_name_boundaries_of_the_db(tmp_path: Path):
    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    write_layer(tiled, "admin_boundary", np.ones((ROWS, COLS), dtype=np.uint8), nodata=255,
                attributes={"1": "British Columbia"})
    report = validate_project(project, settings(admin_boundary=None), root=tmp_path)
    assert report.ok, [p.message for p in report.errors]
    assert report.summary["layers"]["admin_boundary"] == "admin_boundary"
    write_layer(tiled, "admin_boundary", np.ones((ROWS, COLS), dtype=np.uint8), nodata=255,
                attributes={"1": "Atlantis"})
    (p,) = validate_project(project, settings(admin_boundary=None), root=tmp_path).errors
    assert "admin_boundary layer 'admin_boundary': value(s) 'Atlantis'" in p.message
    assert "known: 'British Columbia'" in p.message


def test_the_windowed_pass_gives_the_same_counts_for_any_window(tmp_path: Path, monkeypatch):
    import flintcloud.validate as v

    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    ages = AGES.copy()
    ages[0, 0], ages[5, 7], ages[3, 1] = -2, 250, -9
    write_layer(tiled, "initial_age", ages, nodata=32767)
    bad = CLASSIFIER2.copy()
    bad[1, 1], bad[4, 6] = 9, 9
    write_layer(tiled, "Classifier2", bad, nodata=255, attributes=CLASSIFIER2_ATTRS)
    results = []
    for pixels in (1 << 20, COLS, 4 * COLS):  # one window; one row each; 4 rows then a 2-row edge window
        monkeypatch.setattr(v, "WINDOW_PIXELS", pixels)
        report = validate_project(project, settings(), root=tmp_path)
        results.append(([p.message for p in report.errors], report.summary["simulated_pixels"],
                        report.summary["classifier_sets"]))
    assert results[0] == results[1] == results[2]
    messages, n_valid, n_sets = results[0]
    assert n_valid == 40 and n_sets == 4  # the two pixels of value 9 are not decodable
    assert any("2 pixel(s) have negative ages (minimum -9)" in m for m in messages)
    assert any("1 pixel(s) are older than the growth curves' maximum age 200 (oldest 250)" in m for m in messages)
    assert any("pixel value(s) 9 occur" in m and "(2 pixels)" in m for m in messages)


def test_two_files_for_one_layer_name_are_reported(tmp_path: Path):
    project = build_project(tmp_path)
    write_layer(project / "layers" / "tiled", "Classifier2_moja", CLASSIFIER2, nodata=255,
                attributes=CLASSIFIER2_ATTRS)
    (p,) = validate_project(project, settings(), root=tmp_path).errors
    assert "both give layer 'Classifier2'" in p.message and p.layer == "Classifier2"


def test_an_unwritable_report_location_is_a_clear_error(tmp_path: Path):
    from flintcloud.errors import OutputError

    (tmp_path / "reports").write_text("a file where the folder should be")
    with pytest.raises(OutputError, match=r"cannot write the validation report .*reports/validation\.json"):
        write_report(ValidationReport(target="x"), tmp_path / "reports" / "validation.json")


def test_validate_lists_a_misspelt_params_key_with_the_closest_valid_one(tmp_path):
    bad = params()
    bad["simulation"]["end_yaer"] = 2020
    problems = [p.message for p in validate_params(bad)]
    assert "params.yaml: unknown key 'simulation.end_yaer'; did you mean 'simulation.end_year'?" in problems
