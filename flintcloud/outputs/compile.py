"""compiled_gcbm_output.db: GCBM.CompileResults' reporting tables (``v_*``) from any raw gcbm_output.db.

The indicator definitions (pool collections, flux indicators, flux collections, stock changes, pool
indicators) are GCBM.CompileResults' default set (``compile_indicators.json``) unless a project gives
its own (the standalone template's ``compileresults.json`` has the same format). The semantics follow
GCBM.CompileResults: names of collections are matched case-insensitively, a flux indicator counts
annual-process fluxes (no disturbance record), disturbance fluxes, or both ("Combined"), flux
indicator groups whose total is not positive are dropped, pool and age indicators start at the first
simulated year (the post-spinup year 0 is left out).

Output tables: v_pool_indicators, v_flux_indicators, v_flux_indicator_aggregates,
v_stock_change_indicators, v_age_indicators, v_error_indicators, v_total_disturbed_areas,
v_disturbance_indicators, v_disturbance_fluxes and the ``_density`` variants of the three flux tables.
Units: tC (pools, fluxes per year), ha (areas), tC/ha (``*_per_ha``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from importlib import resources
from pathlib import Path

import pandas as pd

from flintcloud.atomic import atomic_path
from flintcloud.errors import ConfigError, DatabaseError, OutputError
from flintcloud.outputs.sqlite_io import check_raw_schema, ro_uri

CHANGE_TYPES = ("annual process", "disturbance", "combined")
INDICATOR_SECTIONS = ("pool_collections", "fluxes", "flux_collections", "stock_changes", "pool_indicators")
TABLES = (
    "v_flux_indicators",
    "v_flux_indicator_aggregates",
    "v_stock_change_indicators",
    "v_pool_indicators",
    "v_age_indicators",
    "v_error_indicators",
    "v_total_disturbed_areas",
    "v_disturbance_indicators",
    "v_disturbance_fluxes",
)
DENSITY_TABLES = ("v_flux_indicators", "v_flux_indicator_aggregates", "v_stock_change_indicators")
_INTEGER_COLUMNS = {"flux_indicator_id", "indicator_id", "flux_indicator_collection_id", "year", "disturbance_code"}
_REAL_COLUMNS = {
    "flux_tc", "flux_tc_per_ha", "pool_tc", "area", "dist_area", "dist_carbon", "dist_carbon_per_ha",
}
_SQL_FILES = (
    "02_v_flux_indicators.sql",
    "03_v_flux_indicator_aggregates.sql",
    "04_v_stock_change_indicators.sql",
    "05_v_pool_indicators.sql",
    "06_v_age_indicators.sql",
    "07_v_error_indicators.sql",
    "08_v_total_disturbed_areas.sql",
    "09_v_disturbance_indicators.sql",
    "10_v_disturbance_fluxes.sql",
)


def default_indicators() -> dict:
    """GCBM.CompileResults' default indicator definitions."""
    return json.loads(resources.files("flintcloud.outputs").joinpath("compile_indicators.json").read_text())


def read_indicators(path: str | os.PathLike) -> dict:
    """Read a compileresults.json-style indicator file."""
    path = Path(path)
    try:
        return parse_indicators(json.loads(path.read_text()), str(path))
    except FileNotFoundError as err:
        raise ConfigError(f"indicator configuration {str(path)!r} does not exist") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"indicator configuration {str(path)!r} is not valid JSON: {err}") from err


