"""Pixel area as GCBM computes it, and grid comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from flintcloud.sqlite_ro import connect_ro
from flintcloud.landscape.grid import Grid, pixel_area_ha


def test_geographic_area_depends_on_latitude_of_north_edge():
    grid = Grid(from_origin(-106.0, 55.0, 0.00025, 0.00025), CRS.from_epsg(4326), 10, 4000)
    area = pixel_area_ha(grid)
    side = 0.00025 * 2 * math.pi * 6378137 / 360
    assert area.shape == (4000,)
    assert area[0] == pytest.approx(side * side * math.cos(math.radians(55.0)) / 1e4, rel=1e-15)
    # row 1000's north edge is at 55 - 1000 * 0.00025 = 54.75
    assert area[1000] == pytest.approx(side * side * math.cos(math.radians(54.75)) / 1e4, rel=1e-13)
    assert np.all(np.diff(area) > 0)  # further south, bigger cells


def test_geographic_area_at_equator_and_south():
    grid = Grid(from_origin(0.0, 0.01, 0.01, 0.01), CRS.from_epsg(4326), 1, 2)
    side = 0.01 * 2 * math.pi * 6378137 / 360
    area = pixel_area_ha(grid)
    # row 0: north edge at 0.01; row 1: north edge at the equator
    assert area[0] == pytest.approx(side**2 * math.cos(math.radians(0.01)) / 1e4, rel=1e-14)
    assert area[1] == pytest.approx(side**2 / 1e4, rel=1e-14)


def test_projected_area_is_pixel_width_times_height():
    grid = Grid(from_origin(500000, 6000000, 30, 30), CRS.from_epsg(32610), 3, 4)
    np.testing.assert_array_equal(pixel_area_ha(grid), np.full(4, 0.09))


def test_demo_area_matches_gcbm_reference(flint_demo, gcbm_reference_output):
    """Σ pixel area over the demo's valid pixels = Σ LocationDimension.area GCBM wrote for one year."""
    with rasterio.open(flint_demo / "layers" / "tiled" / "Classifier1.tiff") as ds:
        data = ds.read(1)
        grid = Grid(ds.transform, ds.crs, ds.width, ds.height)
    rows = np.nonzero(data != 255)[0]
    ours = pixel_area_ha(grid)[rows].sum()
    db = gcbm_reference_output / "gcbm_output.db"
    with connect_ro(db) as conn:
        (ref,) = conn.execute(
            "SELECT SUM(l.area) FROM LocationDimension l JOIN DateDimension d ON l.dateDimId = d.id "
            "WHERE d.year = 2010"
        ).fetchone()
    assert len(rows) == 11347
    assert ref == pytest.approx(510.620353071146, rel=1e-12)
    assert ours == pytest.approx(ref, rel=1e-12)
    # the cell-centre latitude would be off by ~3e-5 relative: make sure that is not what we do
    centre = grid.transform.f + (rows + 0.5) * grid.transform.e
    side = 0.00025 * 2 * math.pi * 6378137 / 360
    centre_area = (side**2 * np.cos(np.radians(centre)) / 1e4).sum()
    assert abs(centre_area - ref) / ref > 1e-6


def test_mismatch_names_what_differs():
    a = Grid(from_origin(-106.0, 55.0, 0.00025, 0.00025), CRS.from_epsg(4326), 10, 10)
    assert a.mismatch(a) is None
    assert "size 11x10" in a.mismatch(Grid(a.transform, a.crs, 11, 10))
    assert "CRS" in a.mismatch(Grid(a.transform, CRS.from_epsg(3857), 10, 10))
    assert "origin x" in a.mismatch(Grid(from_origin(-105.0, 55.0, 0.00025, 0.00025), a.crs, 10, 10))
    assert "pixel width" in a.mismatch(Grid(from_origin(-106.0, 55.0, 0.0005, 0.00025), a.crs, 10, 10))


def test_windows_tile_the_grid_exactly():
    grid = Grid(from_origin(0, 10, 1, 1), CRS.from_epsg(4326), 7, 10)
    covered = np.zeros(grid.shape, int)
    for w in grid.windows(3, 4):
        covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (covered == 1).all()
