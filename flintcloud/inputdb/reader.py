"""Read the CBM parameters of a project's gcbm_input.db (Recliner2GCBM schema).

``read_input_db(path)`` does the I/O: it checks that the file exists and is
SQLite, that every table and column the engine needs is there, and returns an
``InputDb`` of DataFrames. Nothing here falls back on libcbm's bundled Canadian
defaults: the project's db is the source of truth.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from flintcloud.errors import DatabaseError, SimulationError
from flintcloud.sqlite_ro import connect_ro, ro_uri

SQLITE_MAGIC = b"SQLite format 3\x00"

# table -> columns the engine reads. Checked before anything is queried so that a
# malformed db fails with one message naming the table/column, not a SQL error.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "pool": ("id", "name"),
    "dom_pool": ("id", "pool_id"),
    "decay_parameter": ("dom_pool_id", "base_decay_rate", "reference_temp", "q10", "prop_to_atmosphere", "max_rate"),
    "admin_boundary": ("id", "name", "stump_parameter_id"),
    "eco_boundary": ("id", "name"),
    "spatial_unit": ("id", "admin_boundary_id", "eco_boundary_id", "spinup_parameter_id"),
    "spinup_parameter": ("id", "historic_disturbance_type_id", "return_interval", "max_rotations", "mean_annual_temperature"),
    "species": ("id", "name", "forest_type_id", "genus_id"),
    "forest_type": ("id", "name"),
    "genus": ("id", "name"),
    "classifier": ("id", "name"),
    "classifier_value": ("id", "classifier_id", "value"),
    "growth_curve": ("id",),
    "growth_curve_classifier_value": ("growth_curve_id", "classifier_value_id"),
    "growth_curve_component": ("id", "growth_curve_id", "species_id"),
    "growth_curve_component_value": ("growth_curve_component_id", "age", "merchantable_volume"),
    "vol_to_bio_factor": ("id", "a", "b"),
    "vol_to_bio_factor_association": ("spatial_unit_id", "species_id", "vol_to_bio_factor_id", "root_parameter_id"),
    "root_parameter": ("id", "hw_a", "sw_a", "hw_b", "frp_a", "frp_b", "frp_c"),
    "stump_parameter": ("id", "sw_top_proportion", "sw_stump_proportion", "hw_top_proportion", "hw_stump_proportion"),
    "turnover_parameter": (
        "id", "foliage", "stem", "branch", "stem_snag", "branch_snag", "coarse_root", "fine_root",
        "branch_snag_split", "coarse_ag_split", "fine_ag_split",
    ),
    "turnover_parameter_association": ("genus_id", "eco_boundary_id", "turnover_parameter_id"),
    "disturbance_type": ("id", "name", "code", "transition_land_class_id"),
    "disturbance_matrix": ("id",),
    "disturbance_matrix_value": ("disturbance_matrix_id", "source_pool_id", "sink_pool_id", "proportion"),
    "disturbance_matrix_association": ("spatial_unit_id", "disturbance_type_id", "disturbance_matrix_id"),
    "land_class": ("id", "code", "is_forest"),
    "transition": ("id", "transition_type_id", "age", "regen_delay"),
    "transition_type": ("id", "name"),
    "transition_classifier_value": ("transition_id", "classifier_value_id"),
}


@dataclass(frozen=True)
class InputDb:
    """The parameters of one gcbm_input.db, as DataFrames (pure data, no connection)."""

    path: Path
    pools: pd.DataFrame  # id, name
    dom_pools: pd.DataFrame  # id, pool_id
    decay_parameters: pd.DataFrame  # dom_pool_id, base_decay_rate, reference_temp, q10, prop_to_atmosphere, max_rate
    spatial_units: pd.DataFrame  # spatial_unit_id, admin/eco names and ids, spinup parameters
    species: pd.DataFrame  # id, name, forest_type_id, genus_id, forest_type
    vol_to_bio_factors: pd.DataFrame  # vol_to_bio_factor table as is
    vol_to_bio_associations: pd.DataFrame  # spatial_unit_id, species_id, vol_to_bio_factor_id, root_parameter_id
    root_parameters: pd.DataFrame
    stump_parameters: pd.DataFrame
    turnover_by_genus: pd.DataFrame  # eco_boundary_id, genus_id, turnover columns
    growth_curve_components: pd.DataFrame  # growth_curve_id, component_id, species_id, forest_type, age, volume
    growth_curve_classifiers: pd.DataFrame  # growth_curve_id, classifier_name, classifier_value
    classifier_names: list[str]
    disturbance_types: pd.DataFrame  # id, name, code, transition_land_class_id
    disturbance_matrix_values: pd.DataFrame  # disturbance_matrix_id, source_pool, sink_pool, proportion
    disturbance_matrix_associations: pd.DataFrame  # spatial_unit_id, disturbance_type_id, disturbance_matrix_id
    transitions: pd.DataFrame  # transition_id, reset_type, age, regen_delay
    transition_classifiers: pd.DataFrame  # transition_id, classifier_name, classifier_value
    land_classes: pd.DataFrame

    def disturbance_type_ids(self) -> dict[str, int]:
        """disturbance_type.name -> id (what a sidecar's `disturbance_type` names)."""
        dt = self.disturbance_types
        return {str(n): int(i) for n, i in zip(dt["name"], dt["id"])}

    def disturbance_type_codes(self) -> dict[int, str]:
        """disturbance_type.code -> name: a sidecar's `disturbance_type_id` is this code, as GCBM reads it."""
        dt = self.disturbance_types
        return {int(c): str(n) for c, n in zip(dt["code"], dt["name"]) if pd.notna(c)}

    def disturbance_type_id(self, name: str) -> int:
        """The id of a disturbance type by its name (GCBM matches names exactly)."""
        hit = self.disturbance_types.loc[self.disturbance_types["name"] == name, "id"]
        if hit.empty:
            raise DatabaseError(
                f"disturbance type {name!r} is not in table disturbance_type of {str(self.path)!r}"
            )
        return int(hit.iloc[0])

    def spatial_unit_id(self, admin_boundary: str, eco_boundary: str) -> int:
        """The spatial unit of an admin/eco boundary pair, as GCBM's spatial_unit_id query finds it."""
        su = self.spatial_units
        hit = su.loc[(su["admin_boundary"] == admin_boundary) & (su["eco_boundary"] == eco_boundary), "spatial_unit_id"]
        if hit.empty:
            raise DatabaseError(
                f"no spatial_unit for admin boundary {admin_boundary!r} and eco boundary {eco_boundary!r} "
                f"in {str(self.path)!r}"
            )
        return int(hit.iloc[0])


def _query(name: str) -> str:
    return resources.files("flintcloud.inputdb").joinpath("sql", name).read_text(encoding="utf-8")


def check_sqlite_file(path: Path) -> None:
    """Raise DatabaseError unless ``path`` is an existing SQLite file (sqlite3.connect would create one)."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"input database {str(path)!r} does not exist (expected gcbm_input.db, a SQLite file)")
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise DatabaseError(f"input database {str(path)!r} is not a SQLite database")


def check_schema(conn: sqlite3.Connection, path: Path, required: dict[str, tuple[str, ...]] = REQUIRED_COLUMNS) -> None:
    """Raise DatabaseError naming every missing table or column at once."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    problems = []
    for table, columns in required.items():
        if table not in tables:
            problems.append(f"missing table {table!r}")
            continue
        have = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
        missing = [c for c in columns if c not in have]
        if missing:
            problems.append(f"table {table!r} lacks column(s) {', '.join(map(repr, missing))}")
    if problems:
        raise DatabaseError(f"input database {str(path)!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class DbProblem:
    """One thing wrong with a gcbm_input.db, as `inspect_input_db` finds it.

    kind: file (missing, not SQLite) | locked | schema (`table` lacks, or lacks columns) | read.
    """

    kind: str
    message: str
    table: str | None = None


def inspect_input_db(path: str | Path, *, timeout: float = 0.5) -> tuple[InputDb | None, list[DbProblem]]:
    """`read_input_db` that lists problems instead of raising at the first (validate's reading): a file
    that is not SQLite, a db locked by another process (not waited for beyond `timeout` s), every table
    missing or lacking columns (one problem per table). Returns (the InputDb or None, problems)."""
    path = Path(path)
    try:
        check_sqlite_file(path)
    except DatabaseError as err:
        return None, [DbProblem("file", str(err))]
    try:
        with connect_ro(path, timeout=timeout) as conn:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as err:
                if "locked" not in str(err):
                    raise
                return None, [DbProblem("locked", f"input database {str(path)!r} is locked by another process "
                                                  f"({err}); close the program holding it (or wait for the "
                                                  "writer) and retry")]
            problems = []
            for table, columns in REQUIRED_COLUMNS.items():
                try:
                    check_schema(conn, path, {table: columns})
                except DatabaseError as err:
                    problems.append(DbProblem("schema", str(err), table))
            if problems:
                return None, problems
            return parse_input_db(conn, path), []
    except (sqlite3.DatabaseError, DatabaseError, ValueError) as err:
        return None, [DbProblem("read", f"input database {str(path)!r} cannot be read: {err}")]


def check_uploaded_input_db(path: str | Path, source: str) -> None:
    """A file someone uploads as a gcbm_input.db, checked without trusting it: opened read-only and
    immutable (never locking, never writing), SQLite's quick_check, then every table and column the engine
    needs. DatabaseError naming `source` (the name it was uploaded as) otherwise."""
    try:
        conn = sqlite3.connect(ro_uri(path) + "&immutable=1", uri=True)
        try:
            conn.execute("PRAGMA quick_check").fetchone()
            check_schema(conn, Path(source))
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise DatabaseError(f"{source!r} is not a readable SQLite database: {err}") from err


def read_input_db(path: str | Path) -> InputDb:
    """Read everything the engine needs from a gcbm_input.db."""
    path = Path(path)
    check_sqlite_file(path)
    try:
        with connect_ro(path) as conn:
            check_schema(conn, path)
            return parse_input_db(conn, path)
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"input database {str(path)!r} could not be read: {err}") from err


def parse_input_db(conn: sqlite3.Connection, path: Path) -> InputDb:
    """Build an InputDb from an open connection (schema already checked)."""

    def table(name: str, columns: str = "*") -> pd.DataFrame:
        return pd.read_sql(f'SELECT {columns} FROM "{name}"', conn)

    species = pd.read_sql(
        "SELECT s.id, s.name, s.forest_type_id, s.genus_id, ft.name AS forest_type "
        "FROM species s INNER JOIN forest_type ft ON ft.id = s.forest_type_id",
        conn,
    )
    classifiers = table("classifier").sort_values("id")
    return InputDb(
        path=path,
        pools=table("pool", "id, name"),
        dom_pools=table("dom_pool", "id, pool_id"),
        decay_parameters=table("decay_parameter"),
        spatial_units=pd.read_sql(_query("spatial_units.sql"), conn),
        species=species,
        vol_to_bio_factors=table("vol_to_bio_factor"),
        vol_to_bio_associations=table("vol_to_bio_factor_association"),
        root_parameters=table("root_parameter"),
        stump_parameters=table("stump_parameter"),
        turnover_by_genus=pd.read_sql(_query("turnover_by_genus.sql"), conn),
        growth_curve_components=pd.read_sql(_query("growth_curve_components.sql"), conn),
        growth_curve_classifiers=pd.read_sql(_query("growth_curve_classifiers.sql"), conn),
        classifier_names=[str(n) for n in classifiers["name"]],
        disturbance_types=table("disturbance_type", "id, name, code, transition_land_class_id"),
        disturbance_matrix_values=pd.read_sql(_query("disturbance_matrix_values.sql"), conn),
        disturbance_matrix_associations=table(
            "disturbance_matrix_association", "spatial_unit_id, disturbance_type_id, disturbance_matrix_id"
        ),
        transitions=pd.read_sql(_query("transitions.sql"), conn),
        transition_classifiers=pd.read_sql(_query("transition_classifiers.sql"), conn),
        land_classes=table("land_class"),
    )


#: Merchantable volume (m3/ha) above which a growth curve is a data error: the tallest temperate
#: rainforests stand at ~3,000-4,000 m3/ha; CBM curves rarely exceed 1,000.
MAX_PLAUSIBLE_VOLUME = 5000.0


def growth_curve_problems(db: InputDb, curve_ids=None, *, limit: int = 20) -> list[str]:
    """Volumes libcbm cannot use or no forest has, one sentence per curve and kind (pure).

    NULL, text ('NaN'), infinite or negative merchantable volumes crash libcbm mid-run; volumes
    above MAX_PLAUSIBLE_VOLUME give absurd carbon. validate and the run (run.preflight) both
    refuse them with these sentences. `curve_ids`: only those curves (None: every curve).
    """
    comps = db.growth_curve_components
    if comps.empty:
        return []
    if curve_ids is not None:
        comps = comps[comps["growth_curve_id"].isin(list(curve_ids))]
    raw = comps["merchantable_volume"]
    volume = pd.to_numeric(raw, errors="coerce").astype(np.float64)
    kinds = (
        ("is NULL or not a number", volume.isna().to_numpy()),
        ("is infinite", np.isinf(volume.to_numpy())),
        ("is negative", (volume < 0).to_numpy()),
        (f"is above {MAX_PLAUSIBLE_VOLUME:g} m3/ha (no forest holds that much)",
         (np.isfinite(volume) & (volume > MAX_PLAUSIBLE_VOLUME)).to_numpy()),
    )
    out = []
    for what, bad in kinds:
        if not bad.any():
            continue
        rows = comps[bad]
        for gc, group in rows.groupby("growth_curve_id", sort=True):
            first = group.iloc[0]
            value = first["merchantable_volume"]
            value = value.item() if isinstance(value, np.generic) else value
            out.append(
                f"growth curve {int(gc)} ({first['species_name']}) in {str(db.path)!r}: merchantable volume at age "
                f"{int(first['age'])} is {value!r}, which {what}"
                + (f" ({len(group)} ages)" if len(group) > 1 else "")
            )
    return out[:limit] + ([f"... and {len(out) - limit} more growth-curve volume problems"] if len(out) > limit else [])


def match_growth_curves(db: InputDb, classifiers: pd.DataFrame, *, strict: bool = True) -> np.ndarray:
    """Growth curve id per row of ``classifiers`` (GCBM's GrowthCurveTransform: exact or '?' matches). Pure.

    Only the db's classifiers that are columns of ``classifiers`` (the run's classifier set) are
    compared; among matching curves the most specific (fewest '?') wins, ties by curve order.
    strict: raise SimulationError naming the classifier combination when no curve matches (the
    engine); otherwise -1 for such rows (validate lists them). The engine and validate share this.
    """
    gcc = db.growth_curve_classifiers
    names = [c for c in db.classifier_names if c in classifiers.columns]
    curves = gcc.pivot_table(index="growth_curve_id", columns="classifier_name", values="classifier_value",
                             aggfunc="first").reindex(columns=names).fillna("?")
    out = np.full(len(classifiers), -1, dtype=np.int64)
    # a null classifier (kept under allow_nulls) matches only '?'; named "(null)" in the message
    values = classifiers[names].astype(object).where(classifiers[names].notna(), "(null)").astype(str)
    combos = values.drop_duplicates()
    for _, combo in combos.iterrows():
        vals = combo.to_numpy()
        match = ((curves.to_numpy() == vals) | (curves.to_numpy() == "?")).all(axis=1)
        if not match.any():
            if not strict:
                continue
            raise SimulationError(
                f"no growth curve for classifier set {dict(zip(names, vals))}: table growth_curve_classifier_value "
                f"of {str(db.path)!r} has no matching row"
            )
        specific = (curves.to_numpy()[match] != "?").sum(axis=1)
        gc = int(curves.index[match][int(np.argmax(specific))])
        rows = (values.to_numpy() == vals).all(axis=1)
        out[rows] = gc
    return out


_VAR = re.compile(r"\{var:([A-Za-z0-9_]+)\}")


def sql_literal(value) -> str:
    """A value as GCBM's SQLQueryTransform writes it into a query: strings quoted, numbers as is."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def substitute_variables(query: str, values: dict, source: str = "query") -> str:
    """Replace GCBM's ``{var:name}`` placeholders; a name without a scalar value is an error naming it."""

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in values or isinstance(values[name], (dict, list)):
            raise DatabaseError(f"{source}: variable {{var:{name}}} has no scalar value to substitute")
        return sql_literal(values[name])

    return _VAR.sub(one, query)


def read_classifier_names(path: str | Path) -> list[str]:
    """Classifier names of a gcbm_input.db in id order (configure orders classifier layers by it)."""
    return [str(r[0]) for r in _rows(path, "classifier", "SELECT name FROM classifier ORDER BY id")]


def read_spatial_unit_names(path: str | Path) -> list[tuple[str, str]]:
    """(admin boundary, eco boundary) name pairs of a gcbm_input.db's spatial units, in id order."""
    query = (
        "SELECT a.name, e.name FROM spatial_unit spu "
        "INNER JOIN admin_boundary a ON spu.admin_boundary_id = a.id "
        "INNER JOIN eco_boundary e ON spu.eco_boundary_id = e.id ORDER BY spu.id"
    )
    return [(str(a), str(e)) for a, e in _rows(path, "spatial_unit", query)]


def _rows(path: str | Path, what: str, query: str) -> list[tuple]:
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"input database {str(path)!r} does not exist; expected gcbm_input.db (SQLite)")
    try:
        with connect_ro(path, timeout=1.0) as conn:
            return conn.execute(query).fetchall()
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"input database {str(path)!r}: cannot read table {what!r} ({err})") from err


