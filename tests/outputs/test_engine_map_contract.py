"""One output contract for both engines (issue 20 part 4): maps on the input layers' grid.

GCBM's own WriteVariableGeotiff blocks for the FLINT.Cloud demo are mosaicked with the container
engine's code (the same call `run --engine gcbm-container` makes, on the stands `run.prepare_run` reads) and compared, grid and every
pixel, with the maps the libcbm engine writes through `run_project`.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from flintcloud.gcbm.config import read_gcbm_config
from flintcloud.outputs.spatial import mosaic_gcbm_blocks
from flintcloud.run import prepare_run

pytestmark = pytest.mark.shared
RTOL = 1e-6  # as tests/test_gcbm_reference.py; float32 maps also allow one float32 ulp of GCBM's value


@pytest.fixture(scope="module")
def both_engines_maps(flint_demo, gcbm_reference_output, flint_demo_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    config = read_gcbm_config(flint_demo / "config")
    stands = prepare_run(config).stands  # what run_gcbm_container reads (prepare=run.prepare_run)
    written = mosaic_gcbm_blocks(gcbm_reference_output, tmp / "gcbm", config.start_year, grid=stands.grid)
    return stands, flint_demo_run / "spatial", tmp / "gcbm", written


def test_both_engines_write_the_same_maps_on_the_input_grid(both_engines_maps):
    stands, ours_dir, gcbm_dir, written = both_engines_maps
    ours = sorted(p.name for p in ours_dir.glob("*.tif"))
    assert len(ours) == 21 * 11 and sorted(p.name for p in written) == ours
    grid = stands.grid
    for name in ours:
        with rasterio.open(ours_dir / name) as a, rasterio.open(gcbm_dir / name) as b:
            for ds in (a, b):
                assert (ds.width, ds.height, ds.transform, ds.crs) == (grid.width, grid.height, grid.transform, grid.crs), name
            assert (a.dtypes, a.nodata, a.count) == (b.dtypes, b.nodata, b.count), name
            assert a.profile["blockxsize"] == b.profile["blockxsize"] == 256 and a.profile["compress"] == "deflate"


def test_every_pixel_of_gcbm_blocks_equals_the_libcbm_engines_map(both_engines_maps):
    stands, ours_dir, gcbm_dir, _ = both_engines_maps
    problems, compared = [], 0
    for path in sorted(ours_dir.glob("*.tif")):
        with rasterio.open(path) as a, rasterio.open(gcbm_dir / path.name) as b:
            ours, gcbm, nodata, dtype = a.read(1), b.read(1), a.nodata, a.dtypes[0]
        o_nd, g_nd = ours == nodata, gcbm == nodata
        assert (o_nd == (stands.pixel_stand < 0)).all(), path.name  # our nodata is exactly the unsimulated pixels
        if (o_nd != g_nd).any():
            problems.append(f"{path.name}: nodata differs on {int((o_nd != g_nd).sum())} pixels")
            continue
        x, y = ours[~o_nd].astype(np.float64), gcbm[~g_nd].astype(np.float64)
        tol = RTOL * np.maximum(np.abs(x), np.abs(y))
        if dtype == "float32":
            tol = np.maximum(tol, np.spacing(np.abs(y).astype(np.float32)).astype(np.float64))
        else:
            tol = np.zeros_like(tol)  # integer maps (Age) equal exactly
        bad = np.abs(x - y) > tol
        compared += x.size
        if bad.any():
            i = int(np.argmax(np.abs(x - y) - tol))
            problems.append(f"{path.name}: {int(bad.sum())} of {bad.size} pixels differ, e.g. GCBM {y[i]!r} ours {x[i]!r}")
    assert not problems, "\n".join(problems[:30])
    assert compared == 231 * 11347  # every simulated pixel of every map


def test_pixel_count_is_the_same_for_both_engines(both_engines_maps):
    stands, ours_dir, gcbm_dir, _ = both_engines_maps
    import json

    record = json.loads((ours_dir.parent / "run_summary.json").read_text())  # the libcbm engine's run
    assert record["pixels"] == stands.n_pixels == 11347
    with rasterio.open(gcbm_dir / "Age_2010.tif") as ds:
        assert int((ds.read(1) != ds.nodata).sum()) == stands.n_pixels  # the pixels GCBM itself simulated
