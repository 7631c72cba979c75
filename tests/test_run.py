"""run_project / `flintcloud run`: the FLINT.Cloud demo end to end, checked on values; atomic failures."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from flintcloud.errors import ConfigError, FlintcloudError, LayerError, OutputError
from flintcloud.gcbm.config import parse_gcbm_config, read_gcbm_config
from flintcloud.landscape.grid import pixel_area_ha
from flintcloud.landscape.raster import read_landscape
from flintcloud.landscape.stands import group_stands
from flintcloud.run import check_out_dir, resolve_map_years, run_project

REFERENCE_AREA_HA = 510.620353071146
ECOSYSTEM_POOLS = [
    "SoftwoodMerch", "SoftwoodFoliage", "SoftwoodOther", "SoftwoodCoarseRoots", "SoftwoodFineRoots",
    "HardwoodMerch", "HardwoodFoliage", "HardwoodOther", "HardwoodCoarseRoots", "HardwoodFineRoots",
    "AboveGroundVeryFastSoil", "BelowGroundVeryFastSoil", "AboveGroundFastSoil", "BelowGroundFastSoil",
    "MediumSoil", "AboveGroundSlowSoil", "BelowGroundSlowSoil",
    "SoftwoodStemSnag", "SoftwoodBranchSnag", "HardwoodStemSnag", "HardwoodBranchSnag",
]


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _docs(years=("2010/01/01", "2021/01/01")) -> dict:
    layer = {"transform": {"type": "LocationIdxFromFlintDataTransform", "data_id": "c"}}
    return {
        "localdomain.json": {"LocalDomain": {"start_date": years[0], "end_date": years[1]}},
        "variables.json": {
            "Variables": {"c": layer, "initial_classifier_set": {"transform": {"type": "CompositeTransform", "vars": ["c"]}}}
        },
        "provider_config.json": {
            "Providers": {"SQLite": {"path": "db.db"}, "RasterTiled": {"layers": [{"name": "c", "layer_path": "c.tiff"}]}}
        },
    }


# ------------------------------------------------------------------------------------- pure


def test_map_years_default_every_year_and_named_years():
    config = parse_gcbm_config(_docs(), Path("/p"))
    assert resolve_map_years(None, config, 16_000_000) == list(range(2010, 2021))
    assert resolve_map_years("all", config, 10) == list(range(2010, 2021))
    assert resolve_map_years("2020, 2010", config, 10) == [2010, 2020]
    assert resolve_map_years([2015, 2015], config, 10) == [2015]
    assert resolve_map_years([], config, 10) == []
    with pytest.raises(ConfigError, match=r"map year 2030 is outside the simulation \(2010-2020"):
        resolve_map_years([2030], config, 10)
    with pytest.raises(ConfigError, match="map year 'soon' is not a year"):
        resolve_map_years(["soon"], config, 10)


def test_map_years_large_landscape_gets_some_years():
    config = parse_gcbm_config(_docs(("2000/01/01", "2051/01/01")), Path("/p"))
    assert resolve_map_years(None, config, 10**8) == [2000, 2010, 2020, 2030, 2040, 2050]


def test_non_empty_out_dir_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    check_out_dir(out, overwrite=False)  # absent: fine
    out.mkdir()
    check_out_dir(out, overwrite=False)  # empty: fine
    (out / "keep.txt").write_text("previous run")
    with pytest.raises(OutputError, match=r"output folder .*out' is not empty; pass overwrite=True"):
        check_out_dir(out, overwrite=False)
    check_out_dir(out, overwrite=True)
    with pytest.raises(OutputError, match="not empty"):
        run_project(tmp_path / "nowhere", out)
    assert (out / "keep.txt").read_text() == "previous run"


def test_unknown_engine_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown engine 'gcbm'; expected one of libcbm, gcbm-container"):
        run_project(tmp_path, tmp_path / "out", engine="gcbm")


# ----------------------------------------------------------------------- demo end to end


def _demo_copy(flint_demo: Path, dest: Path) -> Path:
    """The demo's config set in `dest`, its provider paths made absolute (data stays where it is)."""
    src = flint_demo / "config"
    shutil.copytree(src, dest)
    dest.chmod(0o755)
    for p in dest.iterdir():
        p.chmod(0o644)
    provider = json.loads((src / "provider_config.json").read_text())
    prov = provider["Providers"]
    prov["SQLite"]["path"] = str((src / prov["SQLite"]["path"]).resolve())
    for layer in prov["RasterTiled"]["layers"]:
        layer["layer_path"] = str((src / layer["layer_path"]).resolve())
    (dest / "provider_config.json").write_text(json.dumps(provider, indent=1))
    return dest


