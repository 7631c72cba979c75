"""The demo across several 1-degree tiles: layout, determinism and the pipeline (validate -> configure -> run)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from click.testing import CliRunner

from flintcloud.cli import main
from flintcloud.demo import generate_demo_project
from flintcloud.demo.project import MAX_SIDE, TILE_PIXELS, _panels, mosaic_tiles, side_for, tiles_per_side
from flintcloud.errors import ProjectError
from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config
from flintcloud.landscape.grid import pixel_area_ha
from flintcloud.run import prepare_run, run_project
from flintcloud.validate import validate_project

REPO = Path(__file__).resolve().parents[2]
SIDE = 100  # centred in 2 x 2 tiles: rows and cols 3950..4049, across the tiles' shared corner
TILES = [{"x": -106, "y": 54, "index": 13034}, {"x": -106, "y": 55, "index": 12674},
         {"x": -105, "y": 54, "index": 13035}, {"x": -105, "y": 55, "index": 12675}]


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multitile")
    generate_demo_project(root / "project", seed=7, size=SIDE, tiles=2, start_year=2010, end_year=2012)
    return root


def test_sizes_tiles_and_panels():
    assert tiles_per_side(4000) == 1 and tiles_per_side(4001) == 2 and tiles_per_side(10_000) == 3
    assert side_for("1e8px") == 10_000 and tiles_per_side(side_for("1e8px")) == 3
    assert _panels(10_000) == (3, 3334) and _panels(200) == (1, 200)  # panels never exceed one tile
    assert tiles_per_side(200, 2) == 2
    with pytest.raises(ProjectError, match="cannot hold 5000 pixels per side; expected 2..4"):
        tiles_per_side(5000, 1)
    with pytest.raises(ProjectError, match=f"expected 32..{MAX_SIDE}"):
        side_for(MAX_SIDE + 1)
    assert mosaic_tiles(2) == TILES and mosaic_tiles(1) == [{"x": -106, "y": 55, "index": 12674}]


def test_layers_span_the_tiles_and_are_deterministic(work, tmp_path):
    layers = work / "project" / "layers" / "tiled"
    study = json.loads((layers / "study_area.json").read_text())
    assert study["tiles"] == TILES
    with rasterio.open(layers / "LeadingSpecies.tiff") as ds:
        assert (ds.width, ds.height) == (2 * TILE_PIXELS, 2 * TILE_PIXELS)
        assert ds.bounds == pytest.approx((-106, 53, -104, 55))
        data = ds.read(1)
    rows, cols = np.nonzero(data != 255)
    # all four tiles hold forest; nothing outside the landscape window
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3950, 4049, 3950, 4049)
    assert {(r >= 4000, c >= 4000) for r, c in zip(rows, cols)} == {(a, b) for a in (0, 1) for b in (0, 1)}
    assert 0.9 * SIDE**2 < len(rows) < SIDE**2  # lakes left out
    again = generate_demo_project(tmp_path / "again", seed=7, size=SIDE, tiles=2, start_year=2010, end_year=2012)
    assert tree_hashes(again) == tree_hashes(work / "project")
    cli = CliRunner().invoke(main, ["demo", str(tmp_path / "cli"), "--seed", "7", "--size", str(SIDE), "--tiles", "2",
                                    "--end-year", "2012"])
    assert cli.exit_code == 0, cli.output
    assert tree_hashes(tmp_path / "cli") == tree_hashes(work / "project")
    other = generate_demo_project(tmp_path / "other", seed=8, size=SIDE, tiles=2, start_year=2010, end_year=2012)
    assert tree_hashes(other)["layers/tiled/initial_age.tiff"] != tree_hashes(work / "project")["layers/tiled/initial_age.tiff"]


def test_pipeline_runs_across_tiles(work):
    project = work / "project"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["project"]["dir"] = str(project)
    params["simulation"].update(start_year=2010, end_year=2012)
    report = validate_project(project, params=params, root=work)
    assert report.errors == []
    write_gcbm_config(project, work / "config", settings_from_params(params, base_dir=work))
    domain = json.loads((work / "config" / "localdomain.json").read_text())["LocalDomain"]["landscape"]
    assert domain["tiles"] == sorted(TILES, key=lambda t: (t["x"], t["y"]))
    assert (domain["x_pixels"], domain["y_pixels"]) == (TILE_PIXELS, TILE_PIXELS)

    with rasterio.open(project / "layers" / "tiled" / "LeadingSpecies.tiff") as ds:
        forest = ds.read(1) != 255
    stands = prepare_run(work / "config").stands
    area_rows = pixel_area_ha(stands.grid)
    expected_area = float((forest.sum(axis=1) * area_rows).sum())
    assert stands.n_pixels == int(forest.sum())
    assert np.array_equal(stands.pixel_stand >= 0, forest)
    assert float(stands.stands["area_ha"].sum()) == pytest.approx(expected_area, rel=1e-12)

    run_project(work / "config", work / "out", map_years=[2010], overwrite=True)
    record = json.loads((work / "out" / "run_summary.json").read_text())
    assert record["pixels"] == int(forest.sum())
    assert record["area_ha"] == pytest.approx(expected_area, rel=1e-12)
    with sqlite3.connect(work / "out" / "compiled_gcbm_output.db") as conn:
        areas = conn.execute("SELECT year, SUM(area) FROM v_age_indicators GROUP BY year ORDER BY year").fetchall()
    assert [y for y, _ in areas] == [2010, 2011, 2012]
    for _, area in areas:
        assert area == pytest.approx(expected_area, rel=1e-9)
