"""What makes a decoded landscape unfit to simulate: the messages validate and the run share. Pure.

validate counts pixels in its windowed pass; the run (flintcloud.run.prepare_run) counts them
from the unique stands it is about to simulate. Both turn the counts into the same sentences
here, so a project validate rejects is refused by `flintcloud run` with the same message
(issue 19 items 11-12): negative ages, ages past the growth curves (from a layer or a scalar
initial_age), non-finite or implausible mean annual temperatures (from a layer or a scalar; the
plausible range is the setting `simulation.temperature_range`, default -60..60 deg C).
"""

from __future__ import annotations

from typing import Any

import math

import numpy as np

from flintcloud.params import registered_key

#: The params.yaml key of the plausible mean annual temperatures (deg C): outside is an error (a unit
#: or nodata mistake). Its default (-60..60) is registered in flintcloud.params.
TEMPERATURE_RANGE_KEY = "simulation.temperature_range"


def temperature_bounds(value: Any = None) -> tuple[float, float]:
    """(low, high) deg C from a `simulation.temperature_range` value; None: the registered default."""
    low, high = registered_key(TEMPERATURE_RANGE_KEY).default if value is None else value
    return float(low), float(high)


def age_messages(where: str, path: str, *, n_negative: int = 0, min_age: Any = None, n_above: int = 0,
                 max_age: Any = None, max_curve_age: int | None = None) -> list[str]:
    """Sentences for negative ages and ages past the growth curves' last age."""
    out = []
    if n_negative:
        out.append(f"{where}: {n_negative} pixel(s) have negative ages (minimum {min_age!r}) in {path!r}")
    if n_above:
        out.append(f"{where}: {n_above} pixel(s) are older than the growth curves' maximum age {max_curve_age} "
                   f"(oldest {max_age!r}) in {path!r}")
    return out


def scalar_age_messages(age: Any, max_curve_age: int | None) -> list[str]:
    """Sentences for an initial_age given as one value for every pixel (no age layer)."""
    out = []
    if age is not None and age < 0:
        out.append(f"initial_age {age} is negative; expected an age in years >= 0")
    if age is not None and max_curve_age is not None and age > max_curve_age:
        out.append(f"initial_age {age} is above the growth curves' maximum age {max_curve_age}")
    return out


def scalar_temperature_messages(value: Any, bounds: tuple[float, float] | None = None) -> list[str]:
    """Sentences for a mean_annual_temperature given as one value for every pixel (no temperature layer)."""
    if value is None:
        return []
    lo, hi = bounds or temperature_bounds()
    if not math.isfinite(float(value)):
        return [f"mean_annual_temperature {value!r} is not a finite number of deg C"]
    if not lo <= float(value) <= hi:
        return [f"mean_annual_temperature {value!r} deg C is outside the plausible {lo:g}..{hi:g} deg C "
                f"({TEMPERATURE_RANGE_KEY}); a unit mistake?"]
    return []


def temperature_range_message(where: str, path: str, *, n_outside: int, lowest: Any, highest: Any,
                              bounds: tuple[float, float] | None = None) -> str | None:
    """Sentence for temperatures outside the plausible range, or None."""
    if not n_outside:
        return None
    lo, hi = bounds or temperature_bounds()
    return (f"{where}: {n_outside} simulated pixel(s) have a mean annual temperature outside {lo:g}..{hi:g} deg C "
            f"({TEMPERATURE_RANGE_KEY}) (lowest {lowest!r}, highest {highest!r}) in {path!r}; a unit or nodata "
            "mistake?")


def stand_problems(stands, *, max_curve_age: int | None, age_where: str | None, age_path: str,
                   temperature_where: str | None, temperature_path: str,
                   bounds: tuple[float, float] | None = None) -> list[str]:
    """The same checks on a StandSet (ages and temperatures per unique stand, weighted by n_pixels)."""
    df = stands.stands
    if df.empty:
        return []
    pixels = df["n_pixels"].to_numpy(dtype=np.int64)
    out: list[str] = []
    if age_where is not None:
        age = df["age"].to_numpy(dtype=np.int64)
        neg = age < 0
        above = (age > max_curve_age) if max_curve_age is not None else np.zeros(len(age), dtype=bool)
        out += age_messages(
            age_where, age_path, n_negative=int(pixels[neg].sum()), min_age=int(age.min()) if neg.any() else None,
            n_above=int(pixels[above].sum()), max_age=int(age.max()) if above.any() else None,
            max_curve_age=max_curve_age,
        )
    if temperature_where is not None and "mean_annual_temperature" in df:
        lo, hi = bounds or temperature_bounds()
        t = df["mean_annual_temperature"].to_numpy(dtype=np.float64)
        outside = np.isfinite(t) & ((t < lo) | (t > hi))
        msg = temperature_range_message(
            temperature_where, temperature_path, n_outside=int(pixels[outside].sum()),
            lowest=float(t[outside].min()) if outside.any() else None,
            highest=float(t[outside].max()) if outside.any() else None, bounds=(lo, hi),
        )
        if msg:
            out.append(msg)
        nulls = int(stands.excluded.get("mean_annual_temperature_null", 0))
        if nulls:
            out.append(f"{temperature_where}: {nulls} pixel(s) with a classifier set have no finite temperature "
                       f"(NaN, infinite or nodata) in {temperature_path!r}")
    return out


def unmatched_disturbances(stands, associations) -> list[dict]:
    """Events whose disturbance type has no disturbance matrix in the stand's spatial unit.

    GCBM (and the libcbm engine) skip such events silently; validate warns and the run records them
    in run_summary.json. One dict per (type, spatial unit): disturbance_type, disturbance_type_id,
    spatial_unit_id, events (stand-years), pixel_years, years. Pure.
    """
    ev = stands.events
    if ev.empty or "disturbance_type_id" not in ev:
        return []
    ev = ev[ev["disturbance_type_id"].notna()]
    if ev.empty:
        return []
    st = stands.stands
    frame = ev.assign(
        spatial_unit_id=st["spatial_unit_id"].to_numpy()[ev["stand_id"].to_numpy(dtype=np.int64)],
        n_pixels=st["n_pixels"].to_numpy()[ev["stand_id"].to_numpy(dtype=np.int64)],
        disturbance_type_id=ev["disturbance_type_id"].astype(np.int64),
    )
    have = {(int(s), int(t)) for s, t in zip(associations["spatial_unit_id"], associations["disturbance_type_id"])}
    missing = [(int(s), int(t)) not in have for s, t in zip(frame["spatial_unit_id"], frame["disturbance_type_id"])]
    frame = frame[np.asarray(missing, dtype=bool)]
    out = []
    for (name, type_id, spu), group in frame.groupby(["disturbance_type", "disturbance_type_id", "spatial_unit_id"],
                                                     sort=True):
        out.append({
            "disturbance_type": str(name), "disturbance_type_id": int(type_id), "spatial_unit_id": int(spu),
            "events": int(len(group)), "pixel_years": int(group["n_pixels"].sum()),
            "years": sorted(int(y) for y in group["year"].unique()),
        })
    return out


def unmatched_message(item: dict, db: str) -> str:
    return (f"disturbance type {item['disturbance_type']!r} has no disturbance matrix in spatial unit "
            f"{item['spatial_unit_id']} (table disturbance_matrix_association of {db!r}): its "
            f"{item['pixel_years']} pixel-year(s) in {', '.join(map(str, item['years']))} are skipped, as GCBM skips them")
