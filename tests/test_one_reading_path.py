"""validate accepts exactly what run simulates (issue 12, done-when; issue 19 items 11-12).

Every case is a copy of the FLINT.Cloud demo with one change, fed to both `validate_project`
and the run's own reading path (`flintcloud.run.prepare_run`: config -> db -> landscape ->
stands -> preflight, everything before the engine's first step). Two changes that GCBM accepts
(a project under a folder named `run#1`, a disturbance type given by its code) are also run to
the end and must give the unmodified demo's pools.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio

from flintcloud.errors import FlintcloudError
from flintcloud.run import prepare_run, run_project
from flintcloud.sqlite_ro import connect_ro
from flintcloud.validate import validate_project

pytestmark = [
    pytest.mark.shared,
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),  # the PNG case
]

FIRST_PIXEL = (2049, 665)  # a simulated pixel of the demo (row, col)


def copy_demo(flint_demo: Path, dest: Path) -> Path:
    shutil.copytree(flint_demo, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)  # ../shared is read-only
    return dest


def edit_sidecar(project: Path, layer: str, edit) -> None:
    path = project / "layers" / "tiled" / f"{layer}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=False), encoding="utf-8")


def set_pixel(project: Path, layer: str, value) -> None:
    path = project / "layers" / "tiled" / f"{layer}.tiff"
    with rasterio.open(path) as ds:
        data, profile = ds.read(1), ds.profile
    data[FIRST_PIXEL] = value
    with rasterio.open(path, "w", **profile) as out:
        out.write(data, 1)


def by_code(project: Path) -> None:
    """disturbances_2013 by number: 138 (MPB very severe) and 1 (Wildfire) are disturbance_type.code values."""
    def edit(doc):
        doc["attributes"]["1"] = {"year": 2013, "disturbance_type_id": 138, "transition": 1}
        doc["attributes"]["2"] = {"year": 2013, "disturbance_type_id": 1, "transition": 1}
    edit_sidecar(project, "disturbances_2013", edit)


def id_not_code(project: Path) -> None:
    with connect_ro(project / "input_database" / "gcbm_input.db") as conn:
        rows = conn.execute("SELECT id, code FROM disturbance_type").fetchall()
    ids, codes = {i for i, _ in rows}, {c for _, c in rows}
    bad = min(ids - codes)  # an id that is no code: GCBM would not find it

    def edit(doc):
        doc["attributes"]["1"] = {"year": 2013, "disturbance_type_id": bad, "transition": 1}
    edit_sidecar(project, "disturbances_2013", edit)


def unknown_type_name(project: Path) -> None:
    edit_sidecar(project, "disturbances_2013", lambda d: d["attributes"]["2"].update(disturbance_type="Wild fire"))


def unknown_classifier_pixel(project: Path) -> None:
    edit_sidecar(project, "Classifier1", lambda d: d["attributes"].pop("1"))


def no_growth_curve(project: Path) -> None:
    edit_sidecar(project, "Classifier1", lambda d: d["attributes"].update({"1": "XX"}))


def set_volume(value):
    """One growth-curve volume of the demo db set to `value` (NULL, text, inf, negative, absurd)."""
    def change(project: Path) -> None:
        db = project / "input_database" / "gcbm_input.db"
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE growth_curve_component_value SET merchantable_volume = ? WHERE rowid = "
                         "(SELECT min(rowid) FROM growth_curve_component_value WHERE age = 50)", (value,))
        conn.close()
    return change


def png_renamed(project: Path) -> None:
    path = project / "layers" / "tiled" / "Classifier2.tiff"
    with rasterio.open(path) as ds:
        data = ds.read(1)
    path.unlink()
    with rasterio.open(path, "w", driver="PNG", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="uint8") as out:
        out.write(data, 1)


def edit_config(project: Path, name: str, edit, folder: str = "config") -> None:
    path = project / folder / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=False), encoding="utf-8")


def masked_out_negative_age(project: Path) -> None:
    """CBMBuildLandUnitModule mask_vars: a mask layer with nodata on the one pixel whose age is -20.
    GCBM never simulates that pixel, so its age is no problem."""
    tiled = project / "layers" / "tiled"
    with rasterio.open(tiled / "Classifier1.tiff") as ds:
        data, profile = ds.read(1), ds.profile
    mask = np.where(data != 255, 1, 255).astype(np.uint8)
    mask[FIRST_PIXEL] = 255
    with rasterio.open(tiled / "forest_mask.tiff", "w", **profile) as out:
        out.write(mask, 1)
    sidecar = json.loads((tiled / "Classifier1.json").read_text(encoding="utf-8"))
    sidecar["attributes"] = {"1": "forest"}
    (tiled / "forest_mask.json").write_text(json.dumps(sidecar, indent=4), encoding="utf-8")
    edit_config(project, "provider_config.json", lambda d: d["Providers"]["RasterTiled"]["layers"].append(
        {"name": "forest_mask", "layer_path": "../layers/tiled/forest_mask.tiff", "layer_prefix": "forest_mask"}))
    edit_config(project, "variables.json", lambda d: d["Variables"].update(forest_mask={"transform": {
        "library": "internal.flint", "type": "LocationIdxFromFlintDataTransform", "provider": "RasterTiled",
        "data_id": "forest_mask"}}))
    edit_config(project, "modules_cbm.json", lambda d: d["Modules"]["CBMBuildLandUnitModule"].update(
        settings={"mask_vars": ["forest_mask"]}))
    set_pixel(project, "initial_age", -20)


def allow_nulls_negative_age(project: Path) -> None:
    """initial_classifier_set allow_nulls: a pixel with one classifier null is still simulated, so its
    age -20 is refused (validate used to require every classifier and pass it)."""
    edit_config(project, "variables.json",
                lambda d: d["Variables"]["initial_classifier_set"]["transform"].update(allow_nulls=True))
    set_pixel(project, "Classifier2", 255)
    set_pixel(project, "initial_age", -20)


CASES = {
    "unmodified": (None, True),
    "disturbance type by code": (by_code, True),
    "disturbance_type_id that is an id, not a code": (id_not_code, False),
    "disturbance type name not in the db": (unknown_type_name, False),
    "classifier pixel value without attribute": (unknown_classifier_pixel, False),
    "classifier set without growth curve": (no_growth_curve, False),
    "negative age": (lambda p: set_pixel(p, "initial_age", -20), False),
    "age past the growth curves": (lambda p: set_pixel(p, "initial_age", 5000), False),
    "temperature 1000 degC": (lambda p: set_pixel(p, "mean_annual_temperature", 1000.0), False),
    "temperature -300 degC": (lambda p: set_pixel(p, "mean_annual_temperature", -300.0), False),
    "infinite temperature": (lambda p: set_pixel(p, "mean_annual_temperature", np.inf), False),
    "growth curve volume 'NaN'": (set_volume("NaN"), False),
    "growth curve volume inf": (set_volume(float("inf")), False),
    "growth curve volume negative": (set_volume(-5.0), False),
    "growth curve volume 1e300": (set_volume(1e300), False),
    "sidecar nodata as a string": (lambda p: edit_sidecar(p, "initial_age", lambda d: d.update(nodata="32767")), False),
    "sidecar layer_data Byte on an Int16 raster": (
        lambda p: edit_sidecar(p, "initial_age", lambda d: d.update(layer_data="Byte")), False),
    "a PNG renamed .tiff": (png_renamed, False),
    "negative age on a pixel mask_vars leaves out": (masked_out_negative_age, True),
    "negative age on a pixel allow_nulls keeps with a null classifier": (allow_nulls_negative_age, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_and_run_accept_and_refuse_the_same_inputs(case, flint_demo, tmp_path):
    change, valid = CASES[case]
    project = copy_demo(flint_demo, tmp_path / "demo")
    if change is not None:
        change(project)
    report = validate_project(project / "config", root=tmp_path)
    try:
        prepare_run(project / "config")
        run_error = None
    except FlintcloudError as err:
        run_error = str(err)
    errors = [p.message for p in report.errors]
    assert report.ok is valid, errors
    assert (run_error is None) is valid, run_error
    if not valid:
        # the run's one-line refusal says what validate says (same check, same wording where shared)
        assert run_error and errors


def test_run_refuses_negative_ages_with_validates_sentence(flint_demo, tmp_path):
    project = copy_demo(flint_demo, tmp_path / "demo")
    set_pixel(project, "initial_age", -20)
    (problem,) = validate_project(project / "config", root=tmp_path).errors
    with pytest.raises(FlintcloudError) as err:
        prepare_run(project / "config")
    assert problem.message in str(err.value)
    assert "1 pixel(s) have negative ages (minimum -20)" in problem.message


def test_a_pixel_kept_by_allow_nulls_is_checked_by_validate_as_the_run_checks_it(flint_demo, tmp_path):
    """validate reads the pixels the run simulates (the landscape's own decoder), so the age of a pixel
    with a null classifier under allow_nulls is validate's own finding, in the run's words, not only
    the run's refusal passed on."""
    project = copy_demo(flint_demo, tmp_path / "demo")
    allow_nulls_negative_age(project)
    errors = validate_project(project / "config", root=tmp_path).errors
    (problem,) = [p for p in errors if p.check in ("age", "run")]
    assert problem.check == "age", problem.message
    with pytest.raises(FlintcloudError) as err:
        prepare_run(project / "config")
    assert problem.message in str(err.value)


def test_every_problem_of_a_sidecar_is_listed_and_a_png_is_named(flint_demo, tmp_path):
    project = copy_demo(flint_demo, tmp_path / "demo")
    edit_sidecar(project, "initial_age", lambda d: d.update(nodata="32767", layer_data="Short"))
    png_renamed(project)
    report = validate_project(project / "config", root=tmp_path)
    messages = [p.message for p in report.errors]
    assert any("nodata '32767' is a string; write it as a number" in m for m in messages), messages
    assert any("layer_data 'Short' is not a GDAL data type" in m for m in messages), messages
    assert any("'Classifier2'" in m and "is not a GeoTIFF (GDAL reads it as PNG)" in m for m in messages), messages
    assert not any("expected 4000" in m for m in messages), messages


def test_growth_curve_volumes_are_named_by_curve_age_and_value(flint_demo, tmp_path):
    project = copy_demo(flint_demo, tmp_path / "demo")
    set_volume(float("inf"))(project)
    (problem,) = [p for p in validate_project(project / "config", root=tmp_path).errors if p.check == "growth_curve"]
    assert "merchantable volume at age 50 is inf, which is infinite" in problem.message
    assert problem.message.startswith("growth curve ")
    with pytest.raises(FlintcloudError) as err:
        prepare_run(project / "config")
    assert problem.message in str(err.value)


def _drop_association(project: Path, type_name: str) -> int:
    db = project / "input_database" / "gcbm_input.db"
    with sqlite3.connect(db) as conn:
        (type_id,) = conn.execute("SELECT id FROM disturbance_type WHERE name = ?", (type_name,)).fetchone()
        conn.execute("DELETE FROM disturbance_matrix_association WHERE disturbance_type_id = ?", (type_id,))
    conn.close()
    return int(type_id)


def test_a_disturbance_type_without_a_matrix_is_a_warning_and_recorded_by_the_run(flint_demo, tmp_path):
    """GCBM skips events whose type has no matrix in the spatial unit: validate warns naming the type, the
    unit and the pixel-years; the run skips them too and says so in run_summary.json (issue 19 item 13)."""
    project = copy_demo(flint_demo, tmp_path / "demo")
    mpb = "Mountain pine beetle — Very severe impact"
    type_id = _drop_association(project, mpb)
    report = validate_project(project / "config", root=tmp_path)
    assert report.ok, [p.message for p in report.errors]
    (w,) = [p for p in report.warnings if p.check == "disturbance_matrix"]
    assert f"disturbance type {mpb!r} has no disturbance matrix in spatial unit" in w.message
    assert "pixel-year(s) in 2013, 2014 are skipped" in w.message
    pixel_years = w.value["pixel_years"]
    assert pixel_years > 0

    out = tmp_path / "out"
    run_project(project / "config", out, map_years=[2020])
    summary = json.loads((out / "run_summary.json").read_text())
    (skipped,) = summary["skipped_disturbance_events"]
    assert skipped["disturbance_type_id"] == type_id and skipped["pixel_years"] == pixel_years
    with connect_ro(out / "gcbm_output.db") as conn:
        fired = {r[0] for r in conn.execute("SELECT DISTINCT disturbanceTypeName FROM DisturbanceTypeDimension")}
    assert mpb not in fired


def test_a_spinup_disturbance_without_a_matrix_is_a_validation_error(flint_demo, tmp_path):
    project = copy_demo(flint_demo, tmp_path / "demo")
    _drop_association(project, "Wildfire")  # the demo's historic and last-pass spinup disturbance
    report = validate_project(project / "config", root=tmp_path)
    messages = [p.message for p in report.errors]
    assert any("spinup's historic disturbance type 'Wildfire' has no disturbance matrix in spatial unit" in m
               for m in messages), messages
    with pytest.raises(FlintcloudError, match="spinup cannot run there"):
        prepare_run(project / "config")


def _pools(out: Path) -> dict[tuple[int, str], float]:
    with connect_ro(out / "gcbm_output.db") as conn:
        rows = conn.execute(
            "SELECT d.year, pd.poolName, SUM(p.poolValue) FROM Pools p JOIN PoolDimension pd ON p.poolId = pd.id "
            "JOIN LocationDimension l ON p.locationDimId = l.id JOIN DateDimension d ON l.dateDimId = d.id "
            "GROUP BY d.year, pd.poolName"
        ).fetchall()
    return {(int(y), str(n)): float(v) for y, n, v in rows}


def test_a_hash_in_the_path_and_a_coded_disturbance_type_run_to_the_demos_pools(flint_demo, tmp_path):
    baseline = tmp_path / "baseline"
    run_project(flint_demo / "config", baseline, map_years=[2020])

    project = copy_demo(flint_demo, tmp_path / "run#1" / "demo")
    by_code(project)
    report = validate_project(project / "config", root=tmp_path)
    assert report.ok, [p.message for p in report.errors]
    assert report.summary["simulated_pixels"] == 11347
    out = tmp_path / "run#1" / "out"
    run_project(project / "config", out, map_years=[2020])

    ours, theirs = _pools(out), _pools(baseline)
    assert set(ours) == set(theirs)
    assert {y for y, _ in ours} == {0, *range(2010, 2021)}
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key
    # nothing was created beside the '#' folder (a bad SQLite URI leaves an empty file 'run')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline", "run#1"]
    with sqlite3.connect(out / "gcbm_output.db") as conn:
        fired = {r[0] for r in conn.execute("SELECT DISTINCT disturbanceTypeName FROM DisturbanceTypeDimension")}
    conn.close()
    assert "Mountain pine beetle — Very severe impact" in fired and "Wildfire" in fired


def test_the_reports_area_disturbed_once_names_types_given_by_code_as_the_run_does(flint_demo, tmp_path):
    """The report's "area disturbed at least once" groups the layers the run's way: a sidecar event given by
    disturbance_type.code counts under the db's name, and the area is the unmodified demo's."""
    from flintcloud.report.disturbed_area import ANY, EVENTS, read_area_disturbed_once

    plain = read_area_disturbed_once(flint_demo / "config")
    project = copy_demo(flint_demo, tmp_path / "demo")
    by_code(project)
    coded = read_area_disturbed_once(project / "config")
    assert set(coded) == set(plain) and "Mountain pine beetle — Very severe impact" in coded
    assert not any(k.isdigit() for k in coded), sorted(coded)
    for key in plain:
        assert coded[key] == pytest.approx(plain[key], rel=1e-12), key
    assert coded[ANY] > 0 and coded[EVENTS] >= coded[ANY]


@pytest.mark.parametrize("age", [5000, -3])
def test_a_scalar_initial_age_validate_rejects_is_refused_by_the_run(belize_project, tmp_path, age):
    """Belize gives initial_age as one value (0) in variables.json, no age layer: an age past the growth
    curves (or negative) is refused by both, in one sentence (issue 19 item 12)."""
    project = copy_demo(belize_project, tmp_path / "belize")
    config = project / "gcbm_project"
    edit_config(project, "variables.json", lambda d: d["Variables"].update(initial_age=age), folder="gcbm_project")
    (problem,) = validate_project(config, root=tmp_path).errors
    assert problem.check == "age" and problem.message.startswith(f"initial_age {age} is ")
    with pytest.raises(FlintcloudError) as err:
        prepare_run(config)
    assert problem.message in str(err.value)


def params_with(**simulation) -> dict:
    """The repository's params.yaml with `simulation` keys changed."""
    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text(encoding="utf-8"))
    params["simulation"].update(simulation)
    return params