def parse_indicators(obj: dict, source: str = "<indicators>") -> dict:
    """Check an indicator definition dict has GCBM.CompileResults' sections and shapes."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: expected a JSON object with sections {list(INDICATOR_SECTIONS)}")
    missing = [s for s in INDICATOR_SECTIONS if not isinstance(obj.get(s), dict)]
    if missing:
        raise ConfigError(f"{source}: section(s) {missing} missing or not an object")
    for name, flux in obj["fluxes"].items():
        if not isinstance(flux, dict) or not {"source", "from", "to"} <= set(flux):
            raise ConfigError(f"{source}: flux indicator {name!r} needs 'source', 'from' and 'to', got {flux!r}")
        if str(flux["source"]).lower() not in CHANGE_TYPES:
            raise ConfigError(
                f"{source}: flux indicator {name!r} has source {flux['source']!r}; expected one of "
                "'Annual Process', 'Disturbance', 'Combined'"
            )
    return obj


def definition_tables(indicators: dict, pool_ids: dict[str, int]) -> dict[str, pd.DataFrame]:
    """Pure: the indicator definitions as relational tables, resolved against the db's pools.

    Ids are assigned as GCBM.CompileResults' autoincrement inserts would: flux indicators and pool
    indicators only when their collections exist, flux collections all in order.
    """
    collections = {"any": sorted(pool_ids.values())}  # GCBM's built-in "Any" collection
    for name, pools in indicators["pool_collections"].items():
        collections.setdefault(name.lower(), sorted({pool_ids[p] for p in pools if p in pool_ids}))
    collection_pool = pd.DataFrame(
        [(c, p) for c, ids in collections.items() for p in ids], columns=["collection", "pool_id"]
    )

    rows = []
    for name, flux in indicators["fluxes"].items():
        src, snk = str(flux["from"]).lower(), str(flux["to"]).lower()
        if src in collections and snk in collections:
            rows.append((len(rows) + 1, name, str(flux["source"]).lower(), src, snk))
    flux_indicator = pd.DataFrame(rows, columns=["id", "name", "change_type", "source_collection", "sink_collection"])

    flux_ids = dict(zip(flux_indicator["name"], flux_indicator["id"]))
    flux_collection = pd.DataFrame(
        [(i + 1, name) for i, name in enumerate(indicators["flux_collections"])], columns=["id", "name"]
    )
    members = sorted(
        {
            (i + 1, flux_ids[f])
            for i, fluxes in enumerate(indicators["flux_collections"].values())
            for f in fluxes
            if f in flux_ids
        }
    )
    flux_collection_member = pd.DataFrame(members, columns=["collection_id", "flux_indicator_id"])

    collection_ids = dict(zip(flux_collection["name"], flux_collection["id"]))
    changes = sorted(
        {
            (name, collection_ids[c], sign)
            for name, parts in indicators["stock_changes"].items()
            for sign, key in ((1, "+"), (-1, "-"))
            for c in (parts.get(key) or [])
            if c in collection_ids
        }
    )
    stock_change = pd.DataFrame(changes, columns=["name", "collection_id", "sign"])

    pool_indicator = pd.DataFrame(
        [
            (name, str(coll).lower())
            for name, coll in indicators["pool_indicators"].items()
            if str(coll).lower() in collections
        ],
        columns=["name", "collection"],
    )
    pool_indicator.insert(0, "id", range(1, len(pool_indicator) + 1))
    return {
        "collection_pool": collection_pool,
        "flux_indicator": flux_indicator,
        "flux_collection": flux_collection,
        "flux_collection_member": flux_collection_member,
        "stock_change": stock_change,
        "pool_indicator": pool_indicator,
    }


def _sql(name: str) -> str:
    return resources.files("flintcloud.outputs").joinpath(f"sql/compile/{name}").read_text()


def _classifier_snippets(classifiers: list[str]) -> dict[str, str]:
    def cols(alias: str, suffix: str = "") -> str:
        return ", ".join(f'{alias}."{c}" AS "{c}{suffix}"' for c in classifiers)

    def bare(alias: str) -> str:
        return ", ".join(f'{alias}."{c}"' for c in classifiers)

    return {
        "cls_ddl": ", ".join(f'"{c}" VARCHAR' for c in classifiers),
        **{f"grp_{a}": bare(a) for a in ("l", "fi", "a", "cur", "prev")},
        "cls_c": ", ".join(f'c."{c}"' for c in classifiers),
        "cls_l": cols("l"),
        "cls_fi": cols("fi"),
        "cls_a": cols("a"),
        "cls_cur": cols("cur"),
        "cls_prev": cols("prev", "_previous"),
    }


def compile_results(
    raw_db: str | os.PathLike, compiled_db: str | os.PathLike, indicators: dict | str | os.PathLike | None = None
) -> Path:
    """Write GCBM.CompileResults' ``v_*`` tables for `raw_db` into `compiled_db` (replaced atomically)."""
    raw_db, compiled_db = Path(raw_db), Path(compiled_db)
    if not raw_db.is_file():
        raise DatabaseError(f"raw GCBM output database {str(raw_db)!r} does not exist")
    if raw_db.resolve() == compiled_db.resolve():
        raise OutputError(f"the compiled database must not replace the raw one ({str(raw_db)!r})")
    if indicators is None:
        indicators = default_indicators()
    elif not isinstance(indicators, dict):
        indicators = read_indicators(indicators)
    indicators = parse_indicators(indicators)

    with atomic_path(compiled_db) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("ATTACH DATABASE ? AS raw", (ro_uri(raw_db),))
            check_raw_schema(conn, str(raw_db), schema="raw")
            _compile(conn, indicators)
            conn.commit()
        except sqlite3.Error as err:
            raise DatabaseError(f"compiling {str(raw_db)!r} failed: {err}") from err
        finally:
            conn.close()
    return compiled_db


