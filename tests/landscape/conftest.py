"""Fixtures for the landscape tests; the builders live in landscape_builders.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landscape_builders import config_docs, write_config, write_layer  # noqa: F401


@pytest.fixture
def small_project(tmp_path: Path):
    """A 6x5 project: 2 classifiers, age, temperature, 2 disturbance layers, a nodata border.

    Returns (config_dir, arrays) with the raw arrays written.
    """
    rng = np.random.default_rng(7)
    shape = (6, 5)
    c1 = rng.integers(1, 3, shape).astype(np.uint8)  # 1: TA, 2: BP
    c2 = rng.integers(1, 3, shape).astype(np.uint8)  # 1: "5", 2: "6"
    age = rng.choice([10, 40], shape).astype(np.int16)
    temp = rng.choice([-1.5, 0.25], shape).astype(np.float32)
    c1[0, :] = 255  # first row outside the study area
    age[5, 0] = 32767  # a pixel with classifiers but no age: not simulated
    temp[5, 1] = np.float32(3.4e38)  # a pixel with no temperature: not simulated
    d1 = np.full(shape, 255, np.uint8)
    d1[1:3, 1:4] = 1
    d1[0, 0] = 1  # event outside the study area: ignored
    d2 = np.full(shape, 255, np.uint8)
    d2[2:5, 2] = 1
    d2[4, 4] = 2
    layers_dir = tmp_path / "layers"
    write_layer(layers_dir, "Classifier1", c1, nodata=255, attributes={"1": "TA", "2": "BP"})
    write_layer(layers_dir, "Classifier2", c2, nodata=255, attributes={"1": "5", "2": "6"})
    write_layer(layers_dir, "initial_age", age, nodata=32767)
    write_layer(layers_dir, "mean_annual_temperature", temp, nodata=3.4e38)
    write_layer(
        layers_dir,
        "dist_a",
        d1,
        nodata=255,
        attributes={"1": {"year": 2011, "disturbance_type": "Wildfire", "transition": 1}},
    )
    write_layer(
        layers_dir,
        "dist_b",
        d2,
        nodata=255,
        attributes={
            "1": {"year": 2011, "disturbance_type": "Clearcut harvesting", "transition": 1},
            "2": {"year": 2030, "disturbance_type": "Wildfire"},
        },
        sidecar_name="dist_b_moja.json",
    )
    layers = {n: f"..\\layers\\{n}.tiff" for n in
              ["Classifier1", "Classifier2", "initial_age", "mean_annual_temperature", "dist_a", "dist_b"]}
    docs = config_docs(layers, classifiers=["Classifier1", "Classifier2"], disturbances=["dist_a", "dist_b"])
    config_dir = write_config(tmp_path / "config", docs)
    arrays = {"Classifier1": c1, "Classifier2": c2, "initial_age": age, "mean_annual_temperature": temp,
              "dist_a": d1, "dist_b": d2}
    return config_dir, arrays
