from __future__ import annotations

import contextlib
import json
import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from outputs_fixtures import three_stand_run
from rasterio.crs import CRS

from flintcloud.cli import main
from flintcloud.errors import ConfigError, LayerError, OutputError
from flintcloud.landscape.grid import Grid, pixel_area_ha
from flintcloud.outputs.spatial import (
    MapWriter,
    cast_values,
    indicator_per_stand,
    map_items,
    mosaic_gcbm_blocks,
    parse_output_item,
)

WGS84 = CRS.from_epsg(4326)
BIOMASS = ["HardwoodMerch", "SoftwoodMerch"]
ITEMS = [
    {"data_name": "Age", "variable_data_type": "Int16", "on_notification": "OutputStep", "variable_name": "age"},
    {"data_name": "Biomass_C", "variable_data_type": "float", "on_notification": "OutputStep", "pool_name": BIOMASS},
    {
        "data_name": "NBP", "variable_data_type": "float", "on_notification": "OutputStep",
        "flux": [
            {"from": ["Atmosphere"], "to": BIOMASS},
            {"from": ["AboveGroundSlowSoil"], "to": ["CO2"], "subtract": True, "flux_source": "annual_process"},
            {"from": BIOMASS, "to": ["CO2"], "subtract": True},
        ],
    },
    {"data_name": "Fire_CO2", "variable_data_type": "double", "on_notification": "OutputStep",
     "flux": {"from": [], "to": ["CO2"], "flux_source": "disturbance"}},
    {"data_name": "Off", "enabled": False, "variable_data_type": "float", "pool_name": ["CO2"]},
    {"data_name": "AtStart", "variable_data_type": "float", "on_notification": "TimingInit", "pool_name": ["CO2"]},
]


def test_indicator_per_stand_pools_and_fluxes():
    step = three_stand_run()[2]  # stand 1 burnt: SoftwoodMerch -> CO2 30, -> snag 10
    biomass = indicator_per_stand(step, ITEMS[1])
    np.testing.assert_allclose(biomass, step.pools[:, 3] + step.pools[:, 4])
    nbp = indicator_per_stand(step, ITEMS[2])
    growth = step.fluxes[:, 0] + step.fluxes[:, 1]
    np.testing.assert_allclose(nbp, growth - step.fluxes[:, 2] - step.fluxes[:, 3])
    assert nbp[1] == pytest.approx(0.0 - 1.0 - 30.0)
    fire = indicator_per_stand(step, ITEMS[3])  # only disturbance fluxes, any source
    assert fire.tolist() == [0.0, 30.0, 0.0]
    annual_co2 = indicator_per_stand(step, {"data_name": "x", "variable_data_type": "float",
                                            "flux": {"from": [], "to": ["CO2"], "flux_source": "annual_process"}})
    np.testing.assert_allclose(annual_co2, step.fluxes[:, 2])
    assert indicator_per_stand(step, ITEMS[0]).tolist() == [47, 0, 152]


def test_item_errors():
    with pytest.raises(ConfigError, match="variable_data_type 'Float99'"):
        parse_output_item({"data_name": "x", "variable_data_type": "Float99", "pool_name": ["CO2"]})
    with pytest.raises(ConfigError, match="flux_source 'sometimes'"):
        parse_output_item({"data_name": "x", "variable_data_type": "float",
                           "flux": {"from": [], "to": [], "flux_source": "sometimes"}})
    with pytest.raises(ConfigError, match="variable_name 'peat_depth'"):
        parse_output_item({"data_name": "x", "variable_data_type": "float", "variable_name": "peat_depth"})
    with pytest.raises(ConfigError, match=r"'Soil_C': pool\(s\) \['NoSuchPool'\]"):
        indicator_per_stand(three_stand_run()[1], {"data_name": "Soil_C", "variable_data_type": "float",
                                                   "pool_name": ["NoSuchPool"]})


