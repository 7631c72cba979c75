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

Implementation: the raw db is attached read-only to the compiled db being written (a temp file moved
into place at the end). Pool and flux indicators, flux aggregates and stock changes are computed in one
streaming pass each over ``Pools`` and ``Fluxes`` with sparse membership matrices (the SQL join and
GROUP BY GCBM.CompileResults runs takes SQLite many minutes on tens of millions of rows); the other
tables are SQL in ``sql/compile/*.sql``. On GCBM's own raw output for the FLINT.Cloud demo every table
equals compileresults.py's row for row (values to 4e-11 relative, same column types).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from flintcloud.atomic import atomic_path
from flintcloud.errors import ConfigError, DatabaseError, OutputError
from flintcloud.jsonfile import load_json
from flintcloud.outputs.raw_db import factorize_rows
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
FLUX_CHUNK_ROWS = 1_000_000
_SQL_FILES = (
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
    return parse_indicators(load_json(path, ConfigError, "indicator configuration"), str(path))


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
    conn.executescript(
        """
        CREATE TEMP TABLE flux_pair AS
        SELECT fi.id AS flux_indicator_id, fi.name AS name, fi.change_type AS change_type,
               src.pool_id AS src_id, snk.pool_id AS dst_id
        FROM temp.flux_indicator AS fi
        JOIN temp.collection_pool AS src ON src.collection = fi.source_collection
        JOIN temp.collection_pool AS snk ON snk.collection = fi.sink_collection;
        CREATE INDEX temp.flux_pair_idx ON flux_pair (src_id, dst_id);
        CREATE TEMP TABLE pool_member AS
        SELECT pi.id AS indicator_id, pi.name AS name, cp.pool_id AS pool_id
        FROM temp.pool_indicator AS pi JOIN temp.collection_pool AS cp ON cp.collection = pi.collection;
        CREATE INDEX temp.pool_member_idx ON pool_member (pool_id);
        """
    )

    snippets = _classifier_snippets(classifiers)
    conn.executescript(_sql("01_location.sql").format(**snippets))
    groups = _Groups(conn, classifiers)
    _create_flux_indicators(conn, classifiers, groups)
    _create_pool_indicators(conn, classifiers, groups)
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


class _Groups:
    """Reporting groups of raw locations: (classifier values, year, land class, age range)."""

    def __init__(self, conn: sqlite3.Connection, classifiers: list[str]):
        loc = pd.read_sql_query("SELECT * FROM temp.location", conn)
        self.attrs = [*classifiers, "year", "land_class", "age_range"]
        self.classifiers = classifiers
        if len(loc):
            self.of_location, self.values = factorize_rows(*(loc[c].to_numpy(dtype=object) for c in self.attrs))
        else:
            self.of_location, self.values = np.empty(0, np.int64), [np.empty(0, object) for _ in self.attrs]
        self.location_index = pd.Index(loc["location_id"].to_numpy(dtype=np.int64))

    def columns(self, group: np.ndarray) -> dict:
        n = len(self.classifiers)
        return {
            **{c: self.values[i][group].tolist() for i, c in enumerate(self.classifiers)},
            "year": [int(y) for y in self.values[n][group]],
            "unfccc_land_class": self.values[n + 1][group].tolist(),
            "age_range": self.values[n + 2][group].tolist(),
        }

    def year(self, group: np.ndarray) -> np.ndarray:
        return self.values[len(self.classifiers)][group].astype(np.int64)


def _stream(conn: sqlite3.Connection, sql: str, row_type: list):
    """Yield structured numpy chunks of FLUX_CHUNK_ROWS rows of a query."""
    cursor = conn.execute(sql)
    while True:
        chunk = np.fromiter(itertools.islice(cursor, FLUX_CHUNK_ROWS), dtype=row_type)
        if len(chunk) == 0:
            return
        yield chunk


def _create_pool_indicators(conn: sqlite3.Connection, classifiers: list[str], groups: _Groups) -> None:
    """temp.v_pool_indicators in one streaming pass over raw.Pools: the tC of each pool indicator's
    collection per reporting group, for simulated years (> 0); a row wherever a pool of the
    collection has a Pools row (zero totals included), as GCBM.CompileResults' join gives."""
    members = pd.read_sql_query("SELECT * FROM temp.pool_member", conn)
    indicators = pd.read_sql_query("SELECT id, name FROM temp.pool_indicator ORDER BY id", conn)
    n_pools = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM raw.PoolDimension").fetchone()[0])
    membership = sparse.csr_matrix(
        (np.ones(len(members)), (members["pool_id"].to_numpy(np.int64),
                                 pd.Index(indicators["id"]).get_indexer(members["indicator_id"]))),
        shape=(n_pools, len(indicators)),
    )
    columns = ["indicator_id", *classifiers, "unfccc_land_class", "indicator", "year", "age_range", "pool_tc"]
    conn.execute(f"CREATE TEMP TABLE v_pool_indicators ({', '.join(_quote(c) for c in columns)})")
    keys, sums, counts = [], [], []
    row_type = [("loc", "i8"), ("pool", "i8"), ("value", "f8")]
    sql = "SELECT COALESCE(locationDimId, -1), COALESCE(poolId, -1), poolValue FROM raw.Pools"
    for chunk in _stream(conn, sql.replace("poolValue", "COALESCE(poolValue, 0.0)"), row_type):
        at = groups.location_index.get_indexer(chunk["loc"])
        keep = (at >= 0) & (chunk["pool"] >= 0) & (chunk["pool"] < n_pools)
        chunk, group = chunk[keep], groups.of_location[at[keep]]
        keep = groups.year(group) > 0
        chunk, group = chunk[keep], group[keep]
        if len(chunk) == 0:
            continue
        codes, values = pd.factorize(group)
        for weights, out in ((chunk["value"], sums), (np.ones(len(chunk)), counts)):
            by_pool = sparse.csr_matrix((weights, (codes, chunk["pool"])), shape=(len(values), n_pools))
            out.append((by_pool @ membership).toarray())
        keys.append(values)
    if not keys:
        return
    all_keys = np.concatenate(keys)
    final_codes, final_groups = pd.factorize(all_keys)
    summing = _summing_matrix(final_codes, len(final_groups))
    totals, present = np.asarray(summing @ np.vstack(sums)), np.asarray(summing @ np.vstack(counts)) > 0
    rows, cols = np.nonzero(present)
    _insert(conn, "v_pool_indicators", columns, {
        "indicator_id": indicators["id"].to_numpy()[cols].tolist(),
        "indicator": indicators["name"].to_numpy()[cols].tolist(),
        "pool_tc": totals[rows, cols].tolist(),
        **groups.columns(final_groups[rows]),
    })


def _create_flux_indicators(conn: sqlite3.Connection, classifiers: list[str], groups: _Groups) -> None:
    """temp.v_flux_indicators, v_flux_indicator_aggregates and v_stock_change_indicators, in one
    streaming pass over raw.Fluxes.

    Each flux row adds its value to every flux indicator whose source/sink collections hold its pools
    and whose change type admits it (annual process: no disturbance record; disturbance: one;
    combined: both), grouped by reporting location (classifier values, year, land class, age range)
    and disturbance type (code, name); groups whose total is not positive are dropped. The same
    result as the join GCBM.CompileResults runs, done with sparse matrix products: a join and GROUP BY
    over tens of millions of flux rows takes SQLite many minutes.
    """
    group_of_loc, loc_index = groups.of_location, groups.location_index

    dist = pd.read_sql_query(
        "SELECT di.id AS dist_id, dt.disturbanceType AS code, dt.disturbanceTypeName AS name "
        "FROM raw.DisturbanceDimension AS di "
        "LEFT JOIN raw.DisturbanceTypeDimension AS dt ON dt.id = di.disturbanceTypeDimId",
        conn,
    )
    if len(dist):
        type_of_dist, (type_code, type_name) = factorize_rows(dist["code"].to_numpy(object), dist["name"].to_numpy(object))
    else:
        type_of_dist, type_code, type_name = np.empty(0, np.int64), np.empty(0, object), np.empty(0, object)
    # type 0: no disturbance type (annual processes, and disturbance ids without a record, as the LEFT JOIN gives)
    type_code = np.concatenate([[None], type_code]).astype(object)
    type_name = np.concatenate([[None], type_name]).astype(object)
    dist_type = np.concatenate([[0], type_of_dist + 1])  # position in dist_index + 1 -> type
    dist_index = pd.Index(dist["dist_id"].to_numpy(dtype=np.int64))
    n_types = len(type_code)

    indicators = pd.read_sql_query("SELECT id, name FROM temp.flux_indicator ORDER BY id", conn)
    pairs = pd.read_sql_query("SELECT * FROM temp.flux_pair", conn)
    n_pools = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM raw.PoolDimension").fetchone()[0])
    position = pd.Index(indicators["id"]).get_indexer(pairs["flux_indicator_id"])
    pair_code = pairs["src_id"].to_numpy(np.int64) * n_pools + pairs["dst_id"].to_numpy(np.int64)
    shape = (n_pools * n_pools, len(indicators))

    def pair_matrix(change_types) -> sparse.csr_matrix:
        m = pairs["change_type"].isin(change_types).to_numpy()
        return sparse.csr_matrix((np.ones(m.sum()), (pair_code[m], position[m])), shape=shape)

    by_annual, by_disturbance = pair_matrix(["annual process", "combined"]), pair_matrix(["disturbance", "combined"])

    keys, sums = [], []
    sql = (
        "SELECT COALESCE(locationDimId, -1), COALESCE(disturbanceDimId, -1), COALESCE(poolSrcDimId, -1), "
        "COALESCE(poolDstDimId, -1), COALESCE(fluxValue, 0.0) FROM raw.Fluxes"
    )
    row_type = [("loc", "i8"), ("dist", "i8"), ("src", "i8"), ("dst", "i8"), ("value", "f8")]
    for chunk in _stream(conn, sql, row_type):
        at = loc_index.get_indexer(chunk["loc"])
        src, dst = chunk["src"], chunk["dst"]
        keep = (at >= 0) & (src >= 0) & (src < n_pools) & (dst >= 0) & (dst < n_pools)
        chunk, at = chunk[keep], at[keep]
        if len(chunk) == 0:
            continue
        disturbed = chunk["dist"] >= 0
        dtype_of_row = np.zeros(len(chunk), dtype=np.int64)
        dtype_of_row[disturbed] = dist_type[dist_index.get_indexer(chunk["dist"][disturbed]) + 1]
        key_codes, key_values = pd.factorize(group_of_loc[at] * n_types + dtype_of_row)
        pair = chunk["src"] * n_pools + chunk["dst"]
        total = np.zeros((len(key_values), len(indicators)))
        for rows, matrix in ((~disturbed, by_annual), (disturbed, by_disturbance)):
            if rows.any():
                flux = sparse.csr_matrix(
                    (chunk["value"][rows], (key_codes[rows], pair[rows])), shape=(len(key_values), shape[0])
                )
                total += (flux @ matrix).toarray()
        keys.append(key_values)
        sums.append(total)

    flux_columns = ["flux_indicator_id", *classifiers, "unfccc_land_class", "indicator", "year",
                    "disturbance_code", "disturbance_type", "age_range", "flux_tc"]
    agg_columns = ["flux_indicator_collection_id", "indicator", "year", *classifiers, "unfccc_land_class",
                   "age_range", "flux_tc"]
    stock_columns = ["indicator", *classifiers, "unfccc_land_class", "year", "age_range", "flux_tc"]
    for table, columns in (("v_flux_indicators", flux_columns), ("v_flux_indicator_aggregates", agg_columns),
                           ("v_stock_change_indicators", stock_columns)):
        conn.execute(f"CREATE TEMP TABLE {table} ({', '.join(_quote(c) for c in columns)})")
    if not keys:
        return
    all_keys = np.concatenate(keys)
    final_codes, final_keys = pd.factorize(all_keys)
    totals = np.asarray(_summing_matrix(final_codes, len(final_keys)) @ np.vstack(sums))
    totals[~(totals > 0)] = 0.0  # GCBM.CompileResults: HAVING SUM(...) > 0

    rows, cols = np.nonzero(totals)
    group, dtype = final_keys[rows] // n_types, final_keys[rows] % n_types
    _insert(conn, "v_flux_indicators", flux_columns, {
        "flux_indicator_id": indicators["id"].to_numpy()[cols].tolist(),
        "indicator": indicators["name"].to_numpy()[cols].tolist(),
        "disturbance_code": [None if pd.isna(c) else int(c) for c in type_code[dtype]],
        "disturbance_type": [None if pd.isna(n) else str(n) for n in type_name[dtype]],
        "flux_tc": totals[rows, cols].tolist(),
        **groups.columns(group),
    })

    # Collections sum their member indicators over disturbance types; a collection appears where one
    # of its members has a row (all member rows are positive, so: where the sum is positive).
    group_codes, present_groups = pd.factorize(final_keys // n_types)
    per_group = _summing_matrix(group_codes, len(present_groups)) @ totals
    collections = pd.read_sql_query("SELECT id, name FROM temp.flux_collection ORDER BY id", conn)
    members = pd.read_sql_query("SELECT * FROM temp.flux_collection_member", conn)
    membership = sparse.csr_matrix(
        (np.ones(len(members)), (pd.Index(indicators["id"]).get_indexer(members["flux_indicator_id"]),
                                 pd.Index(collections["id"]).get_indexer(members["collection_id"]))),
        shape=(len(indicators), len(collections)),
    )
    aggregates = np.asarray((membership.T @ per_group.T).T)
    rows, cols = np.nonzero(aggregates > 0)
    _insert(conn, "v_flux_indicator_aggregates", agg_columns, {
        "flux_indicator_collection_id": collections["id"].to_numpy()[cols].tolist(),
        "indicator": collections["name"].to_numpy()[cols].tolist(),
        "flux_tc": aggregates[rows, cols].tolist(),
        **groups.columns(present_groups[rows]),
    })

    # Stock changes add (+1) or subtract (-1) collections; a row where any of their collections has one.
    changes = pd.read_sql_query("SELECT * FROM temp.stock_change", conn)
    change_names = pd.Index(pd.unique(changes["name"]))
    at = (pd.Index(collections["id"]).get_indexer(changes["collection_id"]), change_names.get_indexer(changes["name"]))
    shape = (len(collections), len(change_names))
    signs = sparse.csr_matrix((changes["sign"].to_numpy(dtype=np.float64), at), shape=shape)
    involved = sparse.csr_matrix((np.ones(len(changes)), at), shape=shape)
    values = np.asarray((signs.T @ aggregates.T).T)
    present = np.asarray((involved.T @ (aggregates > 0).astype(np.float64).T).T) > 0
    rows, cols = np.nonzero(present)
    _insert(conn, "v_stock_change_indicators", stock_columns, {
        "indicator": change_names.to_numpy()[cols].tolist(),
        "flux_tc": values[rows, cols].tolist(),
        **groups.columns(present_groups[rows]),
    })


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _summing_matrix(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    """(n_groups x len(codes)) matrix whose product with a row table sums the rows by code."""
    return sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n_groups, len(codes)))


def _insert(conn: sqlite3.Connection, table: str, columns: list[str], values: dict) -> None:
    conn.executemany(
        f"INSERT INTO temp.{table} VALUES ({', '.join('?' * len(columns))})", zip(*(values[c] for c in columns))
    )


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
