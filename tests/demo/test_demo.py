"""The built-in demo GCBM project: determinism, realism, and consistency of layers, sidecars and db."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from click.testing import CliRunner

from flintcloud.cli import main
from flintcloud.demo import ADMIN_BOUNDARY, CLASSIFIERS, ECO_BOUNDARY, generate_demo_project, side_for
from flintcloud.demo.landscape import EVENT_CODES, generate_landscape
from flintcloud.errors import DatabaseError, ProjectError

GROWTH_CURVE_SQL = (
    "select growth_curve_id from (select gccv.growth_curve_id as growth_curve_id, sum(case when c.name in ({names}) "
    "then case when cv.value like '?' then 1 {matches} else -1000 end else -1000 end) as score "
    "from growth_curve_classifier_value gccv inner join classifier_value cv on gccv.classifier_value_id = cv.id "
    "inner join classifier c on cv.classifier_id = c.id group by gccv.growth_curve_id) as growth_curve_ranking "
    "where score > 0 order by score desc limit 1"
)


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return generate_demo_project(tmp_path_factory.mktemp("demo") / "project", seed=42)


def layers(project: Path) -> Path:
    return project / "layers" / "tiled"


SIDE = 200  # the default ('small') landscape, centred in the 4000 x 4000 tile
WINDOW = Window((4000 - SIDE) // 2, (4000 - SIDE) // 2, SIDE, SIDE)


def read(project: Path, name: str, window: Window | None = WINDOW) -> tuple[np.ndarray, dict, rasterio.Affine, float]:
    """A layer's pixels (only the landscape window unless window=None), sidecar, tile transform, nodata."""
    with rasterio.open(layers(project) / f"{name}.tiff") as ds:
        data, transform, nodata = ds.read(1, window=window), ds.transform, ds.nodata
        assert ds.crs.to_epsg() == 4326
    return data, json.loads((layers(project) / f"{name}.json").read_text()), transform, nodata


def layer_names(project: Path) -> list[str]:
    return sorted(p.stem for p in layers(project).glob("*.tiff"))


def test_same_seed_gives_byte_identical_project_and_another_seed_differs(project, tmp_path):
    again = generate_demo_project(tmp_path / "again", seed=42)
    assert tree_hashes(again) == tree_hashes(project)
    other = generate_demo_project(tmp_path / "other", seed=7)
    a, b = tree_hashes(project), tree_hashes(other)
    assert a["layers/tiled/initial_age.tiff"] != b["layers/tiled/initial_age.tiff"]


def test_layout_and_study_area(project):
    assert (project / "input_database" / "gcbm_input.db").is_file()
    study = json.loads((layers(project) / "study_area.json").read_text())
    assert study["tiles"] == [{"x": -106, "y": 55, "index": 12674}]  # GCBM's index of the FLINT demo's tile
    assert study["pixel_size"] == 0.00025
    tags = {e["name"]: e["tags"] for e in study["layers"]}
    assert sorted(tags) == layer_names(project)
    assert [n for n, t in tags.items() if t == ["classifier"]] == list(CLASSIFIERS)
    assert tags["initial_age"] == ["age"] and tags["mean_annual_temperature"] == ["temperature"]
    years = sorted(int(n.split("_")[1]) for n, t in tags.items() if t == ["disturbance"])
    assert years == list(range(2010, 2021))  # every year has at least a clearcut
    for name in tags:
        with rasterio.open(layers(project) / f"{name}.tiff") as ds:
            assert (ds.width, ds.height) == (4000, 4000)  # one full 1-degree tile, as GCBM's tiler writes
        data, sidecar, transform, nodata = read(project, name)
        assert transform == rasterio.Affine(0.00025, 0, -106.0, 0, -0.00025, 55.0)
        assert sidecar["nodata"] == pytest.approx(nodata, rel=1e-6)
        assert sidecar["layer_type"] == "GridLayer" and sidecar["cellLatSize"] == 0.00025


def test_every_sidecar_value_is_in_its_raster_and_every_raster_value_in_its_sidecar(project):
    for name in layer_names(project):
        data, sidecar, _, nodata = read(project, name, window=None)  # the whole tile
        if "attributes" not in sidecar:
            continue
        assert data.dtype == np.uint8, name
        in_raster = {v for v in np.flatnonzero(np.bincount(data.ravel(), minlength=256)).tolist() if v != nodata}
        assert in_raster == {int(k) for k in sidecar["attributes"]}, name


