"""Stand grouping: grouped stands reproduce every pixel exactly, whatever the block size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flintcloud.errors import LayerError
from flintcloud.gcbm.config import read_gcbm_config
from flintcloud.landscape.grid import pixel_area_ha
from flintcloud.landscape.raster import read_landscape
from flintcloud.landscape.stands import group_stands

SPU = {("British Columbia", "Taiga Plains"): 17}
DIST_IDS = {"Wildfire": 1, "Clearcut harvesting": 4}


def _pixel_events(arrays, r, c):
    """The events GCBM fires for pixel (r, c) of the small project, in firing order, inside 2010-2012."""
    out = []
    if arrays["dist_a"][r, c] == 1:
        out.append((2011, "Wildfire", 1, 1))
    if arrays["dist_b"][r, c] == 1:
        out.append((2011, "Clearcut harvesting", 4, 1))
    # dist_b value 2 is a 2030 wildfire: outside the 2010-2012 window, never fired
    return out


@pytest.mark.parametrize("block_shape", [None, (1, 5), (4, 3), (2, 2)])
def test_grouped_stands_reproduce_every_pixel(small_project, block_shape):
    config_dir, arrays = small_project
    landscape = read_landscape(read_gcbm_config(config_dir), block_shape=block_shape)
    ss = group_stands(landscape, SPU, DIST_IDS)
    c1 = {1: "TA", 2: "BP"}
    c2 = {1: "5", 2: "6"}
    valid = (arrays["Classifier1"] != 255) & (arrays["initial_age"] != 32767) & (arrays["mean_annual_temperature"] < 1e38)
    assert ss.pixel_stand.dtype == np.int64
    np.testing.assert_array_equal(ss.pixel_stand >= 0, valid)
    stands = ss.stands
    events = ss.events
    for r, c in zip(*np.nonzero(valid)):
        s = stands.loc[ss.pixel_stand[r, c]]
        assert s["Classifier1"] == c1[int(arrays["Classifier1"][r, c])]
        assert s["Classifier2"] == c2[int(arrays["Classifier2"][r, c])]
        assert s["age"] == arrays["initial_age"][r, c]
        assert s["mean_annual_temperature"] == float(arrays["mean_annual_temperature"][r, c])
        assert s["spatial_unit_id"] == 17
        ev = events[events.stand_id == ss.pixel_stand[r, c]].sort_values(["year", "order"])
        got = [(int(y), t, int(i), int(tr)) for y, t, i, tr in
               ev[["year", "disturbance_type", "disturbance_type_id", "transition"]].itertuples(index=False)]
        assert got == _pixel_events(arrays, r, c)
    # stands are unique on their key
    key = ["Classifier1", "Classifier2", "age", "mean_annual_temperature"]
    seq = events.groupby("stand_id").apply(lambda e: tuple(map(tuple, e[["year", "disturbance_type"]].values)),
                                           include_groups=False)
    keyed = stands[key].assign(seq=[seq.get(i, ()) for i in stands.index])
    assert not keyed.duplicated().any()
    # pixel counts and areas add up
    area_rows = pixel_area_ha(ss.grid)
    for sid, row in stands.iterrows():
        rr, _ = np.nonzero(ss.pixel_stand == sid)
        assert row["n_pixels"] == len(rr)
        assert row["area_ha"] == pytest.approx(area_rows[rr].sum(), rel=1e-14)
    assert ss.n_pixels == int(valid.sum())
    assert list(stands.columns[:2]) == ["Classifier1", "Classifier2"]
    assert ss.classifier_names == ["Classifier1", "Classifier2"]


def test_block_size_does_not_change_the_stand_set(small_project):
    config_dir, _ = small_project
    config = read_gcbm_config(config_dir)
    a = group_stands(read_landscape(config), SPU, DIST_IDS)
    b = group_stands(read_landscape(config, block_shape=(1, 2)), SPU, DIST_IDS)
    assert a.n_stands == b.n_stands
    # same stands, possibly numbered differently: compare per pixel
    cols = ["Classifier1", "Classifier2", "age", "mean_annual_temperature", "n_pixels"]
    pa = a.stands[cols].to_numpy()[a.pixel_stand[a.pixel_stand >= 0]]
    pb = b.stands[cols].to_numpy()[b.pixel_stand[b.pixel_stand >= 0]]
    np.testing.assert_array_equal(pa, pb)
    assert a.area_ha == pytest.approx(b.area_ha, rel=1e-14)


def test_unknown_disturbance_type_names_layer_and_value(small_project):
    config_dir, _ = small_project
    landscape = read_landscape(read_gcbm_config(config_dir))
    with pytest.raises(LayerError, match=r"layer 'dist_b': pixel value 1 names disturbance type 'Clearcut harvesting', which is not in the disturbance_type table"):
        group_stands(landscape, SPU, {"Wildfire": 1})


def test_unknown_spatial_unit_names_both_boundaries(small_project):
    config_dir, _ = small_project
    landscape = read_landscape(read_gcbm_config(config_dir))
    with pytest.raises(LayerError, match=r"admin_boundary 'British Columbia' and eco_boundary 'Taiga Plains'"):
        group_stands(landscape, {("Alberta", "Boreal Plains"): 3}, DIST_IDS)


def test_without_resolvers_the_engine_gets_names(small_project):
    config_dir, _ = small_project
    ss = group_stands(read_landscape(read_gcbm_config(config_dir)))
    assert (ss.stands["spatial_unit_id"] == -1).all()
    assert ss.events["disturbance_type_id"].isna().all()
    assert set(ss.events["disturbance_type"]) == {"Wildfire", "Clearcut harvesting"}
    assert (ss.stands["admin_boundary"] == "British Columbia").all()


def test_demo_stands(flint_demo):
    config = read_gcbm_config(flint_demo / "config")
    ss = group_stands(read_landscape(config), lambda admin, eco: 42)
    assert ss.n_pixels == 11347
    assert ss.area_ha == pytest.approx(510.620353071146, rel=1e-12)
    assert ss.n_stands < 11347
    # disturbed pixels per layer: one event per disturbed valid pixel
    import rasterio

    events = ss.events.merge(ss.stands[["n_pixels"]], left_on="stand_id", right_index=True)
    for layer in config.disturbance_layers:
        with rasterio.open(config.layers[layer]) as ds:
            data = ds.read(1)
        n_layer = int(((data != 255) & (ss.pixel_stand >= 0)).sum())
        assert int(events.loc[events.layer == layer, "n_pixels"].sum()) == n_layer
    assert sorted(events.year.unique()) == [2011, 2012, 2013, 2014, 2015, 2016, 2018]


def test_memory_is_bounded_by_the_pixel_index(tmp_path):
    """Grouping 1.44 M pixels block by block: beyond pixel_stand, peak memory stays at block scale."""
    import tracemalloc

    from landscape_builders import config_docs, write_config, write_layer

    n = 1200
    rows = np.arange(n)[:, None]
    cols = np.arange(n)[None, :]
    species = (1 + (rows // 100 + cols // 100) % 4).astype(np.uint8)
    age = (10 * ((rows // 50) % 12)).astype(np.int16) + np.zeros((1, n), np.int16)
    fire = np.where((rows // 300 == cols // 300), 1, 255).astype(np.uint8)
    layers = tmp_path / "layers"
    write_layer(layers, "Species", species, nodata=255, attributes={str(i): f"S{i}" for i in range(1, 5)},
                blocksize=128)
    write_layer(layers, "initial_age", age, nodata=-1, blocksize=128)
    write_layer(layers, "fire", fire, nodata=255, blocksize=128,
                attributes={"1": {"year": 2011, "disturbance_type": "Wildfire", "transition": 1}})
    docs = config_docs(
        {"Species": "../layers/Species.tiff", "initial_age": "../layers/initial_age.tiff", "fire": "../layers/fire.tiff"},
        classifiers=["Species"], disturbances=["fire"], temperature=1.5,
    )
    landscape = read_landscape(read_gcbm_config(write_config(tmp_path / "config", docs)), block_pixels=1 << 14)
    tracemalloc.start()
    try:
        ss = group_stands(landscape, SPU, DIST_IDS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    index_bytes = ss.pixel_stand.nbytes
    assert ss.n_pixels == n * n
    expected = np.unique(np.stack([species.ravel(), np.broadcast_to(age, species.shape).ravel(), fire.ravel()]), axis=1)
    assert ss.n_stands == expected.shape[1]
    burnt = ss.stands.index.isin(ss.events.stand_id)
    assert int(ss.stands.loc[burnt, "n_pixels"].sum()) == int((fire == 1).sum())
    # Beyond the index, memory is per block (16 k pixels: a few MB). Grouping the whole grid at once
    # would need its key matrix alone: 3 columns x 8 bytes x 1.44 M pixels = 35 MB.
    assert peak - index_bytes < 8_000_000, (peak, index_bytes)


def test_unique_rows_matches_numpy():
    from flintcloud.landscape.stands import unique_rows

    rng = np.random.default_rng(3)
    keys = np.column_stack([
        rng.integers(0, 3, 5000), rng.integers(-2**40, 2**40, 5000) // 2**38, rng.integers(0, 2, 5000),
        np.full(5000, np.float64(1.25).view(np.int64)), rng.integers(2**62, 2**63 - 1, 5000) // 2**60,
    ]).astype(np.int64)
    uniq, inverse, counts = unique_rows(keys)
    ref_u, ref_inv, ref_c = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    assert len(uniq) == len(ref_u)
    np.testing.assert_array_equal(uniq[inverse], keys)
    assert sorted(counts.tolist()) == sorted(ref_c.tolist())
    assert counts.sum() == len(keys)
    empty = unique_rows(keys[:0])
    assert empty[0].shape == (0, 5) and len(empty[1]) == 0


def test_sidecar_disturbance_type_id_is_read_as_the_type_code(tmp_path):
    """CBMDisturbanceListener matches a sidecar's disturbance_type_id against disturbance_type.code."""
    from landscape_builders import config_docs, write_config, write_layer

    layers = tmp_path / "layers"
    write_layer(layers, "Species", np.ones((1, 3), np.uint8), nodata=255, attributes={"1": "TA"})
    attrs = {
        "1": {"year": 2011, "disturbance_type_id": 136},
        "2": {"year": 2012, "disturbance_type": "Wildfire", "disturbance_type_id": 1},
    }
    write_layer(layers, "dist", np.array([[1, 2, 255]], np.uint8), nodata=255, attributes=attrs)
    docs = config_docs({"Species": "../layers/Species.tiff", "dist": "../layers/dist.tiff"},
                       classifiers=["Species"], disturbances=["dist"], age=20, temperature=0.0)
    landscape = read_landscape(read_gcbm_config(write_config(tmp_path / "config", docs)))
    ids = {"Wildfire": 2, "Mountain pine beetle — Low impact": 29}
    codes = {1: "Wildfire", 136: "Mountain pine beetle — Low impact"}
    ss = group_stands(landscape, SPU, ids, codes)
    got = sorted(ss.events[["year", "disturbance_type", "disturbance_type_id"]].itertuples(index=False, name=None))
    assert got == [(2011, "Mountain pine beetle — Low impact", 29), (2012, "Wildfire", 2)]
    with pytest.raises(LayerError, match=r"pixel value 1 gives disturbance_type_id 136, which is not a code"):
        group_stands(landscape, SPU, ids, {1: "Wildfire"})
    with pytest.raises(LayerError, match=r"pixel value 2 gives disturbance_type 'Wildfire' but disturbance_type_id 1, "
                                         r"which is 'Clearcut' in the disturbance_type table"):
        group_stands(landscape, SPU, ids, {1: "Clearcut", 136: "Mountain pine beetle — Low impact"})