@pytest.fixture(scope="module")
def demo_run(flint_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_run") / "out"
    summary = run_project(flint_demo / "config", out, map_years=[2013, 2020])
    return out, summary


@pytest.mark.e2e
def test_demo_outputs_and_summary(demo_run):
    out, summary = demo_run
    assert (out / "gcbm_output.db").is_file()
    assert (out / "compiled_gcbm_output.db").is_file()
    record = json.loads((out / "run_summary.json").read_text())
    assert record["pixels"] == 11347 == summary.n_pixels
    assert record["unique_stands"] == summary.n_stands
    assert record["years"] == 11
    assert record["engine"] == "libcbm" and record["engine_version"].startswith("libcbm ")
    assert record["area_ha"] == pytest.approx(REFERENCE_AREA_HA, rel=1e-12)
    assert record["map_years"] == [2013, 2020]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]  # no temp dirs left


@pytest.mark.e2e
def test_demo_area_constant_and_equal_to_valid_pixel_area(demo_run):
    out, _ = demo_run
    with sqlite3.connect(out / "compiled_gcbm_output.db") as conn:
        rows = conn.execute("SELECT year, SUM(area) FROM v_age_indicators GROUP BY year ORDER BY year").fetchall()
    assert [y for y, _ in rows] == list(range(2010, 2021))
    for _, area in rows:
        assert area == pytest.approx(REFERENCE_AREA_HA, rel=1e-12)


@pytest.mark.e2e
def test_demo_disturbed_area_per_year_matches_layers(demo_run, flint_demo):
    out, _ = demo_run
    config = read_gcbm_config(flint_demo / "config")
    stands = group_stands(read_landscape(config))
    area_rows = pixel_area_ha(stands.grid)
    expected: dict[tuple[int, str], float] = {}
    for layer in config.disturbance_layers:
        with rasterio.open(config.layers[layer]) as ds:
            data = ds.read(1)
        events = json.loads(config.layers[layer].with_suffix(".json").read_text())["attributes"]
        for value, event in events.items():
            rows, _ = np.nonzero((data == int(value)) & (stands.pixel_stand >= 0))
            key = (int(event["year"]), event["disturbance_type"])
            expected[key] = expected.get(key, 0.0) + float(area_rows[rows].sum())
    with sqlite3.connect(out / "compiled_gcbm_output.db") as conn:
        got = {
            (int(y), t): a
            for y, t, a in conn.execute(
                "SELECT year, disturbance_type, SUM(dist_area) FROM v_disturbance_indicators GROUP BY 1, 2"
            )
        }
    assert set(got) == set(expected)
    assert len(expected) == 8  # 2011-2016 and 2018; 2013 has fire and beetles
    for key, area in expected.items():
        assert got[key] == pytest.approx(area, rel=1e-9), key


@pytest.mark.e2e
def test_demo_mass_balance_every_year(demo_run):
    out, _ = demo_run
    marks = ",".join("?" * len(ECOSYSTEM_POOLS))
    with sqlite3.connect(out / "gcbm_output.db") as conn:
        te = dict(
            conn.execute(
                "SELECT d.year, SUM(p.poolValue) FROM Pools p JOIN PoolDimension pd ON p.poolId = pd.id "
                "JOIN LocationDimension l ON p.locationDimId = l.id JOIN DateDimension d ON l.dateDimId = d.id "
                f"WHERE pd.poolName IN ({marks}) GROUP BY d.year",
                ECOSYSTEM_POOLS,
            ).fetchall()
        )
    with sqlite3.connect(out / "compiled_gcbm_output.db") as conn:
        nbp = dict(conn.execute(
            "SELECT year, SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' GROUP BY year"
        ).fetchall())
        te_compiled = dict(conn.execute(
            "SELECT year, SUM(pool_tc) FROM v_pool_indicators WHERE indicator = 'Total Ecosystem' GROUP BY year"
        ).fetchall())
    assert sorted(te) == [0, *range(2010, 2021)]
    assert sorted(nbp) == list(range(2010, 2021))
    for year in range(2010, 2021):
        assert te_compiled[year] == pytest.approx(te[year], rel=1e-9)
        previous = te[0] if year == 2010 else te[year - 1]
        delta = te[year] - previous
        assert abs(delta - nbp[year]) <= 1e-6 * abs(nbp[year]), (year, delta, nbp[year])