def _compile(conn: sqlite3.Connection, indicators: dict) -> None:
    classifiers = [
        r[1] for r in conn.execute('PRAGMA raw.table_info("ClassifierSetDimension")') if r[1].lower() not in ("id", "jobid")
    ]
    if not classifiers:
        raise DatabaseError("raw ClassifierSetDimension has no classifier columns")
    pool_ids = dict(conn.execute("SELECT poolName, id FROM raw.PoolDimension").fetchall())
    for name, table in definition_tables(indicators, pool_ids).items():
        cols = ", ".join(table.columns)
        conn.execute(f"CREATE TEMP TABLE {name} ({cols})")
        conn.executemany(
            f"INSERT INTO temp.{name} VALUES ({', '.join('?' * len(table.columns))})",
            table.astype(object).itertuples(index=False, name=None),
        )
    conn.execute("CREATE INDEX temp.collection_pool_idx ON collection_pool (collection, pool_id)")

    snippets = _classifier_snippets(classifiers)
    conn.executescript(_sql("01_location.sql").format(**snippets))
    for name in _SQL_FILES:
        conn.executescript(_sql(name).format(**snippets))
    density = _sql("11_density.sql")
    for table in DENSITY_TABLES:
        conn.executescript(density.format(table=table))

    # The tables were built in the temp schema; copy them out with the column types GCBM.CompileResults'
    # SQLAlchemy copy declares (INTEGER ids/years/codes, REAL values, TEXT otherwise).
    for table in TABLES + tuple(f"{t}_density" for t in DENSITY_TABLES):
        cols = [r[1] for r in conn.execute(f'PRAGMA temp.table_info("{table}")')]
        ddl = ", ".join(
            f'"{c}" ' + ("INTEGER" if c in _INTEGER_COLUMNS else "REAL" if c in _REAL_COLUMNS else "TEXT") for c in cols
        )
        conn.execute(f'CREATE TABLE main."{table}" ({ddl})')
        conn.execute(f'INSERT INTO main."{table}" SELECT * FROM temp."{table}"')


def read_compiled_table(compiled_db: str | os.PathLike, table: str) -> pd.DataFrame:
    """One ``v_*`` table of a compiled db as a DataFrame."""
    compiled_db = Path(compiled_db)
    if not compiled_db.is_file():
        raise DatabaseError(f"compiled GCBM output database {str(compiled_db)!r} does not exist")
    with contextlib.closing(sqlite3.connect(ro_uri(compiled_db), uri=True)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if table not in names:
            raise DatabaseError(f"{str(compiled_db)!r} has no table {table!r}")
        return pd.read_sql_query(f'SELECT * FROM "{table}"', conn)
