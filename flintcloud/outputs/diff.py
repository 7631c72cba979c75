"""Compare two raw gcbm_output.db files (ours vs GCBM's, container vs embedded) quantity by quantity.

Everything is matched by *name* (pool, module, disturbance type, age class range), never by the
dimension ids, which depend on the order records were first seen. Quantities, per year (year 0 is the
post-spinup state):

- ``pool``: total tC of each pool;
- ``flux``: total tC of each (module, disturbance type, source pool, sink pool) — annual processes
  have disturbance type "-";
- ``flux_module``: total tC moved by each module;
- ``disturbed_area``: DisturbanceDimension area (ha) per disturbance type name and GCBM code;
- ``age_area``: AgeArea (ha) per age class;
- ``area``: LocationDimension area (ha).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from flintcloud.outputs.sqlite_io import open_raw_db

_AGE_RANGE = (
    "CASE WHEN ac.startAge = -1 THEN 'N/A' WHEN ac.endAge = -1 THEN ac.startAge || '+' "
    "ELSE ac.startAge || '-' || ac.endAge END"
)

_QUERIES = {
    "pool": """
        SELECT d.year, pd.poolName AS item, SUM(p.poolValue) AS value
        FROM Pools p JOIN LocationDimension l ON l.id = p.locationDimId
        JOIN DateDimension d ON d.id = l.dateDimId JOIN PoolDimension pd ON pd.id = p.poolId
        GROUP BY d.year, pd.poolName""",
    "flux": """
        SELECT d.year,
               m.moduleName || ' | ' || COALESCE(dt.disturbanceTypeName, '-') || ' | '
                   || s.poolName || ' -> ' || t.poolName AS item,
               SUM(f.fluxValue) AS value
        FROM Fluxes f JOIN LocationDimension l ON l.id = f.locationDimId
        JOIN DateDimension d ON d.id = l.dateDimId
        JOIN ModuleInfoDimension m ON m.id = f.moduleInfoDimId
        JOIN PoolDimension s ON s.id = f.poolSrcDimId JOIN PoolDimension t ON t.id = f.poolDstDimId
        LEFT JOIN DisturbanceDimension di ON di.id = f.disturbanceDimId
        LEFT JOIN DisturbanceTypeDimension dt ON dt.id = di.disturbanceTypeDimId
        GROUP BY 1, 2""",
    "flux_module": """
        SELECT d.year, m.moduleName AS item, SUM(f.fluxValue) AS value
        FROM Fluxes f JOIN LocationDimension l ON l.id = f.locationDimId
        JOIN DateDimension d ON d.id = l.dateDimId JOIN ModuleInfoDimension m ON m.id = f.moduleInfoDimId
        GROUP BY 1, 2""",
    "disturbed_area": """
        SELECT d.year, dt.disturbanceTypeName || ' [code ' || dt.disturbanceType || ']' AS item,
               SUM(di.area) AS value
        FROM DisturbanceDimension di JOIN LocationDimension l ON l.id = di.locationDimId
        JOIN DateDimension d ON d.id = l.dateDimId
        JOIN DisturbanceTypeDimension dt ON dt.id = di.disturbanceTypeDimId
        GROUP BY 1, 2""",
    "age_area": f"""
        SELECT d.year, {_AGE_RANGE} AS item, SUM(a.area) AS value
        FROM AgeArea a JOIN LocationDimension l ON l.id = a.locationDimId
        JOIN DateDimension d ON d.id = l.dateDimId JOIN AgeClassDimension ac ON ac.id = a.ageClassDimId
        GROUP BY 1, 2""",
    "area": """
        SELECT d.year, 'total' AS item, SUM(l.area) AS value
        FROM LocationDimension l JOIN DateDimension d ON d.id = l.dateDimId
        GROUP BY 1, 2""",
}

COLUMNS = ["quantity", "year", "item", "a", "b", "abs_diff", "rel_diff", "exceeds"]


def read_quantities(path: str | os.PathLike) -> pd.DataFrame:
    """Per-year totals of every compared quantity: columns quantity, year, item, value."""
    conn = open_raw_db(path)
    try:
        frames = [pd.read_sql_query(sql, conn).assign(quantity=name) for name, sql in _QUERIES.items()]
    finally:
        conn.close()
    out = pd.concat(frames, ignore_index=True)
    out["year"] = out["year"].astype(int)
    return out[["quantity", "year", "item", "value"]]


def compare_quantities(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-6, atol: float = 1e-9) -> pd.DataFrame:
    """Pure: line up two `read_quantities` tables and rank their differences, largest first.

    A quantity missing on one side counts as 0 there. ``exceeds`` is true where the relative difference
    (|a - b| / max(|a|, |b|)) is above `rtol` and the absolute difference above `atol`.
    """
    keys = ["quantity", "year", "item"]
    merged = a.rename(columns={"value": "a"}).merge(b.rename(columns={"value": "b"}), on=keys, how="outer")
    merged[["a", "b"]] = merged[["a", "b"]].fillna(0.0)
    diff = (merged["a"] - merged["b"]).abs()
    scale = np.maximum(merged["a"].abs(), merged["b"].abs())
    merged["abs_diff"] = diff
    merged["rel_diff"] = np.where(scale > 0, diff / scale.where(scale > 0, 1.0), 0.0)
    merged["exceeds"] = (merged["rel_diff"] > rtol) & (merged["abs_diff"] > atol)
    merged = merged.sort_values(["exceeds", "rel_diff", "abs_diff"], ascending=False, kind="stable")
    return merged[COLUMNS].reset_index(drop=True)


def diff_outputs(
    a_db: str | os.PathLike, b_db: str | os.PathLike, rtol: float = 1e-6, atol: float = 1e-9
) -> pd.DataFrame:
    """Differences between two raw gcbm_output.db files, largest relative difference first."""
    return compare_quantities(read_quantities(a_db), read_quantities(b_db), rtol=rtol, atol=atol)


def format_diff(diff: pd.DataFrame, top: int = 20) -> str:
    """A plain-text table of the `top` largest differences and a one-line verdict."""
    n_bad = int(diff["exceeds"].sum())
    shown = diff.head(top).copy()
    for col in ("a", "b", "abs_diff"):
        shown[col] = shown[col].map(lambda v: f"{v:.9g}")
    shown["rel_diff"] = shown["rel_diff"].map(lambda v: f"{v:.3e}")
    table = shown.drop(columns="exceeds").to_string(index=False) if len(shown) else "(no quantities)"
    verdict = f"{n_bad} of {len(diff)} quantities differ beyond the tolerance"
    return f"{table}\n{verdict}"