def test_realistic_values_and_one_simulated_area(project):
    species, *_ = read(project, "LeadingSpecies")
    age, _, _, age_nodata = read(project, "initial_age")
    temp, _, _, t_nodata = read(project, "mean_annual_temperature")
    valid = species != 255
    assert 0.9 < valid.sum() / 200**2 < 1.0  # 200 x 200 landscape, a few percent lakes
    assert np.array_equal(age != age_nodata, valid) and np.array_equal(temp < 1e30, valid)
    for name in (*CLASSIFIERS, "admin_boundary", "eco_boundary"):
        assert np.array_equal(read(project, name)[0] != 255, valid), name
    ages = age[valid]
    assert ages.min() >= 1 and ages.max() <= 250 and 30 <= np.median(ages) <= 130
    t = temp[valid]
    assert -2.5 < t.min() < t.max() < 2.5 and len(np.unique(t)) >= 5  # a gradient over climate cells
    # the gradient: the southern half is warmer than the northern half
    rows = np.nonzero(valid)[0]
    assert t[rows > np.median(rows)].mean() > t[rows < np.median(rows)].mean() + 0.2
    counts = np.bincount(species[valid])
    assert (counts[1:] > 0).sum() >= 5  # several species present
    # yearly disturbance rates: clearcut ~1 %, fires 0 .. ~10 %
    for year in range(2010, 2021):
        events, *_ = read(project, f"disturbances_{year}")
        assert set(np.unique(events[~valid])) == {255}  # no events on lakes
        cut = (events == EVENT_CODES["Clearcut harvesting with salvage"]).sum() / valid.sum()
        burn = (events == EVENT_CODES["Wildfire"]).sum() / valid.sum()
        assert 0.002 < cut < 0.05 and burn < 0.15, year


def test_age_is_patchy_not_white_noise(project):
    age, _, _, nodata = read(project, "initial_age")
    pairs = (age[:, :-1] != nodata) & (age[:, 1:] != nodata)
    same = (age[:, :-1] == age[:, 1:])[pairs].mean()
    assert same > 0.8  # neighbours share their stand's age
    # and neighbouring stands resemble each other: correlation of ages 8 pixels apart stays high
    a, b = age[:, :-8].astype(float), age[:, 8:].astype(float)
    ok = (a != nodata) & (b != nodata)
    assert np.corrcoef(a[ok], b[ok])[0, 1] > 0.5


def test_a_few_hundred_unique_stands(project):
    stack = [read(project, n)[0].astype(np.float64) for n in layer_names(project)]
    valid = stack[0] != 255
    combos = np.unique(np.stack([s[valid] for s in stack], axis=1), axis=0)
    assert 100 <= len(combos) <= 1500


def test_every_classifier_combination_has_a_growth_curve(project):
    sp, sp_car, *_ = read(project, CLASSIFIERS[0])
    site, site_car, *_ = read(project, CLASSIFIERS[1])
    valid = sp != 255
    combos = set(zip(sp[valid].tolist(), site[valid].tolist()))
    assert len(combos) >= 8
    with sqlite3.connect(project / "input_database" / "gcbm_input.db") as conn:
        names = ",".join(f"'{c}'" for c in CLASSIFIERS)
        for a, b in combos:
            values = (sp_car["attributes"][str(a)], site_car["attributes"][str(b)])
            matches = "".join(f"when c.name like '{n}' and cv.value like '{v}' then 4 " for n, v in zip(CLASSIFIERS, values))
            row = conn.execute(GROWTH_CURVE_SQL.format(names=names, matches=matches)).fetchone()
            assert row is not None, values
            described = conn.execute("SELECT description FROM growth_curve WHERE id = ?", row).fetchone()[0]
            assert described == ",".join(values)


def test_disturbance_types_transitions_and_boundaries_are_in_the_db(project):
    with sqlite3.connect(project / "input_database" / "gcbm_input.db") as conn:
        types = {r[0] for r in conn.execute("SELECT name FROM disturbance_type")}
        transitions = {r[0] for r in conn.execute("SELECT id FROM transition")}
        spu = conn.execute(
            "SELECT spu.id FROM spatial_unit spu JOIN admin_boundary a ON a.id = spu.admin_boundary_id "
            "JOIN eco_boundary e ON e.id = spu.eco_boundary_id WHERE a.name = ? AND e.name = ?",
            (ADMIN_BOUNDARY, ECO_BOUNDARY)).fetchall()
    assert len(spu) == 1
    seen = set()
    for name in layer_names(project):
        _, sidecar, *_ = read(project, name)
        for value in sidecar.get("attributes", {}).values():
            if isinstance(value, dict):
                assert value["disturbance_type"] in types
                assert value["transition"] in transitions
                assert value["year"] == int(name.split("_")[1])
                seen.add(value["disturbance_type"])
    assert seen == {"Wildfire", "Clearcut harvesting with salvage"}
    assert read(project, "admin_boundary")[1]["attributes"] == {"1": ADMIN_BOUNDARY}
    assert read(project, "eco_boundary")[1]["attributes"] == {"1": ECO_BOUNDARY}


