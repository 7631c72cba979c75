"""What a failed run's error names (flintcloud.service.culprit): inputs, layers, params keys, from the words
flintcloud's errors use; never a path built from the message."""

from __future__ import annotations

from pathlib import Path

from flintcloud.errors import ConfigError, LayerError, ValidationError
from flintcloud.service.culprit import culprit_of, from_message, input_named, key_named

LISTED = ["config/localdomain.json", "input_database/gcbm_input.db", "layers/tiled/LifeZone_moja.json",
          "layers/tiled/LifeZone_moja.tiff", "layers/tiled/initial_age.json", "layers/tiled/initial_age.tiff"]


def test_an_input_named_by_any_path_that_ends_in_it():
    assert input_named("cannot read '/srv/data/simulations/ab/runs/cd/.tmp-x/data/project/layers/tiled/initial_age.tiff'",
                       LISTED) == "layers/tiled/initial_age.tiff"
    assert input_named("file 'data/project/input_database/gcbm_input.db' lacks table 'pool'", LISTED) == \
        "input_database/gcbm_input.db"
    # the first named wins; a longer name is not mistaken for a shorter one
    assert input_named("layers/tiled/initial_age.json then layers/tiled/LifeZone_moja.tiff", LISTED) == \
        "layers/tiled/initial_age.json"
    assert input_named("layers/tiled/initial_age.tiff.bak", LISTED) is None
    assert input_named("nothing here", LISTED) is None


def test_keys_and_layers_named_in_messages():
    assert key_named("simulation.gcbm_container.image is still the placeholder 'x@sha256:PLACEHOLDER-set-"
                     "simulation.gcbm_container.image'") == "simulation.gcbm_container.image"
    assert key_named("params.yaml simulation: admin_boundary is not set and 'db' has 14 names") == \
        "simulation.admin_boundary"
    assert key_named("params.outputs.indicators: unknown indicator 'x'") == "outputs.indicators"
    assert key_named("no key here; simulation is a word") is None
    assert key_named("cannot write 'build/reports/report.md' or outputs.zip") is None  # files, not keys
    named = from_message("layer 'LifeZone' has pixel values missing from its sidecar: 7", LISTED)
    assert named == {"layer": "LifeZone", "input": "layers/tiled/LifeZone_moja.tiff",
                     "message": "layer 'LifeZone' has pixel values missing from its sidecar: 7"}
    assert from_message("internal error: ZeroDivisionError: division by zero", LISTED) is None


def test_culprit_of_a_validation_failure_reads_the_problems(tmp_path, demo_project):
    """The run's validate stage failed (the inputs changed after it was queued): validated again, the first
    problem's file and layer name the culprit, with the server's folders cut from the message."""
    import shutil

    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from flintcloud.service.overrides import simulation_params

    inputs = tmp_path / "sim" / "inputs"
    shutil.copytree(demo_project, inputs)
    with rasterio.open(inputs / "layers/tiled/initial_age.tiff", "w", driver="GTiff", width=4, height=3, count=1,
                       dtype="int16", crs="EPSG:4326", transform=from_origin(-106, 55, 0.00025, 0.00025)) as ds:
        ds.write(np.zeros((1, 3, 4), dtype="int16"))
    err = ValidationError(["layer 'initial_age' ('data/project/layers/tiled/initial_age.tiff') does not share "
                           "the grid of layer 'LeadingSpecies'"], source="data/project")
    culprit = culprit_of(err, inputs, simulation_params("t", {}))
    assert culprit["input"] == "layers/tiled/initial_age.tiff" and culprit["layer"] == "initial_age"
    assert culprit["message"].startswith("layer 'initial_age' ('inputs/layers/tiled/initial_age.tiff') does not share")
    assert str(tmp_path) not in culprit["message"]


def test_culprit_of_other_errors_reads_the_message(tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "layers" / "tiled").mkdir(parents=True)
    (inputs / "layers" / "tiled" / "initial_age.tiff").write_bytes(b"II*\0")
    err = LayerError(f"cannot read '{tmp_path}/run/data/project/layers/tiled/initial_age.tiff': truncated")
    assert culprit_of(err, inputs, {}) == {"input": "layers/tiled/initial_age.tiff", "message": str(err)}
    err = ConfigError("simulation.gcbm_container.image must name the GCBM image by digest, got 'x'")
    assert culprit_of(err, inputs, {})["key"] == "simulation.gcbm_container.image"
    assert culprit_of(ConfigError("something vague"), Path(tmp_path / "none"), {}) is None
