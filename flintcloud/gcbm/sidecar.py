"""GCBM layer sidecars: the JSON beside each GeoTIFF.

A sidecar is `<layer>.json` or `<layer>_moja.json` next to `<layer>.tiff`
(the tiler writes either). It gives `layer_data` (Byte, Int16, Float32 …),
`nodata` and, for categorical layers, `attributes` mapping a pixel value
(as a string key) to a classifier value, or to a disturbance event
`{year, disturbance_type, transition}` (a list of events is accepted too).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flintcloud.errors import LayerError
from flintcloud.jsonfile import load_json


@dataclass(frozen=True)
class DisturbanceEvent:
    """One event a disturbance layer attaches to a pixel value."""

    year: int
    disturbance_type: str | None  # name as in disturbance_type.name
    transition: int | None = None  # transition rule id, None when absent
    disturbance_type_id: int | None = None  # only when the sidecar gives one


@dataclass(frozen=True)
class LayerSidecar:
    """What a sidecar says about its layer. `attributes` maps int pixel value -> decoded value."""

    layer_data: str | None
    nodata: float | None
    attributes: dict[int, Any] | None
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def is_disturbance(self) -> bool:
        """True when the attributes are disturbance events (not plain classifier values)."""
        if not self.attributes:
            return False
        return all(isinstance(v, tuple) for v in self.attributes.values())


def resolve_event_type(
    ev: DisturbanceEvent, where: str, db: str, type_ids: Mapping[str, int] | None, type_codes: Mapping[int, str] | None
) -> tuple[str | None, int | None]:
    """(name, disturbance_type.id) of a sidecar event, checked as CBMDisturbanceListener checks it. Pure.

    A sidecar's `disturbance_type_id` is what GCBM matches against disturbance_type.code (not .id);
    `disturbance_type` is matched against disturbance_type.name. `type_ids` maps name -> id,
    `type_codes` code -> name (InputDb.disturbance_type_ids()/codes()); None skips that check.
    Raises LayerError naming `where`, the value and the db. validate and the run both call this.
    """
    name = ev.disturbance_type
    if ev.disturbance_type_id is not None and type_codes is not None:
        coded = type_codes.get(ev.disturbance_type_id)
        if coded is None:
            raise LayerError(
                f"{where} gives disturbance_type_id {ev.disturbance_type_id!r}, which is not a code in the "
                f"disturbance_type table of {db!r}"
            )
        if name is not None and name != coded:
            raise LayerError(
                f"{where} gives disturbance_type {name!r} but disturbance_type_id {ev.disturbance_type_id!r}, "
                f"which is {coded!r} in the disturbance_type table of {db!r}"
            )
        name = coded
    if type_ids is None or name is None:
        return name, None
    if name not in type_ids:
        raise LayerError(f"{where} names disturbance type {name!r}, which is not in the disturbance_type table of {db!r}")
    return name, int(type_ids[name])


def sidecar_candidates(tiff_path: str | os.PathLike) -> list[Path]:
    """Where GCBM's tooling puts a layer's sidecar, most specific first."""
    tiff = Path(tiff_path)
    stem = tiff.with_suffix("")
    names = [stem.with_name(stem.name + ".json")]
    if stem.name.endswith("_moja"):
        names.append(stem.with_name(stem.name[: -len("_moja")] + ".json"))
    else:
        names.append(stem.with_name(stem.name + "_moja.json"))
    return names


def existing_sidecar(tiff_path: str | os.PathLike) -> Path | None:
    """The sidecar `find_sidecar` would read (a symlink is returned as is, for the caller to resolve), or None."""
    return next((c for c in sidecar_candidates(tiff_path) if c.is_file()), None)


def find_sidecar(tiff_path: str | os.PathLike) -> Path:
    for cand in sidecar_candidates(tiff_path):
        if cand.is_file():
            return cand
    tried = ", ".join(repr(str(c)) for c in sidecar_candidates(tiff_path))
    raise LayerError(f"layer {str(tiff_path)!r} has no sidecar JSON (looked for {tried})")


def read_sidecar(tiff_path: str | os.PathLike) -> LayerSidecar:
    """Find and parse the sidecar of `tiff_path`."""
    path = find_sidecar(tiff_path)
    return parse_sidecar(load_json(path, LayerError, "sidecar"), str(path))


#: GDAL data type names a sidecar's layer_data may give, and the numpy dtype each means.
LAYER_DATA_TYPES = {
    "Byte": "uint8", "Int8": "int8", "UInt16": "uint16", "Int16": "int16", "UInt32": "uint32", "Int32": "int32",
    "UInt64": "uint64", "Int64": "int64", "Float32": "float32", "Float64": "float64",
}


def layer_data_dtype(layer_data: str) -> str | None:
    """numpy dtype name of a layer_data value: a GDAL name ('Byte') or a numpy name ('uint8'), else None."""
    if layer_data in LAYER_DATA_TYPES:
        return LAYER_DATA_TYPES[layer_data]
    return layer_data if layer_data in LAYER_DATA_TYPES.values() else None


def sidecar_problems(err: LayerError) -> list[str]:
    """Every problem a sidecar LayerError carries (parse_sidecar lists them all, not just the first)."""
    return list(getattr(err, "problems", None) or [str(err)])


def parse_sidecar(obj: Any, source: str = "<sidecar>") -> LayerSidecar:
    """Validate a parsed sidecar object. Pure.

    Collects every problem and raises one LayerError listing them all (`sidecar_problems(err)`
    gives them one by one, as validate reports them).
    """
    if not isinstance(obj, dict):
        raise LayerError(f"sidecar {source!r} must be a JSON object, got {type(obj).__name__}")
    problems: list[str] = []
    nodata = obj.get("nodata")
    if nodata is not None:
        if isinstance(nodata, str):
            problems.append(f"sidecar {source!r}: nodata {nodata!r} " + (
                "is a string; write it as a number (GCBM reads a JSON number)" if _is_number(nodata) else
                "is not a number"))
            nodata = None
        elif isinstance(nodata, bool) or not isinstance(nodata, (int, float)):
            problems.append(f"sidecar {source!r}: nodata {nodata!r} is not a number")
            nodata = None
        else:
            nodata = float(nodata)
    layer_data = obj.get("layer_data")
    if layer_data is not None and not isinstance(layer_data, str):
        problems.append(f"sidecar {source!r}: layer_data {layer_data!r} must be a string such as 'Byte'")
        layer_data = None
    elif layer_data is not None and layer_data_dtype(layer_data) is None:
        problems.append(f"sidecar {source!r}: layer_data {layer_data!r} is not a GDAL data type "
                        f"(one of {', '.join(LAYER_DATA_TYPES)})")
        layer_data = None
    raw = obj.get("attributes")
    attributes = None
    if raw is not None:
        if not isinstance(raw, dict):
            problems.append(
                f"sidecar {source!r}: attributes must map pixel values to values, got {type(raw).__name__}"
            )
        else:
            attributes = {}
            for key, value in raw.items():
                try:
                    pixel = _pixel_key(key, source)
                    if pixel in attributes:
                        raise LayerError(f"sidecar {source!r}: pixel value {key!r} appears twice in attributes")
                    attributes[pixel] = _attribute_value(value, source, key)
                except LayerError as err:
                    problems.append(str(err))
            kinds = {isinstance(v, tuple) for v in attributes.values()}
            if len(kinds) > 1:
                problems.append(
                    f"sidecar {source!r}: attributes mix disturbance events and plain values; "
                    "a layer is either a classifier layer or a disturbance layer"
                )
    if problems:
        error = LayerError("; ".join(problems))
        error.problems = problems
        raise error
    extra = {k: v for k, v in obj.items() if k not in ("nodata", "layer_data", "attributes")}
    return LayerSidecar(layer_data=layer_data, nodata=nodata, attributes=attributes, source=source, extra=extra)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def layer_data_mismatch(sidecar: LayerSidecar, raster_dtype: str) -> str | None:
    """The sentence when the sidecar's layer_data is not the raster's own data type, else None. Pure."""
    if sidecar.layer_data is None:
        return None
    expected = layer_data_dtype(sidecar.layer_data)
    if expected is None or expected == str(raster_dtype):
        return None
    actual = next((k for k, v in LAYER_DATA_TYPES.items() if v == str(raster_dtype)), str(raster_dtype))
    return (f"sidecar {sidecar.source!r} says layer_data {sidecar.layer_data!r} but the raster is {actual} "
            f"({raster_dtype}); GCBM would read its pixels as {sidecar.layer_data}: fix the sidecar")


def _pixel_key(key: Any, source: str) -> int:
    try:
        value = float(key)
    except (TypeError, ValueError) as err:
        raise LayerError(f"sidecar {source!r}: attribute key {key!r} is not a pixel value (a number)") from err
    if not math.isfinite(value) or value != int(value):
        raise LayerError(f"sidecar {source!r}: attribute key {key!r} is not an integer pixel value")
    return int(value)


def _attribute_value(value: Any, source: str, key: str) -> Any:
    if isinstance(value, dict):
        return (_event(value, source, key),)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return tuple(_event(v, source, key) for v in value)
        raise LayerError(
            f"sidecar {source!r}: attribute {key!r} is a list; expected a list of disturbance events"
        )
    if isinstance(value, bool) or value is None:
        raise LayerError(f"sidecar {source!r}: attribute {key!r} has value {value!r}; expected a classifier value")
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    raise LayerError(f"sidecar {source!r}: attribute {key!r} has unsupported value {value!r}")


def _event(obj: dict, source: str, key: str) -> DisturbanceEvent:
    where = f"sidecar {source!r}, attribute {key!r}"
    if "year" not in obj:
        raise LayerError(f"{where}: disturbance event {obj!r} has no 'year'")
    try:
        year = int(obj["year"])
    except (TypeError, ValueError) as err:
        raise LayerError(f"{where}: year {obj['year']!r} is not an integer") from err
    name = obj.get("disturbance_type")
    type_id = obj.get("disturbance_type_id")
    if name is None and type_id is None:
        raise LayerError(f"{where}: disturbance event {obj!r} names neither disturbance_type nor disturbance_type_id")
    if name is not None and not isinstance(name, str):
        raise LayerError(f"{where}: disturbance_type {name!r} must be a name (string)")
    if type_id is not None:
        try:
            type_id = int(type_id)
        except (TypeError, ValueError) as err:
            raise LayerError(f"{where}: disturbance_type_id {type_id!r} is not an integer") from err
    transition = obj.get("transition")
    if transition is not None and transition != "":
        try:
            transition = int(transition)
        except (TypeError, ValueError) as err:
            raise LayerError(f"{where}: transition {transition!r} is not a transition rule id") from err
    else:
        transition = None
    return DisturbanceEvent(year=year, disturbance_type=name, transition=transition, disturbance_type_id=type_id)
