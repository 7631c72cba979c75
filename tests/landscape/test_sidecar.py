"""Layer sidecars: where they are, what they say, and how bad ones fail."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flintcloud.errors import LayerError
from flintcloud.gcbm.sidecar import DisturbanceEvent, parse_sidecar, read_sidecar


def test_classifier_attributes_map_pixel_values_to_strings():
    sc = parse_sidecar({"layer_data": "Byte", "nodata": 255, "attributes": {"1": "TA", "2": 5, "3": 6.0}}, "c.json")
    assert sc.nodata == 255.0
    assert sc.attributes == {1: "TA", 2: "5", 3: "6"}
    assert not sc.is_disturbance()


def test_disturbance_attributes_become_events():
    sc = parse_sidecar(
        {
            "nodata": 255,
            "attributes": {
                "1": {"year": 2013, "disturbance_type": "Wildfire", "transition": 1},
                "2": [{"year": "2014", "disturbance_type": "Clearcut"}, {"year": 2015, "disturbance_type_id": 4}],
            },
        }
    )
    assert sc.is_disturbance()
    assert sc.attributes[1] == (DisturbanceEvent(2013, "Wildfire", 1),)
    assert sc.attributes[2] == (
        DisturbanceEvent(2014, "Clearcut", None),
        DisturbanceEvent(2015, None, None, disturbance_type_id=4),
    )


def test_read_sidecar_finds_moja_suffix(tmp_path):
    (tmp_path / "LifeZone_moja.json").write_text(json.dumps({"nodata": 255, "attributes": {"1": "Tropical Dry"}}))
    sc = read_sidecar(tmp_path / "LifeZone_moja.tiff")
    assert sc.attributes == {1: "Tropical Dry"}
    (tmp_path / "age_moja.json").write_text(json.dumps({"nodata": -1}))
    assert read_sidecar(tmp_path / "age.tiff").nodata == -1.0


def test_missing_sidecar_names_the_layer(tmp_path):
    with pytest.raises(LayerError, match=r"Classifier9\.tiff.*no sidecar"):
        read_sidecar(tmp_path / "Classifier9.tiff")


def test_invalid_json_names_file_and_line(tmp_path):
    (tmp_path / "bad.json").write_text('{"nodata": 255,\n "attributes": {"1": "TA",}}')
    with pytest.raises(LayerError, match=r"bad\.json.*not valid JSON \(line 2"):
        read_sidecar(tmp_path / "bad.tiff")


@pytest.mark.parametrize(
    "obj, message",
    [
        ([], "must be a JSON object"),
        ({"nodata": "none"}, "nodata 'none' is not a number"),
        ({"nodata": "32767"}, "nodata '32767' is a string; write it as a number"),
        ({"layer_data": "Short"}, "layer_data 'Short' is not a GDAL data type"),
        ({"attributes": ["TA"]}, "attributes must map"),
        ({"attributes": {"x": "TA"}}, "'x' is not a pixel value"),
        ({"attributes": {"1.5": "TA"}}, "not an integer pixel value"),
        ({"attributes": {"1": {"disturbance_type": "Wildfire"}}}, "has no 'year'"),
        ({"attributes": {"1": {"year": 2010}}}, "neither disturbance_type"),
        ({"attributes": {"1": {"year": 2010, "disturbance_type": "W", "transition": "x"}}}, "transition 'x'"),
        ({"attributes": {"1": "TA", "2": {"year": 2010, "disturbance_type": "W"}}}, "mix disturbance events"),
        ({"attributes": {"1": None}}, "expected a classifier value"),
    ],
)
def test_bad_sidecars_raise_layer_error(obj, message):
    with pytest.raises(LayerError, match=message):
        parse_sidecar(obj, "layer.json")


@settings(deadline=None)
@given(
    st.dictionaries(
        st.integers(-1000, 1000).map(str),
        st.one_of(st.text(min_size=1, max_size=8), st.integers(-5, 500)),
        max_size=20,
    ),
    st.one_of(st.none(), st.integers(-32768, 65535), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_parse_sidecar_round_trips_any_classifier_table(attrs, nodata):
    sc = parse_sidecar({"nodata": nodata, "attributes": attrs})
    assert sc.attributes == {int(k): str(v) for k, v in attrs.items()}
    assert sc.nodata == (None if nodata is None else float(nodata))


@settings(deadline=None)
@given(st.one_of(st.integers(), st.text(), st.lists(st.integers()), st.none(), st.dictionaries(st.text(), st.text())))
def test_parse_sidecar_never_crashes_with_anything_but_layer_error(obj):
    try:
        parse_sidecar({"attributes": obj})
    except LayerError:
        pass


def test_every_problem_of_a_sidecar_is_listed_not_just_the_first():
    from flintcloud.gcbm.sidecar import sidecar_problems

    with pytest.raises(LayerError) as err:
        parse_sidecar({"nodata": "255", "layer_data": 8, "attributes": {"x": "TA", "2": None, "3": "BP"}}, "c.json")
    problems = sidecar_problems(err.value)
    assert len(problems) == 4, problems
    assert "nodata '255' is a string" in problems[0]
    assert "layer_data 8 must be a string" in problems[1]
    assert "'x' is not a pixel value" in problems[2]
    assert "attribute '2' has value None" in problems[3]
    assert all(p in str(err.value) for p in problems)  # the run's one-line error lists them all too


def test_layer_data_must_be_the_rasters_own_type():
    from flintcloud.gcbm.sidecar import layer_data_mismatch

    byte = parse_sidecar({"layer_data": "Byte"}, "age.json")
    assert layer_data_mismatch(byte, "uint8") is None
    assert "says layer_data 'Byte' but the raster is Int16 (int16)" in layer_data_mismatch(byte, "int16")
    assert layer_data_mismatch(parse_sidecar({"layer_data": "int16"}), "int16") is None  # numpy names too
    assert layer_data_mismatch(parse_sidecar({}), "float32") is None
