"""Write small raw databases by hand in GCBM's CBMAggregatorSQLiteWriter schema (for the compile tests)."""

from __future__ import annotations

import contextlib
import sqlite3
from importlib import resources

POOLS = ["AboveGroundSlowSoil", "Atmosphere", "CO2", "HardwoodMerch", "Products", "SoftwoodMerch"]


def write_gcbm_raw_db(path, locations, pools, fluxes, disturbances=(), dist_types=((1, 1, "Wildfire"),)):
    """locations: (id, (c1, c2), date_id, age_class_id, area); pools: (location, pool name, tC);
    fluxes: (location, module name, disturbance id or None, src, dst, tC);
    disturbances: (id, location, type dim id, previous location, area)."""
    ddl = resources.files("flintcloud.outputs").joinpath("sql/raw_schema.sql").read_text()
    ddl = ddl.replace("{classifier_columns}", "Species VARCHAR, Site VARCHAR")
    csets = {}
    for _, cset, *_ in locations:
        csets.setdefault(cset, len(csets) + 1)
    modules = {"CBMGrowthModule": 1, "CBMDecayModule": 2, "CBMDisturbanceEventModule": 3}
    pool_id = {p: i + 1 for i, p in enumerate(POOLS)}
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(ddl)
        conn.executemany("INSERT INTO ClassifierSetDimension VALUES (?, ?, ?)", [(i, *c) for c, i in csets.items()])
        conn.executemany(
            "INSERT INTO DateDimension VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(1, 0, 0, 0, 0, 0.0, 1.0), (2, 1, 2010, 1, 1, 1.0, 1.0), (3, 2, 2011, 1, 1, 1.0, 1.0)],
        )
        conn.executemany("INSERT INTO PoolDimension VALUES (?, ?)", [(i, p) for p, i in pool_id.items()])
        conn.execute("INSERT INTO LandClassDimension VALUES (1, 'UNFCCC_FL_R_FL')")
        conn.executemany(
            "INSERT INTO ModuleInfoDimension VALUES (?, 3, 11, 0, ?, ?)", [(i, i, m) for m, i in modules.items()]
        )
        conn.executemany(
            "INSERT INTO AgeClassDimension VALUES (?, ?, ?)",
            [(1, -1, -1), (2, 0, 19), (3, 20, 39), (4, 40, 59), (5, 60, -1)],
        )
        conn.executemany(
            "INSERT INTO LocationDimension VALUES (?, ?, ?, 1, ?, ?)",
            [(i, csets[c], d, a, area) for i, c, d, a, area in locations],
        )
        conn.executemany(
            "INSERT INTO AgeArea VALUES (?, ?, ?, ?)", [(i, i, a, area) for i, _, _, a, area in locations]
        )
        conn.executemany(
            "INSERT INTO Pools VALUES (?, ?, ?, ?)",
            [(k + 1, loc, pool_id[p], v) for k, (loc, p, v) in enumerate(pools)],
        )
        conn.executemany("INSERT INTO DisturbanceTypeDimension VALUES (?, ?, ?)", list(dist_types))
        conn.executemany("INSERT INTO DisturbanceDimension VALUES (?, ?, ?, ?, ?)", list(disturbances))
        conn.executemany(
            "INSERT INTO Fluxes VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(k + 1, loc, modules[m], d, pool_id[s], pool_id[t], v) for k, (loc, m, d, s, t, v) in enumerate(fluxes)],
        )
        conn.commit()
    return path
