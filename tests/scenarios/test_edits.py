"""Pure pixel and sidecar edits: exact counts, reproducible selections, nothing else touched."""

from __future__ import annotations

import numpy as np
import pytest

from flintcloud.errors import ConfigError
from flintcloud.scenarios import edits

ATTRS = {"1": {"year": 2012, "disturbance_type": "Wildfire", "transition": 1},
         "2": {"year": 2012, "disturbance_type": "Clearcut", "transition": 1},
         "3": [{"year": 2013, "disturbance_type": "Wildfire"}, {"year": 2014, "disturbance_type": "Clearcut"}]}


def layer() -> np.ndarray:
    values = np.full((10, 10), 255, dtype=np.uint8)
    values[:4, :5] = 1  # 20 wildfire pixels
    values[6:, :3] = 2  # 12 clearcut pixels
    return values


def test_matching_values_and_types():
    single = {k: v for k, v in ATTRS.items() if k != "3"}
    assert edits.matching_values(single, "Wildfire") == [1]
    assert edits.matching_values(single, "Clearcut") == [2]
    assert edits.matching_values(ATTRS, None) == [1, 2, 3]  # every event of the pixel: the whole value is right
    assert edits.event_types(ATTRS) == {"Wildfire", "Clearcut"}


def test_a_value_with_events_of_two_types_cannot_be_edited_for_one_type():
    """Value 3 holds a Wildfire and a Clearcut event: dropping (or thinning, copying) its pixels for Wildfire
    would drop the Clearcut event too. Refused, naming layer, value and types."""
    assert edits.mixed_type_codes(ATTRS) == {3: ("Clearcut", "Wildfire")}
    assert edits.mixed_type_codes({"4": [{"disturbance_type": "Wildfire"}, {"disturbance_type_id": 7}]}) == {
        4: ("Wildfire", "disturbance_type_id 7")}
    assert edits.mixed_type_codes({"5": [{"year": 2012, "disturbance_type": "Wildfire"},
                                         {"year": 2015, "disturbance_type": "Wildfire"}]}) == {}
    with pytest.raises(ConfigError) as err:
        edits.matching_values(ATTRS, "Wildfire", "dist_2013", "drop_events")
    assert str(err.value) == ("layer 'dist_2013' pixel value 3 holds events of several types (Clearcut, Wildfire); "
                              "drop_events of 'Wildfire' edits whole pixels and would drop the other types' events "
                              "with them: give each type its own pixel value in the sidecar, or leave out "
                              "disturbance_type")


@pytest.mark.parametrize("fraction,kept", [(0.0, 0), (0.25, 5), (0.5, 10), (1.0, 20)])
def test_keep_fraction_keeps_exactly_that_many_and_leaves_other_pixels(fraction, kept):
    values = layer()
    out = edits.keep_fraction(values, 255, [1], fraction, edits.layer_rng(7, "dist"))
    assert int((out == 1).sum()) == kept
    assert int((out == 2).sum()) == 12 and int((out == 255).sum()) == 68 + 20 - kept
    assert set(np.flatnonzero(out == 1)) <= set(np.flatnonzero(values == 1))
    assert (values == layer()).all()  # input untouched


def test_keep_fraction_is_reproducible_per_seed_and_layer():
    a = edits.keep_fraction(layer(), 255, [1], 0.5, edits.layer_rng(7, "dist_2012"))
    b = edits.keep_fraction(layer(), 255, [1], 0.5, edits.layer_rng(7, "dist_2012"))
    c = edits.keep_fraction(layer(), 255, [1], 0.5, edits.layer_rng(8, "dist_2012"))
    d = edits.keep_fraction(layer(), 255, [1], 0.5, edits.layer_rng(7, "dist_2013"))
    assert (a == b).all()
    assert not (a == c).all() and not (a == d).all()


def test_scale_events_doubles_onto_free_simulated_pixels_only():
    values = layer()
    candidates = np.ones(values.shape, bool)
    candidates[9, :] = False  # not simulated
    out = edits.scale_events(values, 255, [1], 2.0, candidates, edits.layer_rng(1, "dist"))
    assert int((out == 1).sum()) == 40 and int((out == 2).sum()) == 12
    added = (out == 1) & (values != 1)
    assert int(added.sum()) == 20 and not (added & ~candidates).any() and (values[added] == 255).all()


def test_scale_events_added_values_keep_the_mix():
    values = layer()
    values[:4, :5] = np.where(np.arange(20).reshape(4, 5) % 2, 1, 3)  # half value 1, half value 3
    out = edits.scale_events(values, 255, [1, 3], 3.0, np.ones(values.shape, bool), edits.layer_rng(1, "d"))
    assert int(np.isin(out, [1, 3]).sum()) == 60
    assert int((out == 1).sum()) > 10 and int((out == 3).sum()) > 10


def test_scale_events_refuses_more_pixels_than_the_landscape_has():
    with pytest.raises(ConfigError, match=r"layer 'd': scaling 20 disturbed pixels by 5 needs 80 more, but only 68"):
        edits.scale_events(layer(), 255, [1], 5.0, np.ones((10, 10), bool), edits.layer_rng(1, "d"), "d")


def test_shift_years_moves_only_the_chosen_type():
    out = edits.shift_years(ATTRS, 3, "Clearcut")
    assert out["1"]["year"] == 2012 and out["2"]["year"] == 2015
    assert out["3"][0]["year"] == 2013 and out["3"][1]["year"] == 2017
    assert ATTRS["2"]["year"] == 2012  # input untouched
    assert edits.shift_years(ATTRS, -1, None)["1"]["year"] == 2011


def test_offset_values_skips_float_nodata_and_keeps_dtype():
    values = np.array([[1.5, 3.4e38], [-2.0, 0.0]], dtype=np.float32)
    out = edits.offset_values(values, 3.4e38, 2.0)
    assert out.dtype == np.float32
    assert out[0, 0] == pytest.approx(3.5) and out[0, 1] == np.float32(3.4e38)
    assert out[1, 0] == pytest.approx(0.0) and out[1, 1] == pytest.approx(2.0)
