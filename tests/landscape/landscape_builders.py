"""Builders for small GCBM projects (GeoTIFF layers + sidecars + config JSON) in tmp_path.

A module of its own (not conftest) so tests can import it by a name no other test folder uses.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

GEO_TRANSFORM = from_origin(-106.0, 55.0, 0.00025, 0.00025)


def write_layer(
    folder: Path,
    name: str,
    data: np.ndarray,
    *,
    nodata,
    attributes: dict | None = None,
    transform=GEO_TRANSFORM,
    crs: str = "EPSG:4326",
    sidecar_name: str | None = None,
    blocksize: int | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.tiff"
    profile = dict(
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    )
    if blocksize:
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    sidecar = {"layer_type": "GridLayer", "layer_data": str(data.dtype), "nodata": nodata}
    if attributes is not None:
        sidecar["attributes"] = attributes
    (folder / (sidecar_name or f"{name}.json")).write_text(json.dumps(sidecar))
    return path


def layer_var(name: str) -> dict:
    return {
        "transform": {
            "library": "internal.flint",
            "type": "LocationIdxFromFlintDataTransform",
            "provider": "RasterTiled",
            "data_id": name,
        }
    }


def config_docs(
    layers: dict[str, str],
    *,
    classifiers: list[str],
    disturbances: list[str] = (),
    age="initial_age",
    temperature="mean_annual_temperature",
    start="2010/01/01",
    end="2013/01/01",
    db_path="../input_database/gcbm_input.db",
    extra_variables: dict | None = None,
) -> dict[str, dict]:
    """The JSON documents of a config set; `layers` maps layer name -> layer_path."""
    variables: dict = {
        "admin_boundary": "British Columbia",
        "eco_boundary": "Taiga Plains",
        "initial_historic_land_class": "FL",
        "initial_current_land_class": "FL",
        "age_class_range": 20,
        "age_maximum": 300,
        "slow_ag_to_bg_mixing_rate": 0.006,
        "initial_classifier_set": {
            "transform": {"type": "CompositeTransform", "library": "internal.flint", "vars": list(classifiers)}
        },
    }
    for name in layers:
        variables[name] = layer_var(name)
    if isinstance(age, str) and age in layers:
        variables["initial_age"] = layer_var(age)
    elif age is not None and not isinstance(age, str):
        variables["initial_age"] = age
    if isinstance(temperature, str) and temperature in layers:
        variables["mean_annual_temperature"] = layer_var(temperature)
    elif temperature is not None and not isinstance(temperature, str):
        variables["mean_annual_temperature"] = temperature
    variables.update(extra_variables or {})
    return {
        "localdomain.json": {
            "Libraries": {"moja.modules.cbm": "external", "moja.modules.gdal": "external"},
            "LocalDomain": {
                "start_date": start,
                "end_date": end,
                "sequencer": "CBMSequencer",
                "timing": "annual",
                "type": "spatial_tiled",
                "landscape": {"provider": "RasterTiled"},
            },
        },
        "modules_cbm.json": {
            "Modules": {
                "CBMBuildLandUnitModule": {"order": 1, "library": "moja.modules.cbm"},
                "CBMDisturbanceListener": {
                    "enabled": True,
                    "order": 3,
                    "library": "moja.modules.cbm",
                    "settings": {"vars": list(disturbances)},
                },
                "CBMGrowthModule": {"enabled": True, "order": 7, "library": "moja.modules.cbm"},
            }
        },
        "modules_output.json": {
            "Modules": {
                "WriteVariableGeotiff": {
                    "enabled": True,
                    "order": 11,
                    "library": "moja.modules.gdal",
                    "settings": {
                        "output_path": "..\\output",
                        "items": [
                            {"data_name": "Age", "variable_name": "age", "on_notification": "OutputStep"},
                            {"data_name": "Off", "enabled": False, "variable_name": "age"},
                        ],
                    },
                },
                "CBMAggregatorSQLiteWriter": {
                    "enabled": True,
                    "order": 13,
                    "library": "moja.modules.cbm",
                    "settings": {"databasename": "..\\output\\gcbm_output.db"},
                },
            }
        },
        "spinup.json": {
            "Spinup": {"enabled": True, "sequencer": "CBMSpinupSequencer"},
            "SpinupVariables": {"delay": 0, "minimum_rotation": 10, "run_delay": False},
            "SpinupModules": {"CBMSpinupSequencer": {"order": 1}, "CBMGrowthModule": {"order": 2}},
        },
        "variables.json": {"Variables": variables},
        "provider_config.json": {
            "Providers": {
                "SQLite": {"path": db_path, "type": "SQLite"},
                "RasterTiled": {
                    "type": "RasterTiledGDAL",
                    "library": "moja.modules.gdal",
                    "layers": [
                        {"name": n, "layer_path": p, "layer_prefix": n} for n, p in layers.items()
                    ],
                },
            }
        },
    }


def write_config(config_dir: Path, docs: dict[str, dict]) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    names = [n for n in docs if n != "provider_config.json"]
    (config_dir / "gcbm_config.cfg").write_text("".join(f"config={n}\n" for n in names))
    for name, doc in docs.items():
        (config_dir / name).write_text(json.dumps(doc, indent=1))
    return config_dir