def _score_sql(n_classifiers: int) -> str:
    names = ",".join("?" * n_classifiers)
    matches = " ".join("WHEN c.name LIKE ? AND cv.value LIKE ? THEN 4" for _ in range(n_classifiers))
    return (f"CASE WHEN c.name IN ({names}) THEN CASE WHEN cv.value LIKE '?' THEN 1 {matches} ELSE -1000 END "
            "ELSE -1000 END")


def transition_rule_query(classifier_set: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """GCBM's TransitionRuleTransform SQL for one classifier set (sql/transition_rule_matches.sql), with its
    parameters. A null classifier value is matched as the text ``NULL``, as GCBM formats it. Pure."""
    names = list(classifier_set)
    values = ["NULL" if v is None else str(v) for v in classifier_set.values()]
    score_params = names + [x for pair in zip(names, values) for x in pair]
    sql = _query("transition_rule_matches.sql").format(score=_score_sql(len(names)))
    return sql, score_params + score_params


def read_transition_rule_count(path: str | Path) -> int:
    """Rows of table transition_rule (0 when the db has none, or no such table: no rule ever matches)."""
    path = Path(path)
    check_sqlite_file(path)
    try:
        with connect_ro(path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM transition_rule").fetchone()[0])
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return 0
        raise DatabaseError(f"{str(path)!r}: cannot read table transition_rule: {exc}") from exc


def read_transition_rule_matches(path: str | Path, classifier_set: Mapping[str, str | None]) -> dict[str, int]:
    """GCBM's ``transition_rule_matches`` for one classifier set: {disturbance type name: transition id}
    of the best-scoring rule per type (engine.transition_rules explains the scoring)."""
    path = Path(path)
    sql, params = transition_rule_query(classifier_set)
    try:
        with connect_ro(path) as conn:
            rows = conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{str(path)!r}: GCBM's transition rule query failed on tables transition_rule / "
            f"transition_rule_classifier_value / classifier_value / classifier / disturbance_type: {exc}"
        ) from exc
    return {str(dt): int(tr) for dt, tr in rows}


def run_query(path: str | Path, query: str) -> pd.DataFrame:
    """Run one read-only query on a gcbm_input.db (e.g. spinup.json's spinup_parameters)."""
    path = Path(path)
    check_sqlite_file(path)
    try:
        with connect_ro(path) as conn:
            return pd.read_sql(query, conn)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
        raise DatabaseError(f"query on {str(path)!r} failed: {err}\n{query}") from err