def test_cast_like_cpp():
    item = parse_output_item(ITEMS[0])
    assert cast_values(np.array([45.9, -2.7, 1e9]), item).tolist() == [45, -2, 32767]
    f = parse_output_item(ITEMS[1])
    assert cast_values(np.array([0.1]), f).dtype == np.float32
    assert f.nodata == float(np.float32(-1e38))
    assert parse_output_item(ITEMS[3]).nodata == -1e308


def _grid():
    return Grid(Affine(0.00025, 0, -106.0, 0, -0.00025, 55.0), WGS84, 5, 4)


def test_map_writer(tmp_path):
    pixel_stand = np.array([[0, 0, 1, -1, 2], [-1, 1, 1, 2, 2], [0, -1, -1, -1, 2], [0, 0, 0, 0, 0]])
    stands = SimpleNamespace(pixel_stand=pixel_stand, grid=_grid())
    writer = MapWriter(tmp_path / "spatial", ITEMS, years=[2011], stands=stands)
    assert [i.data_name for i in writer.items] == ["Age", "Biomass_C", "NBP", "Fire_CO2"]
    steps = three_stand_run()
    for s in steps:
        writer(s)
    names = sorted(p.name for p in (tmp_path / "spatial").iterdir())
    assert names == ["Age_2011.tif", "Biomass_C_2011.tif", "Fire_CO2_2011.tif", "NBP_2011.tif"]

    with rasterio.open(tmp_path / "spatial" / "Age_2011.tif") as ds:
        age = ds.read(1)
        assert ds.dtypes[0] == "int16" and ds.nodata == -32768
        assert ds.transform == _grid().transform and ds.crs == WGS84
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
    assert age[0].tolist() == [47, 47, 0, -32768, 152]
    with rasterio.open(tmp_path / "spatial" / "Biomass_C_2011.tif") as ds:
        bio = ds.read(1)
        assert ds.dtypes[0] == "float32" and ds.nodata == pytest.approx(-1e38, rel=1e-6)
    expected = (steps[2].pools[:, 3] + steps[2].pools[:, 4]).astype(np.float32)
    assert bio[1, 1] == expected[1] and bio[3, 4] == expected[0] and bio[1, 0] == np.float32(-1e38)
    # stand areas times the map reproduce the stand totals (tC/ha maps)
    assert (bio != np.float32(-1e38)).sum() == (pixel_stand >= 0).sum()
    with rasterio.open(tmp_path / "spatial" / "Fire_CO2_2011.tif") as ds:
        assert ds.dtypes[0] == "float64" and ds.read(1)[0, 2] == 30.0
    assert not [p for p in tmp_path.rglob(".*")]  # no temp files left