def test_a_scalar_temperature_of_1000_degC_is_refused_by_validate_and_run(flint_demo, tmp_path):
    """mean_annual_temperature given as one value (no layer) is range-checked like a layer's pixels."""
    project = copy_demo(flint_demo, tmp_path / "demo")
    edit_config(project, "variables.json", lambda d: d["Variables"].update(mean_annual_temperature=1000.0))
    (problem,) = validate_project(project / "config", root=tmp_path).errors
    assert problem.check == "temperature"
    assert "mean_annual_temperature 1000.0 deg C is outside the plausible -60..60 deg C" in problem.message
    with pytest.raises(FlintcloudError) as err:
        prepare_run(project / "config")
    assert problem.message in str(err.value)


def test_a_custom_temperature_range_is_honoured_by_validate_and_run(flint_demo, tmp_path):
    """params.yaml simulation.temperature_range: validate reads it, the run takes it (run_project,
    prepare_run, `flintcloud run --temperature-range`)."""
    from click.testing import CliRunner

    from flintcloud.cli import main

    hot = copy_demo(flint_demo, tmp_path / "hot")
    edit_config(hot, "variables.json", lambda d: d["Variables"].update(mean_annual_temperature=1000.0))
    report = validate_project(hot / "config", params=params_with(temperature_range=[-70, 1100]), root=tmp_path)
    assert report.ok, [p.message for p in report.errors]
    prepare_run(hot / "config", temperature_range=(-70, 1100))

    plain = copy_demo(flint_demo, tmp_path / "plain")  # its temperature layer holds 0.67..9.94 deg C
    (problem,) = validate_project(plain / "config", params=params_with(temperature_range=[5, 45]), root=tmp_path).errors
    assert "have a mean annual temperature outside 5..45 deg C (simulation.temperature_range)" in problem.message
    with pytest.raises(FlintcloudError) as err:
        prepare_run(plain / "config", temperature_range=(5, 45))
    assert problem.message in str(err.value)
    result = CliRunner().invoke(main, ["run", str(plain / "config"), "--out", str(tmp_path / "out"),
                                       "--temperature-range", "5", "45", "--no-progress"])
    assert result.exit_code == 1 and problem.message in str(result.exception), result.output
    assert not (tmp_path / "out").exists()

    bad = validate_project(plain / "config", params=params_with(temperature_range=[60, -60]), root=tmp_path)
    assert [p.message for p in bad.errors] == ["params.yaml: simulation.temperature_range is [60, -60]; expected "
                                               "[low, high], two finite numbers with low < high"]
