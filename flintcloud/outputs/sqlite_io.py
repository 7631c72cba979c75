"""Opening raw GCBM output databases (ours or real GCBM's) safely, read-only, with a schema check."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from flintcloud.errors import DatabaseError
from flintcloud.sqlite_ro import ro_uri

__all__ = ["RAW_SCHEMA", "check_raw_schema", "open_raw_db", "ro_uri"]

# Tables and columns of CBMAggregatorSQLiteWriter's star schema that the readers rely on.
RAW_SCHEMA = {
    "ClassifierSetDimension": ["id"],
    "DateDimension": ["id", "year"],
    "LandClassDimension": ["id", "name"],
    "AgeClassDimension": ["id", "startAge", "endAge"],
    "LocationDimension": ["id", "classifierSetDimId", "dateDimId", "landClassDimId", "ageClassDimId", "area"],
    "PoolDimension": ["id", "poolName"],
    "Pools": ["locationDimId", "poolId", "poolValue"],
    "ModuleInfoDimension": ["id", "moduleName"],
    "Fluxes": ["locationDimId", "moduleInfoDimId", "disturbanceDimId", "poolSrcDimId", "poolDstDimId", "fluxValue"],
    "DisturbanceTypeDimension": ["id", "disturbanceType", "disturbanceTypeName"],
    "DisturbanceDimension": ["id", "locationDimId", "disturbanceTypeDimId", "previousLocationDimId", "area"],
    "AgeArea": ["locationDimId", "ageClassDimId", "area"],
    "ErrorDimension": ["id", "module", "error"],
    "LocationErrorDimension": ["locationDimId", "errorDimId"],
}


def check_raw_schema(conn: sqlite3.Connection, source: str, schema: str = "main") -> None:
    """Raise DatabaseError naming the missing table/column if `conn` is not a raw GCBM output db."""
    try:
        tables = {r[0] for r in conn.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"{source!r} is not an SQLite database: {err}") from err
    missing = sorted(set(RAW_SCHEMA) - tables)
    if missing:
        raise DatabaseError(f"{source!r} is not a raw GCBM output database: table(s) {missing} missing")
    for table, cols in RAW_SCHEMA.items():
        have = {r[1] for r in conn.execute(f'PRAGMA {schema}.table_info("{table}")')}
        lacking = [c for c in cols if c not in have]
        if lacking:
            raise DatabaseError(f"{source!r}: table {table} lacks column(s) {lacking}")


def open_raw_db(path: str | os.PathLike) -> sqlite3.Connection:
    """Open a raw gcbm_output.db read-only after checking it exists and has GCBM's schema."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"raw GCBM output database {str(path)!r} does not exist")
    conn = sqlite3.connect(ro_uri(path), uri=True)
    try:
        check_raw_schema(conn, str(path))
    except BaseException:
        conn.close()
        raise
    return conn