@pytest.mark.e2e
def test_demo_maps_on_the_input_grid(demo_run, flint_demo):
    out, _ = demo_run
    config = read_gcbm_config(flint_demo / "config")
    with rasterio.open(config.layers["Classifier1"]) as ds:
        transform, crs, shape = ds.transform, ds.crs, ds.shape
    maps = sorted((out / "spatial").glob("*.tif"))
    names = {p.stem for p in maps}
    for item in config.output_items:
        for year in (2013, 2020):
            assert f"{item['data_name']}_{year}" in names
    assert len(maps) == 2 * len(config.output_items)  # only the years asked for
    with rasterio.open(out / "spatial" / "Age_2020.tif") as ds:
        assert ds.transform == transform and ds.crs == crs and ds.shape == shape


# ------------------------------------------------------------------- failures leave OUT_DIR alone


def _previous_output(out: Path) -> dict[str, str]:
    (out / "spatial").mkdir(parents=True)
    (out / "gcbm_output.db").write_bytes(b"previous raw db")
    (out / "spatial" / "NBP_2010.tif").write_bytes(b"previous map")
    (out / "run_summary.json").write_text('{"pixels": 1}')
    return tree_hashes(out)


def test_bad_layer_leaves_out_dir_untouched(flint_demo, tmp_path):
    config_dir = _demo_copy(flint_demo, tmp_path / "config")
    provider = json.loads((config_dir / "provider_config.json").read_text())
    layers = {lay["name"]: lay for lay in provider["Providers"]["RasterTiled"]["layers"]}
    src = Path(layers["Classifier1"]["layer_path"])
    bad = tmp_path / "bad_layers" / "Classifier1.tiff"
    bad.parent.mkdir()
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read(1)
    rows, cols = np.nonzero(data != 255)
    data[rows[0], cols[0]] = 42  # a species code the sidecar does not list
    with rasterio.open(bad, "w", **profile) as ds:
        ds.write(data, 1)
    shutil.copy(src.with_suffix(".json"), bad.with_suffix(".json"))
    layers["Classifier1"]["layer_path"] = str(bad)
    (config_dir / "provider_config.json").write_text(json.dumps(provider))

    out = tmp_path / "out"
    before = _previous_output(out)
    with pytest.raises(LayerError, match=r"layer 'Classifier1': pixel value\(s\) 42 are not in the attributes"):
        run_project(config_dir, out, overwrite=True)
    assert tree_hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_layers", "config", "out"]


def test_failure_after_simulation_leaves_out_dir_untouched(flint_demo, tmp_path, monkeypatch):
    import flintcloud.outputs.compile as compile_mod

    def broken(raw_db, compiled_db, *args, **kwargs):
        assert Path(raw_db).is_file()  # the raw db was complete, in the temp dir
        raise OutputError(f"compiling {raw_db} failed on purpose")

    monkeypatch.setattr(compile_mod, "compile_results", broken)
    out = tmp_path / "out"
    before = _previous_output(out)
    with pytest.raises(OutputError, match="failed on purpose"):
        run_project(flint_demo / "config", out, map_years=[], overwrite=True)
    assert tree_hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ----------------------------------------------------------------------------------------- CLI


def test_cli_run_refuses_non_empty_out_without_overwrite(flint_demo, tmp_path):
    from flintcloud.cli import main

    out = tmp_path / "out"
    before = _previous_output(out)
    result = CliRunner().invoke(main, ["run", str(flint_demo / "config"), "--out", str(out)])
    assert result.exit_code != 0
    assert isinstance(result.exception, FlintcloudError)
    assert "not empty" in str(result.exception)
    assert tree_hashes(out) == before


@pytest.mark.e2e
def test_cli_run_prints_summary_line(flint_demo, tmp_path):
    from flintcloud.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(flint_demo / "config"), "--out", str(out), "--map-years", "", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert "11347 pixels" in last and "unique stands" in last and "11 years" in last and last.endswith("(libcbm)")
    assert sorted(p.name for p in out.iterdir()) == ["compiled_gcbm_output.db", "gcbm_output.db", "run_summary.json"]
    assert json.loads((out / "run_summary.json").read_text())["map_years"] == []


