"""Edits of layer pixels and sidecars that make a scenario's inputs (pure functions over arrays/dicts).

Every function returns a new array or mapping and leaves its arguments alone. Pixel selections are
reproducible: the generator is seeded from the operation's seed and the layer's name, so a scenario
gives the same pixels whatever else the project or the params hold.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flintcloud.errors import ConfigError


def layer_rng(seed: int, layer: str) -> np.random.Generator:
    """The generator for one (operation seed, layer): independent of the order layers are edited in."""
    return np.random.default_rng([int(seed), zlib.crc32(layer.encode("utf-8"))])


def _events(value: Any) -> list[Mapping]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def event_types(attributes: Mapping[str, Any] | None) -> set[str]:
    """Disturbance type names a sidecar's attributes use."""
    return {str(e["disturbance_type"]) for v in (attributes or {}).values() for e in _events(v)
            if e.get("disturbance_type") is not None}


def event_label(event: Mapping) -> str:
    """An event's disturbance type as a sidecar gives it: its name, else its `disturbance_type_id`."""
    if event.get("disturbance_type") is not None:
        return str(event["disturbance_type"])
    return f"disturbance_type_id {event.get('disturbance_type_id')}"


def mixed_type_codes(attributes: Mapping[str, Any] | None) -> dict[int, tuple[str, ...]]:
    """Pixel values whose events are of more than one disturbance type -> those types (sorted). An edit
    of one type's pixels (drop_events, keep_fraction, scale_events) changes whole pixel values, so on
    these it would drop, keep or copy the other types' events too."""
    out = {}
    for key, value in (attributes or {}).items():
        types = sorted({event_label(e) for e in _events(value)})
        if len(types) > 1:
            out[int(key)] = tuple(types)
    return out


def mixed_code_message(layer: str, code: int, types: Sequence[str], disturbance_type: str, operation: str) -> str:
    """Why `operation` of `disturbance_type` cannot edit pixel value `code` of `layer` (see mixed_type_codes)."""
    verb = {"drop_events": "drop", "keep_fraction": "drop", "scale_events": "drop or copy"}.get(operation, "edit")
    return (f"layer {layer!r} pixel value {code} holds events of several types ({', '.join(types)}); {operation} "
            f"of {disturbance_type!r} edits whole pixels and would {verb} the other types' events with them: give "
            "each type its own pixel value in the sidecar, or leave out disturbance_type")


def matching_values(attributes: Mapping[str, Any] | None, disturbance_type: str | None, layer: str = "",
                    operation: str = "an edit") -> list[int]:
    """Pixel values whose events are of `disturbance_type` (any type when None). ConfigError for a value
    whose events are of that type and others (mixed_type_codes): it cannot be edited for one type alone."""
    mixed = mixed_type_codes(attributes) if disturbance_type is not None else {}
    out = []
    for key, value in (attributes or {}).items():
        events = _events(value)
        if events and (disturbance_type is None or any(e.get("disturbance_type") == disturbance_type for e in events)):
            if int(key) in mixed:
                raise ConfigError(mixed_code_message(layer, int(key), mixed[int(key)], disturbance_type, operation))
            out.append(int(key))
    return sorted(out)


def _selected(values: np.ndarray, codes: list[int]) -> np.ndarray:
    return np.isin(values, np.asarray(codes, dtype=values.dtype)) if codes else np.zeros(values.shape, bool)


def keep_fraction(values: np.ndarray, nodata: float, codes: list[int], fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Keep round(fraction * n) of the n pixels holding one of `codes`, chosen by `rng`; the others
    become nodata. Pixels with other values are untouched."""
    out = values.copy()
    where = np.flatnonzero(_selected(values, codes).ravel())
    keep = int(round(fraction * where.size))
    if keep >= where.size:
        return out
    kept = rng.choice(where.size, size=keep, replace=False) if keep else np.empty(0, dtype=np.int64)
    drop = np.ones(where.size, bool)
    drop[kept] = False
    out.ravel()[where[drop]] = nodata
    return out


def add_pixels(values: np.ndarray, nodata: float, codes: list[int], factor: float, candidates: np.ndarray,
               rng: np.random.Generator, layer: str = "") -> np.ndarray:
    """Scale the area of the pixels holding `codes` by `factor` > 1: round((factor - 1) * n) more
    pixels, chosen by `rng` among `candidates` (simulated pixels with no event in this layer), each
    given the value of a randomly drawn existing pixel (so the mix of years and types is kept)."""
    out = values.copy()
    where = np.flatnonzero(_selected(values, codes).ravel())
    extra = int(round((factor - 1.0) * where.size))
    if extra <= 0 or where.size == 0:
        return out
    free = np.flatnonzero((candidates & (values == nodata)).ravel())
    if extra > free.size:
        raise ConfigError(f"layer {layer!r}: scaling {where.size} disturbed pixels by {factor:g} needs {extra} more, "
                          f"but only {free.size} simulated pixels have no event in that layer")
    chosen = free[np.sort(rng.choice(free.size, size=extra, replace=False))]
    out.ravel()[chosen] = values.ravel()[where[rng.integers(0, where.size, size=extra)]]
    return out


def scale_events(values: np.ndarray, nodata: float, codes: list[int], factor: float, candidates: np.ndarray,
                 rng: np.random.Generator, layer: str = "") -> np.ndarray:
    """factor <= 1: keep that fraction of the pixels; > 1: add pixels (see add_pixels)."""
    if factor <= 1.0:
        return keep_fraction(values, nodata, codes, factor, rng)
    return add_pixels(values, nodata, codes, factor, candidates, rng, layer)


def shift_years(attributes: Mapping[str, Any], years: int, disturbance_type: str | None) -> dict[str, Any]:
    """Sidecar attributes with the year of every event (of `disturbance_type`, or all) moved by `years`."""
    out = copy.deepcopy(dict(attributes))
    for value in out.values():
        for event in _events(value):
            if "year" in event and (disturbance_type is None or event.get("disturbance_type") == disturbance_type):
                event["year"] = int(event["year"]) + int(years)
    return out


def offset_values(values: np.ndarray, nodata: float | None, offset: float) -> np.ndarray:
    """`values + offset` where there is data (nodata compared with isclose, as for float layers);
    the layer's dtype is kept."""
    out = values.copy()
    data = np.ones(values.shape, bool) if nodata is None else ~np.isclose(values, nodata)
    out[data] = (values[data].astype("float64") + offset).astype(values.dtype)
    return out