def test_map_writer_every_year_and_bad_stand_index(tmp_path):
    stands = SimpleNamespace(pixel_stand=np.full((4, 5), 1), grid=_grid())
    writer = MapWriter(tmp_path, [ITEMS[0]], years=None, stands=stands)
    for s in three_stand_run():
        writer(s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Age_2010.tif", "Age_2011.tif"]
    bad = MapWriter(tmp_path / "b", [ITEMS[0]], None, SimpleNamespace(pixel_stand=np.full((4, 5), 7), grid=_grid()))
    with pytest.raises(OutputError, match="refers to stand 7"):
        bad(three_stand_run()[1])
    with pytest.raises(OutputError, match="pixel_stand has shape"):
        MapWriter(tmp_path, [ITEMS[0]], None, SimpleNamespace(pixel_stand=np.zeros((2, 2)), grid=_grid()))


def test_map_writer_strips_equal_the_whole_grid_lookup(tmp_path):
    # 600 rows: three MAP_STRIP_ROWS strips, the last one partial; every pixel lands where lookup[pixel_stand] says
    rng = np.random.default_rng(3)
    pixel_stand = rng.integers(-1, 3, size=(600, 300))
    grid = Grid(Affine(0.00025, 0, -106.0, 0, -0.00025, 55.0), WGS84, 300, 600)
    writer = MapWriter(tmp_path, [ITEMS[0], ITEMS[1]], years=[2011], stands=SimpleNamespace(pixel_stand=pixel_stand, grid=grid))
    step = three_stand_run()[2]
    writer(step)
    with rasterio.open(tmp_path / "Age_2011.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), np.append(step.age.astype(np.int16), np.int16(-32768))[pixel_stand])
    bio = (step.pools[:, 3] + step.pools[:, 4]).astype(np.float32)
    with rasterio.open(tmp_path / "Biomass_C_2011.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), np.append(bio, np.float32(-1e38))[pixel_stand])


def test_map_writer_writes_the_simulated_window_and_nodata_elsewhere(tmp_path):
    # simulated pixels in a small window far from the origin of a 700 x 900 grid (like the demo's corner of a tile)
    pixel_stand = np.full((700, 900), -1)
    pixel_stand[300:340, 610:650] = np.arange(40)[:, None] % 3
    grid = Grid(Affine(0.00025, 0, -106.0, 0, -0.00025, 55.0), WGS84, 900, 700)
    writer = MapWriter(tmp_path, [ITEMS[0]], years=[2011], stands=SimpleNamespace(pixel_stand=pixel_stand, grid=grid))
    assert writer._window == (256, 340, 512, 650)
    step = three_stand_run()[2]
    writer(step)
    with rasterio.open(tmp_path / "Age_2011.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), np.append(step.age.astype(np.int16), np.int16(-32768))[pixel_stand])
    empty = MapWriter(tmp_path / "e", [ITEMS[0]], years=None, stands=SimpleNamespace(pixel_stand=np.full((4, 5), -1), grid=_grid()))
    empty(step)
    with rasterio.open(tmp_path / "e" / "Age_2011.tif") as ds:
        assert (ds.read(1) == -32768).all()


def test_threaded_map_writer_writes_the_same_bytes(tmp_path):
    """Writer threads (run_project's way) give byte-identical files to writing in the reporter call."""
    rng = np.random.default_rng(5)
    pixel_stand = rng.integers(-1, 3, size=(600, 300))
    pixel_stand[:, :40] = -1
    grid = Grid(Affine(0.00025, 0, -106.0, 0, -0.00025, 55.0), WGS84, 300, 600)
    stands = SimpleNamespace(pixel_stand=pixel_stand, grid=grid)
    steps = three_stand_run()
    inline = MapWriter(tmp_path / "inline", ITEMS, years=None, stands=stands)
    with MapWriter(tmp_path / "threads", ITEMS, years=None, stands=stands, threads=2, atomic=False) as threaded:
        for step in steps:
            inline(step)
            threaded(step)
    assert [p.name for p in threaded.written] == [p.name for p in inline.written]
    assert len(inline.written) == 4 * 2
    for a, b in zip(inline.written, threaded.written):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert threaded.writer_seconds > 0 and not [p for p in (tmp_path / "threads").rglob(".*")]


def test_threaded_map_writer_raises_a_writer_error_and_stops(tmp_path):
    stands = SimpleNamespace(pixel_stand=np.zeros((4, 5), dtype=np.int64), grid=_grid())
    (tmp_path / "spatial").mkdir()
    (tmp_path / "spatial" / "Age_2011.tif").mkdir()  # a folder where a map must go: rasterio cannot create it
    writer = MapWriter(tmp_path / "spatial", [ITEMS[0]], years=None, stands=stands, threads=2, atomic=False)
    with pytest.raises(rasterio.errors.RasterioIOError):
        with writer:
            for step in three_stand_run():
                writer(step)
    assert writer._pool is None  # the threads were shut down
    assert (tmp_path / "spatial" / "Age_2010.tif").is_file()


def _write_block(path, array, west, north, dtype="float32", nodata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nodata = float(np.float32(-1e38)) if nodata is None else nodata
    profile = dict(driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=dtype,
                   nodata=nodata, crs=WGS84, transform=Affine(0.1 / array.shape[1], 0, west, 0,
                                                              -0.1 / array.shape[0], north),
                   tiled=True, compress="deflate", blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array.astype(dtype), 1)


def test_mosaic_blocks_in_gcbm_layout(tmp_path):
    gcbm = tmp_path / "output"
    nd = np.float32(-1e38)
    for step in (1, 2):
        a = np.full((16, 16), float(step), dtype=np.float32)
        a[0, 0] = nd
        b = np.full((16, 16), 10.0 + step, dtype=np.float32)
        _write_block(gcbm / "AG_Biomass_C" / "-106_055" / f"AG_Biomass_C_-106_055_0_{step}.tif", a, -106.0, 55.0)
        _write_block(gcbm / "AG_Biomass_C" / "-106_055" / f"AG_Biomass_C_-106_055_11_{step}.tif", b, -105.9, 54.9)
        ages = np.full((16, 16), 30 + step, dtype=np.int16)
        _write_block(gcbm / "Age" / "-106_055" / f"Age_-106_055_0_{step}.tif", ages, -106.0, 55.0, "int16", -32768)
    (gcbm / "gcbm_output.db").write_bytes(b"")  # not a block
    (gcbm / "Age" / "-106_055" / "notes.tif").write_bytes(b"")  # not a block name either

    written = mosaic_gcbm_blocks(gcbm, tmp_path / "spatial", start_year=2010)
    assert sorted(p.name for p in written) == ["AG_Biomass_C_2010.tif", "AG_Biomass_C_2011.tif", "Age_2010.tif",
                                               "Age_2011.tif"]
    with rasterio.open(tmp_path / "spatial" / "AG_Biomass_C_2011.tif") as ds:
        m = ds.read(1)
        assert (ds.width, ds.height) == (32, 32)
        assert ds.transform.c == pytest.approx(-106.0) and ds.transform.f == pytest.approx(55.0)
        assert ds.nodata == pytest.approx(float(nd)) and ds.profile["compress"] == "deflate"
    assert m[0, 0] == nd and m[5, 5] == 2.0 and m[20, 20] == 12.0
    assert (m[:16, 16:] == nd).all() and (m[16:, :16] == nd).all()  # no block there
    with rasterio.open(tmp_path / "spatial" / "Age_2010.tif") as ds:
        assert ds.dtypes[0] == "int16" and ds.nodata == -32768 and (ds.read(1) == 31).all()

    with pytest.raises(OutputError, match="no WriteVariableGeotiff blocks"):
        mosaic_gcbm_blocks(tmp_path / "spatial", tmp_path / "x", 2010)
    with pytest.raises(OutputError, match="does not exist"):
        mosaic_gcbm_blocks(tmp_path / "nowhere", tmp_path / "x", 2010)


def test_mosaic_blocks_onto_the_input_grid(tmp_path):
    """With the input grid, the maps cover it exactly (as the embedded engine's do), blocks in their windows."""
    gcbm = tmp_path / "output"
    nd = np.float32(-1e38)
    a = np.full((16, 16), 2.0, dtype=np.float32)
    a[0, 0] = nd
    _write_block(gcbm / "NPP" / "-106_055" / "NPP_-106_055_0_1.tif", a, -105.9, 54.9)
    ages = np.full((16, 16), 31, dtype=np.int16)
    _write_block(gcbm / "Age" / "-106_055" / "Age_-106_055_0_1.tif", ages, -105.9, 54.9, "int16", -32768)
    # the input grid: 0.1/16 deg pixels from (-106, 55), 50 x 40 pixels; the blocks start at column 16, row 16
    grid = Grid(Affine(0.1 / 16, 0, -106.0, 0, -0.1 / 16, 55.0), WGS84, 50, 40)
    written = mosaic_gcbm_blocks(gcbm, tmp_path / "spatial", start_year=2010, grid=grid)
    assert sorted(p.name for p in written) == ["Age_2010.tif", "NPP_2010.tif"]
    with rasterio.open(tmp_path / "spatial" / "NPP_2010.tif") as ds:
        m = ds.read(1)
        assert (ds.width, ds.height) == (50, 40) and ds.transform == grid.transform and ds.crs == WGS84
        assert ds.dtypes[0] == "float32" and ds.nodata == pytest.approx(float(nd))
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
    assert m[16, 16] == nd and m[17, 17] == 2.0 and m[31, 31] == 2.0
    assert (m[:16] == nd).all() and (m[32:] == nd).all() and (m[:, :16] == nd).all() and (m[:, 32:] == nd).all()
    with rasterio.open(tmp_path / "spatial" / "Age_2010.tif") as ds:
        age = ds.read(1)
        assert ds.nodata == -32768 and (age[16:32, 16:32] == 31).all() and (age == 31).sum() == 256

    # a grid the blocks do not fit: the error names the block and what is wrong
    shifted = Grid(Affine(0.1 / 16, 0, -106.0 + 0.1 / 32, 0, -0.1 / 16, 55.0), WGS84, 50, 40)
    with pytest.raises(LayerError, match=r"Age_-106_055_0_1.tif.*off the input grid's pixel lattice"):
        mosaic_gcbm_blocks(gcbm, tmp_path / "x", 2010, grid=shifted)
    small = Grid(grid.transform, WGS84, 20, 20)
    with pytest.raises(LayerError, match=r"outside the input grid's 20 x 20 pixels"):
        mosaic_gcbm_blocks(gcbm, tmp_path / "x", 2010, grid=small)
    coarse = Grid(Affine(0.1 / 8, 0, -106.0, 0, -0.1 / 8, 55.0), WGS84, 50, 40)
    with pytest.raises(LayerError, match=r"pixel size .* the input grid's is"):
        mosaic_gcbm_blocks(gcbm, tmp_path / "x", 2010, grid=coarse)
    utm = Grid(grid.transform, CRS.from_epsg(32613), 50, 40)
    with pytest.raises(LayerError, match=r"CRS EPSG:4326, the input grid's is EPSG:32613"):
        mosaic_gcbm_blocks(gcbm, tmp_path / "x", 2010, grid=utm)


def test_mosaic_gcbm_reference_blocks(gcbm_reference_output, tmp_path):
    out = tmp_path / "spatial"
    result = CliRunner().invoke(main, ["mosaic", str(gcbm_reference_output), "--out", str(out), "--start-year", "2010"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 21 * 11 and "NBP_2020.tif" in names and "Age_2010.tif" in names
    with rasterio.open(out / "Age_2010.tif") as ds:
        age = ds.read(1)
    assert (age != -32768).sum() == 11347 and age.max() == 226
    # tC/ha maps x GCBM's pixel area = GCBM's own pool totals, every year.
    with contextlib.closing(sqlite3.connect(gcbm_reference_output / "gcbm_output.db")) as conn:
        totals = dict(conn.execute(
            "SELECT d.year, SUM(p.poolValue) FROM Pools p JOIN LocationDimension l ON l.id = p.locationDimId "
            "JOIN DateDimension d ON d.id = l.dateDimId JOIN PoolDimension pd ON pd.id = p.poolId "
            "WHERE pd.poolName IN ('SoftwoodMerch','SoftwoodFoliage','SoftwoodOther','SoftwoodCoarseRoots',"
            "'SoftwoodFineRoots','HardwoodMerch','HardwoodFoliage','HardwoodOther','HardwoodCoarseRoots',"
            "'HardwoodFineRoots') AND d.year > 0 GROUP BY d.year").fetchall())
    for year, total in totals.items():
        with rasterio.open(out / f"Total_Biomass_C_{year}.tif") as ds:
            a = ds.read(1).astype(np.float64)
            area = pixel_area_ha(Grid(ds.transform, ds.crs, ds.width, ds.height))
            valid = a != ds.nodata
        assert (a * area[:, None])[valid].sum() == pytest.approx(total, rel=1e-6)


def test_demo_config_items_all_map(flint_demo, gcbm_reference_output):
    config = json.loads((flint_demo / "config" / "modules_output.json").read_text())
    items = map_items(config["Modules"]["WriteVariableGeotiff"]["settings"]["items"])
    reference = {p.name for p in gcbm_reference_output.iterdir() if p.is_dir()}
    assert {i.data_name for i in items} == reference
    assert {i.data_name: i.dtype for i in items}["Age"] == "int16"
