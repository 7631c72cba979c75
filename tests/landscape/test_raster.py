"""Reading layers: one grid, sidecar decoding, GCBM's rule for which pixels are simulated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rasterio.transform import from_origin

from landscape_builders import config_docs, write_config, write_layer
from flintcloud.errors import LayerError
from flintcloud.gcbm.config import read_gcbm_config
from flintcloud.landscape.raster import read_landscape


def test_small_project_decodes_and_masks_like_gcbm(small_project):
    config_dir, arrays = small_project
    landscape = read_landscape(read_gcbm_config(config_dir))
    block = landscape.read()
    c1, age, temp = arrays["Classifier1"], arrays["initial_age"], arrays["mean_annual_temperature"]
    expected_valid = (c1 != 255) & (age != 32767) & (temp < 1e38)
    np.testing.assert_array_equal(block.valid, expected_valid)
    assert block.excluded == {"no_classifier_set": 5, "initial_age_null": 1, "mean_annual_temperature_null": 1}
    cats = landscape.classifier_categories("Classifier1")
    decoded = np.where(block.classifiers["Classifier1"] >= 0, np.asarray(cats, object)[block.classifiers["Classifier1"]], None)
    assert decoded[1, 0] == {1: "TA", 2: "BP"}[int(c1[1, 0])]
    np.testing.assert_array_equal(block.age[block.valid], age[block.valid])
    np.testing.assert_array_equal(block.temperature[block.valid], temp[block.valid].astype(np.float64))
    assert (block.disturbances["dist_a"] >= 0).sum() == (arrays["dist_a"] == 1).sum()


def test_blocks_cover_the_grid_once(small_project):
    config_dir, _ = small_project
    landscape = read_landscape(read_gcbm_config(config_dir), block_shape=(4, 3))
    whole = landscape.read()
    seen = np.zeros(landscape.grid.shape, int)
    for block in landscape.blocks():
        r, c = block.row_off, block.col_off
        h, w = block.valid.shape
        seen[r : r + h, c : c + w] += 1
        np.testing.assert_array_equal(block.valid, whole.valid[r : r + h, c : c + w])
    assert (seen == 1).all()


def _two_layer_project(tmp_path, *, second_transform=None, second_crs="EPSG:4326", values=None, attrs=None):
    layers = tmp_path / "layers"
    data = np.array([[1, 2], [2, 1]], np.uint8) if values is None else values
    write_layer(layers, "Species", data, nodata=255, attributes=attrs or {"1": "TA", "2": "BP"})
    kwargs = {}
    if second_transform is not None:
        kwargs["transform"] = second_transform
    write_layer(layers, "initial_age", np.full((2, 2), 10, np.int16), nodata=-1, crs=second_crs, **kwargs)
    docs = config_docs(
        {"Species": "../layers/Species.tiff", "initial_age": "../layers/initial_age.tiff"},
        classifiers=["Species"],
        temperature=-2.0,
    )
    return read_gcbm_config(write_config(tmp_path / "config", docs))


def test_layer_on_another_grid_names_layer_and_mismatch(tmp_path):
    config = _two_layer_project(tmp_path, second_transform=from_origin(-105.0, 55.0, 0.00025, 0.00025))
    with pytest.raises(LayerError, match=r"layer 'initial_age'.*another grid than layer 'Species'.*origin x"):
        read_landscape(config)


def test_layer_in_another_crs_names_layer(tmp_path):
    config = _two_layer_project(tmp_path, second_crs="EPSG:3857")
    with pytest.raises(LayerError, match=r"'initial_age'.*CRS EPSG:3857, expected EPSG:4326"):
        read_landscape(config)


def test_pixel_value_missing_from_sidecar_names_layer_and_value(tmp_path):
    config = _two_layer_project(tmp_path, values=np.array([[1, 7], [2, 255]], np.uint8))
    landscape = read_landscape(config)
    with pytest.raises(LayerError, match=r"layer 'Species': pixel value\(s\) 7 are not in the attributes.*row 0, column 1"):
        landscape.read()


def test_pixel_value_missing_from_int32_sidecar(tmp_path):
    config = _two_layer_project(
        tmp_path, values=np.array([[100000, 5], [100000, -1]], np.int32), attrs={"100000": "TA", "-1": "X"}
    )
    with pytest.raises(LayerError, match=r"'Species': pixel value\(s\) 5 are not"):
        read_landscape(config).read()


def test_missing_layer_file_and_sidecar(tmp_path):
    config = _two_layer_project(tmp_path)
    (tmp_path / "layers" / "initial_age.json").unlink()
    with pytest.raises(LayerError, match=r"initial_age\.tiff.*no sidecar"):
        read_landscape(config)
    (tmp_path / "layers" / "Species.tiff").unlink()
    with pytest.raises(LayerError, match=r"classifier layer 'Species': file .*Species\.tiff' not found"):
        read_landscape(config)


def test_disturbance_layer_without_events_is_rejected(tmp_path):
    layers = tmp_path / "layers"
    write_layer(layers, "Species", np.ones((2, 2), np.uint8), nodata=255, attributes={"1": "TA"})
    write_layer(layers, "fire", np.ones((2, 2), np.uint8), nodata=255, attributes={"1": "TA"})
    docs = config_docs(
        {"Species": "../layers/Species.tiff", "fire": "../layers/fire.tiff"},
        classifiers=["Species"], disturbances=["fire"], age=5, temperature=1.0,
    )
    config = read_gcbm_config(write_config(tmp_path / "config", docs))
    with pytest.raises(LayerError, match=r"disturbance layer 'fire'.*not disturbance events"):
        read_landscape(config)


def test_classifier_layer_without_attributes_uses_pixel_values(tmp_path):
    layers = tmp_path / "layers"
    write_layer(layers, "Zone", np.array([[3, 4], [4, 0]], np.uint8), nodata=0)
    docs = config_docs({"Zone": "../layers/Zone.tiff"}, classifiers=["Zone"], age=0, temperature=20.0)
    landscape = read_landscape(read_gcbm_config(write_config(tmp_path / "config", docs)))
    block = landscape.read()
    assert landscape.classifier_categories("Zone") == ["3", "4"]
    np.testing.assert_array_equal(block.valid, [[True, True], [True, False]])
    np.testing.assert_array_equal(block.age, 0)
    assert block.temperature is None


def test_allow_nulls_needs_only_one_classifier(tmp_path):
    layers = tmp_path / "layers"
    write_layer(layers, "A", np.array([[1, 255], [255, 1]], np.uint8), nodata=255, attributes={"1": "a"})
    write_layer(layers, "B", np.array([[1, 1], [255, 255]], np.uint8), nodata=255, attributes={"1": "b"})
    docs = config_docs({"A": "../layers/A.tiff", "B": "../layers/B.tiff"}, classifiers=["A", "B"], age=0)
    strict = read_landscape(read_gcbm_config(write_config(tmp_path / "c1", docs))).read()
    np.testing.assert_array_equal(strict.valid, [[True, False], [False, False]])
    docs["variables.json"]["Variables"]["initial_classifier_set"]["transform"]["allow_nulls"] = True
    loose = read_landscape(read_gcbm_config(write_config(tmp_path / "c2", docs))).read()
    np.testing.assert_array_equal(loose.valid, [[True, True], [False, True]])


def test_a_null_classifier_kept_by_allow_nulls_is_none_in_the_stands_not_the_last_category(tmp_path):
    """A -1 code (null pixel) once indexed the categories from the end: the null took the last value ('b2')."""
    from flintcloud.landscape.stands import group_stands

    layers = tmp_path / "layers"
    write_layer(layers, "A", np.array([[1, 255], [255, 1]], np.uint8), nodata=255, attributes={"1": "a"})
    write_layer(layers, "B", np.array([[1, 2], [255, 255]], np.uint8), nodata=255, attributes={"1": "b1", "2": "b2"})
    docs = config_docs({"A": "../layers/A.tiff", "B": "../layers/B.tiff"}, classifiers=["A", "B"], age=0)
    docs["variables.json"]["Variables"]["initial_classifier_set"]["transform"]["allow_nulls"] = True
    stands = group_stands(read_landscape(read_gcbm_config(write_config(tmp_path / "c", docs)))).stands
    def value(v):
        return None if pd.isna(v) else v

    sets = {(value(a), value(b)) for a, b in zip(stands["A"], stands["B"])}
    assert sets == {("a", "b1"), ("a", None), (None, "b2")}
    # a null matches only a curve with '?' for that classifier, and a missing curve names it "(null)"
    from types import SimpleNamespace

    from flintcloud.errors import SimulationError
    from flintcloud.inputdb.reader import match_growth_curves

    curves = pd.DataFrame({"growth_curve_id": [1, 1, 2, 2], "classifier_name": ["A", "B", "A", "B"],
                           "classifier_value": ["a", "b1", "a", "?"]})
    db = SimpleNamespace(growth_curve_classifiers=curves, classifier_names=["A", "B"], path="gcbm_input.db")
    matched = match_growth_curves(db, stands[["A", "B"]], strict=False)
    assert {s: int(g) for s, g in zip(map(value, stands["B"]), matched)} == {"b1": 1, None: 2, "b2": -1}
    with pytest.raises(SimulationError, match=r"no growth curve for classifier set \{'A': '\(null\)', 'B': 'b2'\}"):
        match_growth_curves(db, stands[["A", "B"]])


def test_demo_landscape(flint_demo):
    landscape = read_landscape(read_gcbm_config(flint_demo / "config"))
    assert landscape.grid.shape == (4000, 4000)
    assert landscape.grid.crs.to_epsg() == 4326
    assert set(landscape.layers) == {
        "Classifier1", "Classifier2", "initial_age", "mean_annual_temperature",
        *(f"disturbances_{y}" for y in (2011, 2012, 2013, 2014, 2015, 2016, 2018)),
    }
    assert landscape.classifier_categories("Classifier1") == ["TA", "BP", "BS", "JP", "WS", "WB", "BF", "GA"]
    assert landscape.classifier_categories("Classifier2") == ["5", "6", "7", "8"]
    n_valid = sum(int(b.valid.sum()) for b in landscape.blocks())
    assert n_valid == 11347


def test_belize_landscape_has_windows_paths_and_scalar_age(belize_project):
    landscape = read_landscape(read_gcbm_config(belize_project / "gcbm_project"))
    block = landscape.read()
    assert landscape.grid.shape == (400, 200)
    assert int(block.valid.sum()) == 18320
    assert landscape.classifier_categories("LifeZone") == [
        "Tropical Dry", "Tropical Moist", "Tropical Premontane Wet, Transition to Basal - Atlantic",
    ]
    assert (block.age[block.valid] == 0).all()


def test_mask_vars_exclude_pixels_where_the_mask_layer_is_null(small_project, tmp_path):
    """CBMBuildLandUnitModule mask_vars: a pixel is simulated only where every mask layer has a value;
    the excluded ones are counted under mask:<layer> (pixels excluded for another reason first are not)."""
    config_dir, arrays = small_project
    c1, age, temp = arrays["Classifier1"], arrays["initial_age"], arrays["mean_annual_temperature"]
    mask = np.full(c1.shape, 255, np.uint8)
    mask[:, :3] = 1  # columns 3-4 are outside the mask
    write_layer(tmp_path / "layers", "forest_mask", mask, nodata=255, attributes={"1": "forest"})
    layers = {n: f"../layers/{n}.tiff" for n in
              ["Classifier1", "Classifier2", "initial_age", "mean_annual_temperature", "dist_a", "dist_b",
               "forest_mask"]}
    docs = config_docs(layers, classifiers=["Classifier1", "Classifier2"], disturbances=["dist_a", "dist_b"])
    docs["modules_cbm.json"]["Modules"]["CBMBuildLandUnitModule"]["settings"] = {"mask_vars": ["forest_mask"]}
    config = read_gcbm_config(write_config(tmp_path / "masked_config", docs))
    assert config.mask_layers == ["forest_mask"]
    assert config.layer_roles()["forest_mask"] == "mask"

    block = read_landscape(config).read()
    cset = c1 != 255
    expected = cset & (mask != 255) & (age != 32767) & (temp < 1e38)
    np.testing.assert_array_equal(block.valid, expected)
    assert block.excluded["mask:forest_mask"] == int((cset & (mask == 255)).sum())
    assert block.excluded["no_classifier_set"] == int((~cset).sum())
    # age/temperature exclusions only count pixels the mask kept
    assert block.excluded.get("initial_age_null", 0) == int((cset & (mask != 255) & (age == 32767)).sum())


def test_collecting_mode_counts_what_the_run_stops_at_and_simulates_the_same_pixels(tmp_path):
    """collect_blocks (what validate reads): unknown pixel values and non-whole ages are counted and those
    pixels left out instead of raising; otherwise the same `valid` pixels as blocks()."""
    layers = tmp_path / "layers"
    write_layer(layers, "Species", np.array([[1, 7, 1], [2, 7, 255]], np.uint8), nodata=255,
                attributes={"1": "TA", "2": "BP"})
    write_layer(layers, "initial_age", np.array([[10.0, 20.0, 5.5], [np.inf, 1.0, 3.0]], np.float32), nodata=-1.0)
    write_layer(layers, "mean_annual_temperature", np.array([[1.0, 2.0, 3.0], [4.0, np.nan, -1.0]], np.float32),
                nodata=-9999.0)
    docs = config_docs({n: f"../layers/{n}.tiff" for n in ("Species", "initial_age", "mean_annual_temperature")},
                       classifiers=["Species"])
    landscape = read_landscape(read_gcbm_config(write_config(tmp_path / "config", docs)))
    with pytest.raises(LayerError, match=r"layer 'Species': pixel value\(s\) 7 are not in the attributes"):
        landscape.read()
    (block,) = list(landscape.collect_blocks())
    assert block.unknown == {"Species": {7: 2}}
    assert block.problems == [f"layer 'initial_age' ({str(layers / 'initial_age.tiff')!r}): age 5.5 is not a whole "
                              "number of years"]
    np.testing.assert_array_equal(block.valid, [[True, False, False], [False, False, False]])
    assert block.excluded == {"no_classifier_set": 3, "initial_age_null": 2}
    np.testing.assert_array_equal(block.dropped["initial_age_null"], [[False, False, True], [True, False, False]])
    assert not block.dropped["mean_annual_temperature_null"].any()  # the NaN pixel had no classifier
    np.testing.assert_array_equal(block.nodata["mean_annual_temperature"], False)  # NaN is not nodata


def test_an_infinite_age_is_refused_not_cast_to_a_huge_negative_number(tmp_path):
    layers = tmp_path / "layers"
    write_layer(layers, "Species", np.array([[1, 1]], np.uint8), nodata=255, attributes={"1": "TA"})
    write_layer(layers, "initial_age", np.array([[10.0, np.inf]], np.float32), nodata=-1.0)
    docs = config_docs({n: f"../layers/{n}.tiff" for n in ("Species", "initial_age")}, classifiers=["Species"],
                       temperature=1.0)
    landscape = read_landscape(read_gcbm_config(write_config(tmp_path / "config", docs)))
    with pytest.raises(LayerError, match=r"layer 'initial_age' .*: age inf is not a whole number of years"):
        landscape.read()