@pytest.mark.e2e
def test_belize_project_runs_with_windows_paths(belize_project, tmp_path):
    """1900-2050, LifeZone classifier, scalar initial age, no disturbances, configs with backslashes."""
    out = tmp_path / "out"
    summary = run_project(belize_project / "gcbm_project", out, map_years=[2050])
    assert summary.n_pixels == 18320
    record = json.loads((out / "run_summary.json").read_text())
    assert (record["start_year"], record["end_year"], record["years"]) == (1900, 2050, 151)
    with sqlite3.connect(out / "compiled_gcbm_output.db") as conn:
        area = dict(conn.execute("SELECT year, SUM(area) FROM v_age_indicators GROUP BY year").fetchall())
        nbp = dict(conn.execute(
            "SELECT year, SUM(flux_tc) FROM v_stock_change_indicators WHERE indicator = 'NBP' GROUP BY year"
        ).fetchall())
        te = dict(conn.execute(
            "SELECT year, SUM(pool_tc) FROM v_pool_indicators WHERE indicator = 'Total Ecosystem' GROUP BY year"
        ).fetchall())
        assert conn.execute("SELECT COUNT(*) FROM v_disturbance_indicators").fetchone()[0] == 0
    assert sorted(area) == list(range(1900, 2051))
    for a in area.values():
        assert a == pytest.approx(record["area_ha"], rel=1e-12)
    for year in range(1901, 2051):
        assert abs((te[year] - te[year - 1]) - nbp[year]) <= 1e-6 * abs(nbp[year])
    assert {p.name for p in (out / "spatial").iterdir()} >= {"NBP_2050.tif", "Total_Ecosystem_C_2050.tif"}


def _swap_layer(config_dir: Path, name: str, new_path: Path) -> None:
    provider = json.loads((config_dir / "provider_config.json").read_text())
    for layer in provider["Providers"]["RasterTiled"]["layers"]:
        if layer["name"] == name:
            layer["layer_path"] = str(new_path)
    (config_dir / "provider_config.json").write_text(json.dumps(provider))


def _copy_layer(config_dir: Path, name: str, dest_dir: Path, *, profile_changes=None, sidecar_changes=None) -> Path:
    src = Path(next(
        lay["layer_path"]
        for lay in json.loads((config_dir / "provider_config.json").read_text())["Providers"]["RasterTiled"]["layers"]
        if lay["name"] == name
    ))
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / src.name
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read(1)
    profile.update(profile_changes or {})
    with rasterio.open(dest, "w", **profile) as ds:
        ds.write(data, 1)
    sidecar = json.loads(src.with_suffix(".json").read_text())
    if sidecar_changes:
        sidecar_changes(sidecar)
    dest.with_suffix(".json").write_text(json.dumps(sidecar))
    return dest


def _rename_fire(sidecar: dict) -> None:
    sidecar["attributes"]["1"]["disturbance_type"] = "Wildfire (typo)"


@pytest.mark.parametrize(
    "layer, changes, error, message",
    [
        ("disturbances_2011", {"sidecar_changes": _rename_fire}, LayerError,
         r"disturbance layer 'disturbances_2011': pixel value 1 names disturbance type 'Wildfire \(typo\)', "
         r"which is not in the disturbance_type table"),
        ("initial_age", {"profile_changes": {"transform": rasterio.Affine(0.00025, 0, -105.5, 0, -0.00025, 55.0)}},
         LayerError, r"layer 'initial_age' .* is on another grid than layer 'Classifier2': origin x -105.5"),
    ],
)
def test_bad_project_inputs_leave_out_dir_untouched(flint_demo, tmp_path, layer, changes, error, message):
    config_dir = _demo_copy(flint_demo, tmp_path / "config")
    _swap_layer(config_dir, layer, _copy_layer(config_dir, layer, tmp_path / "bad", **changes))
    out = tmp_path / "out"
    before = _previous_output(out)
    with pytest.raises(error, match=message):
        run_project(config_dir, out, overwrite=True)
    assert tree_hashes(out) == before


def test_container_engine_failure_leaves_out_dir_untouched(flint_demo, tmp_path):
    """No Docker daemon, or no image pinned by digest: one clear error, previous outputs intact."""
    out = tmp_path / "out"
    before = _previous_output(out)
    with pytest.raises(FlintcloudError, match="libcbm|digest|image"):
        run_project(flint_demo / "config", out, engine="gcbm-container", overwrite=True)
    assert tree_hashes(out) == before


@pytest.mark.e2e
def test_sigterm_mid_run_leaves_nothing_behind(flint_demo, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    code = (
        "import sys; from flintcloud.run import run_project; "
        "run_project(sys.argv[1], sys.argv[2], map_years='all')"
    )
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c", code, str(flint_demo / "config"), str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".out.tmp-") for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in proc.stderr.read().decode()
    assert list(tmp_path.iterdir()) == []