@pytest.mark.shared
def test_gcbm_config_queries_run_on_the_demo_db(project, flint_demo):
    db = project / "input_database" / "gcbm_input.db"
    with sqlite3.connect(db) as conn:
        curves = [r[0] for r in conn.execute("SELECT id FROM growth_curve")]
        spu = conn.execute(
            "SELECT spu.id FROM spatial_unit spu JOIN admin_boundary a ON a.id = spu.admin_boundary_id "
            "JOIN eco_boundary e ON e.id = spu.eco_boundary_id WHERE a.name = ? AND e.name = ?",
            (ADMIN_BOUNDARY, ECO_BOUNDARY)).fetchone()[0]
        for name in ("variables.json", "spinup.json"):
            doc = json.loads((flint_demo / "config" / name).read_text())
            for key, var in doc["Variables"].items():
                transform = var.get("transform") if isinstance(var, dict) else None
                if not transform or transform.get("type") != "SQLQueryTransform":
                    continue
                for curve in curves:
                    values = {"admin_boundary": f"'{ADMIN_BOUNDARY}'", "eco_boundary": f"'{ECO_BOUNDARY}'",
                              "spatial_unit_id": str(spu), "growth_curve_id": str(curve)}
                    sql = re.sub(r"\{var:(\w+)\}", lambda m: values[m.group(1)], transform["queryString"])
                    rows = conn.execute(sql).fetchall()
                    if key in ("softwood_yield_table", "hardwood_yield_table"):
                        continue  # one of the two is empty for a pure stand
                    assert rows, (key, curve)
                if key == "spinup_parameters":
                    assert rows == [(125, 30, "Wildfire", "Wildfire", pytest.approx(-0.13, abs=1e-6), 0)]
        # each curve has exactly one non-empty yield table, rising to a realistic maximum (m3/ha)
        for curve in curves:
            volumes = conn.execute(
                "SELECT MAX(v.merchantable_volume) FROM growth_curve_component c "
                "JOIN growth_curve_component_value v ON v.growth_curve_component_id = c.id WHERE c.growth_curve_id = ?",
                (curve,)).fetchone()[0]
            assert 40 < volumes < 400


def test_size_parameter():
    assert side_for("small") == 200 and side_for(500) == 500 and side_for("500") == 500
    assert side_for("1e6px") == 1000 and side_for("1e7px") ** 2 >= 10**7
    assert side_for(5000) == 5000  # past one tile: a multi-tile landscape (test_multitile.py)
    with pytest.raises(ProjectError, match="expected 32..16000"):
        side_for(16001)
    with pytest.raises(ProjectError, match=r"'huge' is not a preset"):
        side_for("huge")
    land = generate_landscape(3, 320, 2010, 2012)
    assert land.species.shape == (320, 320) and sorted(land.disturbances) == [2010, 2011, 2012]


def test_refuses_to_overwrite_and_cli(project, tmp_path):
    with pytest.raises(ProjectError, match="exists and is not empty"):
        generate_demo_project(project, seed=42)
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(main, ["demo", str(out), "--seed", "42", "--size", "64", "--end-year", "2012"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "layers" / "tiled").glob("disturbances_*.tiff")) == [
        "disturbances_2010.tiff", "disturbances_2011.tiff", "disturbances_2012.tiff"]
    refused = runner.invoke(main, ["demo", str(out)])
    assert refused.exit_code != 0 and "--overwrite" in str(refused.exception)


def test_failed_generation_leaves_nothing(tmp_path):
    curves = tmp_path / "curves.csv"
    curves.write_text("LeadingSpecies,SiteClass,AIDBSPP,0,10\nBS,G,Black sprooce,0,5\n")
    with pytest.raises(DatabaseError, match="'Black sprooce'.*'Black spruce'"):
        generate_demo_project(tmp_path / "out", seed=1, size=64, growth_curves=curves)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv"]


@pytest.mark.slow
def test_ten_million_pixels_memory_light(tmp_path):
    """Memory only: how long generation takes is benchmarks/scale.py's `generate s` column (no wall-clock
    bound in tests)."""
    tracemalloc.start()
    generate_demo_project(tmp_path / "big", seed=1, size="1e7px")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with rasterio.open(tmp_path / "big" / "layers" / "tiled" / "LeadingSpecies.tiff") as ds:
        assert (ds.read(1) != 255).sum() > 0.9 * 10**7
    assert peak < 1.5 * 2**30  # ~0.65 GB resident measured
