"""Build a gcbm_input.db on Linux: a replacement for the Windows-only Recliner2GCBM.

Recliner2GCBM copies the CBM-CFS3 defaults out of an Archive Index database (AIDB, MS
Access) and adds the project's growth curves, classifiers and transition rules. Here the
defaults come from libcbm's bundled ``cbm_defaults`` SQLite database (same lineage, a
different layout) and are translated into the tables and columns GCBM's configs query
(``variables.json``, ``spinup.json``, GrowthCurveTransform, TransitionRuleTransform).

Layout of this module (pure functions with I/O twins):

- ``read_growth_curves(path)`` / ``parse_growth_curves(frame)`` -> ``GrowthCurveTable``
- ``read_transitions(path, names)`` / ``parse_transitions(frame, names)`` -> ``list[Transition]``
- ``read_cbm_defaults(path)`` -> raw libcbm tables; ``translate_cbm_defaults(raw)`` -> GCBM tables
- ``gcbm_input_tables(defaults, curves, ...)`` -> every table of gcbm_input.db (pure)
- ``write_gcbm_input_db(tables, out)`` writes them atomically
- ``build_gcbm_input_db(csv, out, ...)`` does all of the above (the CLI and stages call it)
"""

from __future__ import annotations

import difflib
import math
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from flintcloud.atomic import atomic_path
from flintcloud.errors import DatabaseError
from flintcloud.jsonfile import load_json
from flintcloud.inputdb.reader import MAX_PLAUSIBLE_VOLUME
from flintcloud.sqlite_ro import connect_ro

WILDCARD = "?"
SPECIES_COLUMN_NAMES = ("AIDBSPP", "species", "aidb_species", "species_name")
TRANSITION_TYPES = ("absolute", "relative", "yield")
_CATEGORY_IDS = {"A": 1, "N": 2}  # disturbance_category rows of gcbm_input_fixed_rows.sql
# libcbm land types that have no land class of their own in GCBM's 7-class table.
# The AIDB that Recliner2GCBM reads sends peat-mining deforestation to settlements.
_LAND_TYPE_FALLBACK = {"WLP": "SL"}
_LOCALE = "en-CA"

# The tables of gcbm_input.db in the order they are filled (parents before children).
TABLE_ORDER = (
    "admin_region", "eco_region", "stump_parameter", "turnover_parameter", "admin_boundary",
    "eco_boundary", "land_class", "disturbance_category", "disturbance_type", "spinup_parameter",
    "spatial_unit", "pool", "dom_pool", "decay_parameter", "disturbance_matrix",
    "disturbance_matrix_value", "disturbance_matrix_association", "forest_type", "genus", "species",
    "root_parameter", "vol_to_bio_factor", "vol_to_bio_factor_association",
    "turnover_parameter_association", "growth_multiplier_series", "growth_multiplier_value",
    "growth_multiplier_series_association", "classifier", "classifier_value", "growth_curve",
    "growth_curve_classifier_value", "growth_curve_component", "growth_curve_component_value",
    "transition_type", "transition", "transition_classifier_value", "transition_rule",
    "transition_rule_classifier_value", "accounting_rule_type", "accounting_rule_set", "accounting_rule",
)
# Filled by gcbm_input_fixed_rows.sql, not from DataFrames.
_FIXED_TABLES = ("land_class", "disturbance_category", "transition_type", "accounting_rule_type")


# ---------------------------------------------------------------------------
# Growth curves (Recliner2GCBM's "GrowthCurves" sheet)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GrowthCurveRow:
    """One row of the growth-curve table: a classifier set, a species, volume by age."""

    classifiers: tuple[str, ...]
    species: str
    ages: tuple[int, ...]
    volumes: tuple[float, ...]


@dataclass(frozen=True)
class GrowthCurveTable:
    classifier_names: list[str]
    rows: list[GrowthCurveRow]
    source: str = "<growth curves>"


@dataclass(frozen=True)
class Transition:
    """A transition (Recliner2GCBM's TransitionRules sheet): what a stand becomes after a disturbance."""

    name: str
    age: int
    regen_delay: int
    classifiers: tuple[str, ...]  # one value per classifier, WILDCARD = keep
    reset_type: str = "absolute"
    # A transition rule: apply this transition when `disturbance_type` hits a stand matching
    # `rule_classifiers` (one value per classifier, WILDCARD = any). None = no rule.
    disturbance_type: str | None = None
    rule_classifiers: tuple[str, ...] | None = None


def _close_matches(value: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    candidates = sorted(set(candidates))
    lower = value.lower()
    contains = [c for c in candidates if lower and (lower in c.lower() or c.lower() in lower)]
    fuzzy = difflib.get_close_matches(value, candidates, n=n, cutoff=0.5)
    fuzzy += difflib.get_close_matches(lower, [c.lower() for c in candidates], n=n, cutoff=0.5)
    by_lower = {c.lower(): c for c in candidates}
    out: list[str] = []
    for c in fuzzy + contains:
        c = by_lower.get(c, c)
        if c not in out:
            out.append(c)
    return out[:n]


def _suggest(value: str, candidates: Iterable[str]) -> str:
    close = _close_matches(value, candidates)
    return f"; close matches: {', '.join(repr(c) for c in close)}" if close else "; no close match"


def _as_age(header: str) -> int | None:
    text = str(header).strip()
    try:
        age = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        age = int(number)
    return age


def parse_growth_curves(
    frame: pd.DataFrame,
    *,
    classifiers: Sequence[str] | None = None,
    species_column: str | None = None,
    source: str = "<growth curves>",
) -> GrowthCurveTable:
    """Read a Recliner2GCBM-style growth-curve table held as strings.

    Columns: the classifier columns, a species column (AIDB species name, e.g. ``AIDBSPP``)
    and one column per age whose header is the age (``0, 1, 2, ...`` or ``0, 10, 20, ...``)
    holding merchantable volume (m3/ha). Without ``classifiers``, every other column that
    comes before the species column is a classifier.
    """
    columns = [str(c).strip() for c in frame.columns]
    frame = frame.copy()
    frame.columns = columns
    if species_column is None:
        lowered = {c.lower(): c for c in columns}
        found = [lowered[n.lower()] for n in SPECIES_COLUMN_NAMES if n.lower() in lowered]
        if not found:
            raise DatabaseError(
                f"{source}: no species column; expected one named {', '.join(SPECIES_COLUMN_NAMES)} "
                f"(or pass species_column); columns are {columns}"
            )
        species_column = found[0]
    elif species_column not in columns:
        raise DatabaseError(
            f"{source}: species column {species_column!r} not found{_suggest(species_column, columns)}"
        )
    age_columns = [(c, _as_age(c)) for c in columns]
    age_columns = [(c, a) for c, a in age_columns if a is not None and c != species_column]
    if not age_columns:
        raise DatabaseError(f"{source}: no age columns (headers that are integer ages, e.g. 0, 10, 20)")
    negative = [c for c, a in age_columns if a < 0]
    if negative:
        raise DatabaseError(f"{source}: negative age column(s) {negative}")
    ages = [a for _, a in age_columns]
    if len(set(ages)) != len(ages):
        raise DatabaseError(f"{source}: age columns repeat an age: {[c for c, _ in age_columns]}")
    age_names = {c for c, _ in age_columns}
    if classifiers is None:
        stop = columns.index(species_column)
        classifiers = [c for c in columns[:stop] if c not in age_names]
    else:
        classifiers = [str(c).strip() for c in classifiers]
        for name in classifiers:
            if name not in columns:
                raise DatabaseError(f"{source}: classifier column {name!r} not found{_suggest(name, columns)}")
            if name == species_column or name in age_names:
                raise DatabaseError(f"{source}: column {name!r} cannot be both a classifier and species/age")
    if not classifiers:
        raise DatabaseError(f"{source}: no classifier columns before the species column {species_column!r}")
    if len(set(classifiers)) != len(classifiers):
        raise DatabaseError(f"{source}: classifier columns repeat: {list(classifiers)}")
    order = sorted(range(len(age_columns)), key=lambda i: age_columns[i][1])
    age_columns = [age_columns[i] for i in order]

    rows: list[GrowthCurveRow] = []
    for i, record in enumerate(frame.to_dict("records")):
        line = i + 2  # header is line 1
        values = []
        for name in classifiers:
            value = record[name]
            value = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
            if not value:
                raise DatabaseError(f"{source} line {line}: empty value in classifier column {name!r}")
            values.append(value)
        species = record[species_column]
        species = "" if species is None or (isinstance(species, float) and pd.isna(species)) else str(species).strip()
        if not species:
            raise DatabaseError(f"{source} line {line}: empty species in column {species_column!r}")
        volumes = []
        for col, age in age_columns:
            raw = record[col]
            try:
                volume = float(raw)
            except (TypeError, ValueError):
                raise DatabaseError(
                    f"{source} line {line}: volume at age {age} (column {col!r}) is {raw!r}, expected a number"
                ) from None
            if not math.isfinite(volume) or volume < 0 or volume > MAX_PLAUSIBLE_VOLUME:
                raise DatabaseError(
                    f"{source} line {line}: volume at age {age} (column {col!r}) is {raw!r}, "
                    f"expected a finite number 0..{MAX_PLAUSIBLE_VOLUME:g} (m3/ha)"
                )
            volumes.append(volume)
        rows.append(GrowthCurveRow(tuple(values), species, tuple(a for _, a in age_columns), tuple(volumes)))
    if not rows:
        raise DatabaseError(f"{source}: no growth curves (the table has a header but no rows)")
    return GrowthCurveTable(list(classifiers), rows, source)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DatabaseError(f"{what} file not found: {str(path)!r}")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatabaseError(f"{what} file {str(path)!r} is not a readable CSV: {err}") from err


def read_growth_curves(
    path: str | os.PathLike,
    *,
    classifiers: Sequence[str] | None = None,
    species_column: str | None = None,
) -> GrowthCurveTable:
    """Read a growth-curve CSV (see ``parse_growth_curves``)."""
    path = Path(path)
    return parse_growth_curves(
        _read_csv(path, "growth curves"), classifiers=classifiers, species_column=species_column, source=str(path)
    )


def parse_transitions(
    frame: pd.DataFrame, classifier_names: Sequence[str], *, source: str = "<transitions>"
) -> list[Transition]:
    """Transitions table: columns ``name, age, delay`` (+ optional ``type``) and one column per classifier.

    A classifier column may be missing (= wildcard ``?``: the value is kept).
    """
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    lowered = {c.lower(): c for c in frame.columns}
    for required in ("name", "age", "delay"):
        if required not in lowered:
            raise DatabaseError(f"{source}: missing column {required!r}; columns are {list(frame.columns)}")
    out = []
    for i, record in enumerate(frame.to_dict("records")):
        line = i + 2
        name = str(record[lowered["name"]]).strip()
        try:
            age = int(str(record[lowered["age"]]).strip())
            delay = int(str(record[lowered["delay"]]).strip() or 0)
        except ValueError:
            raise DatabaseError(f"{source} line {line}: age and delay must be integers") from None
        reset = str(record.get(lowered.get("type", ""), "absolute") or "absolute").strip().lower()
        if reset not in TRANSITION_TYPES:
            raise DatabaseError(f"{source} line {line}: type {reset!r} is not one of {TRANSITION_TYPES}")
        values = []
        for cname in classifier_names:
            value = str(record.get(cname, WILDCARD) or WILDCARD).strip() or WILDCARD
            values.append(value)
        out.append(Transition(name or str(i + 1), age, delay, tuple(values), reset))
    return out


def read_transitions(path: str | os.PathLike, classifier_names: Sequence[str]) -> list[Transition]:
    path = Path(path)
    return parse_transitions(_read_csv(path, "transitions"), classifier_names, source=str(path))


@dataclass(frozen=True)
class ReclinerInputs:
    """What a Recliner2GCBM project config (recliner2gcbm_config.json) asks for."""

    curves: GrowthCurveTable
    transitions: list[Transition]
    disturbance_categories: dict[str, str]  # disturbance type name -> 'A' | 'N'


def _column(spec: Mapping, key: str, where: str, *, optional: bool = False) -> int | None:
    value = spec.get(key)
    if value is None:
        if optional:
            return None
        raise DatabaseError(f"{where}: {key!r} is missing (expected a 0-based column number)")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DatabaseError(f"{where}: {key!r} is {value!r}, expected a 0-based column number") from None
    if number < 0:
        raise DatabaseError(f"{where}: {key!r} is {number}, expected a 0-based column number")
    return number


def _sheet(base_dir: Path, spec: Mapping, where: str) -> pd.DataFrame:
    """A CSV sheet of a Recliner2GCBM config (`Path`, `Header`), as strings with positional columns."""
    raw = spec.get("Path")
    if not raw:
        raise DatabaseError(f"{where}: 'Path' is missing")
    path = (base_dir / str(raw).replace("\\", "/")).resolve()
    if path.suffix.lower() in (".xls", ".xlsx", ".xlsm", ".mdb", ".accdb"):
        raise DatabaseError(f"{where}: {str(path)!r} is a spreadsheet/Access file; export the sheet as CSV and "
                            "point 'Path' at the .csv")
    if not path.is_file():
        raise DatabaseError(f"{where}: file not found: {str(path)!r}")
    header = 0 if spec.get("Header", True) else None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", header=header)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatabaseError(f"{where}: {str(path)!r} is not a readable CSV: {err}") from err
    return frame


def _pick(frame: pd.DataFrame, col: int, where: str, what: str) -> pd.Series:
    if col >= frame.shape[1]:
        raise DatabaseError(f"{where}: {what} column {col} is beyond the sheet's {frame.shape[1]} columns")
    return frame.iloc[:, col]


def parse_recliner_config(doc: Mapping, base_dir: str | os.PathLike, *, source: str = "<recliner config>") -> ReclinerInputs:
    """Read the growth curves, transition rules and disturbance categories a Recliner2GCBM config names.

    Column numbers are 0-based, as Recliner2GCBM writes them; ages are
    ``(column - IncrementStartCol) * Interval`` for IncrementStartCol..IncrementEndCol. Sheets must be CSV.
    """
    base_dir = Path(base_dir)
    gc = doc.get("GrowthCurves")
    if not isinstance(gc, Mapping):
        raise DatabaseError(f"{source}: no 'GrowthCurves' section")
    where = f"{source} GrowthCurves"
    frame = _sheet(base_dir, gc, where)
    classifier_specs = gc.get("Classifiers") or []
    if not classifier_specs:
        raise DatabaseError(f"{where}: 'Classifiers' lists no classifier columns")
    names = [str(c.get("Name")) for c in classifier_specs]
    order = [str(c.get("Name")) for c in doc.get("ClassifierSet") or []]
    if sorted(order) == sorted(names):
        names_ordered = order
    else:
        names_ordered = names
    columns = {str(c.get("Name")): _column(c, "Column", f"{where} classifier {c.get('Name')!r}") for c in classifier_specs}
    species_col = _column(gc, "SpeciesCol", where)
    start = _column(gc, "IncrementStartCol", where)
    end = _column(gc, "IncrementEndCol", where)
    interval = int(gc.get("Interval") or 1)
    if end < start or interval < 1:
        raise DatabaseError(f"{where}: IncrementStartCol {start}..IncrementEndCol {end} by Interval {interval} is empty")
    table = {name: _pick(frame, columns[name], where, f"classifier {name!r}") for name in names_ordered}
    table["AIDBSPP"] = _pick(frame, species_col, where, "species")
    for col in range(start, end + 1):
        table[str((col - start) * interval)] = _pick(frame, col, where, "volume")
    sheet = pd.DataFrame(table)
    curves = parse_growth_curves(sheet, classifiers=names_ordered, species_column="AIDBSPP",
                                 source=str((base_dir / str(gc["Path"])).resolve()))

    transitions: list[Transition] = []
    tr = doc.get("TransitionRules")
    if isinstance(tr, Mapping) and tr.get("Path"):
        where = f"{source} TransitionRules"
        sheet = _sheet(base_dir, tr, where)
        name_col = _column(tr, "NameCol", where)
        age_col = _column(tr, "AgeCol", where)
        delay_col = _column(tr, "DelayCol", where)
        type_col = _column(tr, "TypeCol", where, optional=True)
        rule_col = _column(tr, "RuleDisturbanceTypeCol", where, optional=True)
        cls = {str(c.get("Name")): _column(c, "Column", where, optional=True) for c in tr.get("Classifiers") or []}
        rule_cls = {str(c.get("Name")): _column(c, "Column", where, optional=True)
                    for c in tr.get("RuleClassifiers") or []}
        for extra in sorted((set(cls) | set(rule_cls)) - set(names_ordered)):
            raise DatabaseError(f"{where}: classifier {extra!r} is not a growth-curve classifier {names_ordered}")

        def cell(row, col, what) -> str:
            if col is None:
                return WILDCARD
            if col >= len(row):
                raise DatabaseError(f"{where}: {what} column {col} is beyond the sheet's {len(row)} columns")
            return str(row[col]).strip() or WILDCARD

        for i, row in enumerate(sheet.itertuples(index=False, name=None)):
            line = i + (2 if tr.get("Header", True) else 1)
            try:
                age, delay = int(cell(row, age_col, "age")), int(cell(row, delay_col, "delay"))
            except ValueError:
                raise DatabaseError(f"{where} line {line}: age and delay must be integers") from None
            reset = cell(row, type_col, "type").lower() if type_col is not None else "absolute"
            if reset not in TRANSITION_TYPES:
                raise DatabaseError(f"{where} line {line}: type {reset!r} is not one of {TRANSITION_TYPES}")
            dist = cell(row, rule_col, "disturbance type") if rule_col is not None else None
            transitions.append(Transition(
                cell(row, name_col, "name"), age, delay,
                tuple(cell(row, cls.get(n), n) for n in names_ordered), reset,
                None if dist in (None, WILDCARD) else dist,
                tuple(cell(row, rule_cls.get(n), n) for n in names_ordered) if rule_col is not None else None,
            ))

    categories = {str(k): str(v).strip().upper() for k, v in (doc.get("DisturbanceTypeCategories") or {}).items()}
    bad = {k: v for k, v in categories.items() if v not in _CATEGORY_IDS}
    if bad:
        raise DatabaseError(f"{source} DisturbanceTypeCategories: categories {bad} are not 'A' or 'N'")
    return ReclinerInputs(curves, transitions, categories)


def read_recliner_config(path: str | os.PathLike) -> ReclinerInputs:
    """Read a recliner2gcbm_config.json and the CSV sheets it names (paths relative to its folder)."""
    path = Path(path)
    doc = load_json(path, DatabaseError, "Recliner2GCBM config")
    if not isinstance(doc, dict):
        raise DatabaseError(f"Recliner2GCBM config {str(path)!r} must be a JSON object")
    return parse_recliner_config(doc, path.parent, source=str(path))


# ---------------------------------------------------------------------------
# libcbm's cbm_defaults -> GCBM's tables
# ---------------------------------------------------------------------------

_RAW_TABLES = (
    "locale", "pool", "dom_pool", "decay_parameter", "admin_boundary", "admin_boundary_tr", "eco_boundary",
    "eco_boundary_tr", "spatial_unit", "spinup_parameter", "disturbance_type", "disturbance_type_tr",
    "land_type", "disturbance_matrix", "disturbance_matrix_tr", "disturbance_matrix_value",
    "disturbance_matrix_association", "forest_type", "forest_type_tr", "genus", "genus_tr", "species",
    "species_tr", "vol_to_bio_factor", "vol_to_bio_species", "vol_to_bio_genus", "vol_to_bio_forest_type",
    "root_parameter", "stump_parameter", "turnover_parameter", "growth_multiplier_series",
    "growth_multiplier_value",
)


def default_cbm_defaults_path() -> Path:
    """libcbm's bundled cbm_defaults database."""
    from libcbm import resources as libcbm_resources

    return Path(libcbm_resources.get_cbm_defaults_path())


def read_cbm_defaults(path: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """Read the tables of a libcbm cbm_defaults database (I/O twin of ``translate_cbm_defaults``)."""
    path = Path(path) if path is not None else default_cbm_defaults_path()
    if not path.is_file():
        raise DatabaseError(f"cbm_defaults database not found: {str(path)!r}")
    try:
        with connect_ro(path) as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = [t for t in _RAW_TABLES if t not in present]
            if missing:
                raise DatabaseError(f"{str(path)!r} is not a cbm_defaults database: missing tables {missing}")
            return {t: pd.read_sql_query(f"SELECT * FROM {t}", conn) for t in _RAW_TABLES}
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"cannot read cbm_defaults database {str(path)!r}: {err}") from err


def _tr(raw: Mapping[str, pd.DataFrame], table: str, key: str, locale_id: int, column: str = "name") -> pd.Series:
    tr = raw[f"{table}_tr"]
    tr = tr[tr["locale_id"] == locale_id]
    return tr.set_index(key)[column]


def _dedupe(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Unique rows of `frame[columns]` numbered 1.. in first-seen order, and old-index -> new id."""
    keys = frame[columns].apply(tuple, axis=1)
    unique = list(dict.fromkeys(keys))
    new_id = {k: i + 1 for i, k in enumerate(unique)}
    table = pd.DataFrame(unique, columns=columns)
    table.insert(0, "id", range(1, len(unique) + 1))
    return table, keys.map(new_id)


def translate_cbm_defaults(raw: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Translate libcbm's cbm_defaults tables into gcbm_input.db's CBM-CFS3 default tables.

    Ids: spatial units and disturbance types are renumbered 1.. in libcbm id order (as
    Recliner2GCBM does); ``disturbance_type.code`` keeps libcbm's (= CBM-CFS3's) id;
    disturbance matrices keep libcbm's id, their name is ``<id>_<name>`` (Recliner2GCBM's form);
    parameter tables with a UNIQUE constraint (stump, turnover, vol-to-bio) are de-duplicated.
    """
    locales = raw["locale"].set_index("code")["id"]
    if _LOCALE not in locales.index:
        raise DatabaseError(f"cbm_defaults has no {_LOCALE!r} locale (has {list(locales.index)})")
    loc = int(locales[_LOCALE])
    out: dict[str, pd.DataFrame] = {}

    # Pools: libcbm codes are GCBM's pool names; GCBM adds Atmosphere, BlackCarbon, Peat.
    pool = raw["pool"][raw["pool"]["code"] != "Input"].rename(columns={"code": "name"})[["id", "name"]]
    extra = [n for n in ("Atmosphere", "BlackCarbon", "Peat") if n not in set(pool["name"])]
    pool = pd.concat(
        [pool, pd.DataFrame({"id": range(int(pool["id"].max()) + 1, int(pool["id"].max()) + 1 + len(extra)),
                             "name": extra})],
        ignore_index=True,
    )
    out["pool"] = pool
    out["dom_pool"] = raw["dom_pool"][["id", "pool_id"]].copy()
    out["decay_parameter"] = raw["decay_parameter"][
        ["dom_pool_id", "base_decay_rate", "reference_temp", "q10", "prop_to_atmosphere", "max_rate"]
    ].copy()

    # Forest types, genera, species (names from the en-CA translations).
    ft = raw["forest_type"].copy()
    ft["name"] = ft["id"].map(_tr(raw, "forest_type", "forest_type_id", loc))
    ft = ft.sort_values("id").reset_index(drop=True)
    ft_new = {int(old): i + 1 for i, old in enumerate(ft["id"])}
    out["forest_type"] = pd.DataFrame({"id": range(1, len(ft) + 1), "name": ft["name"]})
    ft_name = dict(zip(out["forest_type"]["id"], out["forest_type"]["name"]))
    genus = raw["genus"].copy()
    genus["name"] = genus["id"].map(_tr(raw, "genus", "genus_id", loc))
    out["genus"] = genus[["id", "name"]]
    species = raw["species"].copy()
    species["name"] = species["id"].map(_tr(raw, "species", "species_id", loc))
    species["forest_type_id"] = species["forest_type_id"].map(ft_new)
    out["species"] = species[["id", "name", "forest_type_id", "genus_id"]]

    # Stump parameters (per admin boundary), turnover parameters (per eco boundary, split sw/hw).
    stump_cols = ["sw_top_proportion", "sw_stump_proportion", "hw_top_proportion", "hw_stump_proportion"]
    stump_raw = raw["stump_parameter"].set_index("id")
    stump, stump_id = _dedupe(stump_raw.reset_index(), stump_cols)
    stump_map = dict(zip(stump_raw.index, stump_id))
    out["stump_parameter"] = stump

    tp = raw["turnover_parameter"].set_index("id")
    rows = []
    for tp_id, r in tp.iterrows():
        common = dict(
            stem=r["stem_turnover"], coarse_root=r["coarse_root"], fine_root=r["fine_root"],
            branch_snag_split=r["branch_snag_split"], coarse_ag_split=r["coarse_ag_split"],
            fine_ag_split=r["fine_ag_split"],
        )
        for kind, prefix in (("Softwood", "sw"), ("Hardwood", "hw")):
            rows.append(dict(
                source_id=tp_id, kind=kind, foliage=r[f"{prefix}_foliage"], branch=r[f"{prefix}_branch"],
                stem_snag=r[f"{prefix}_stem_snag"], branch_snag=r[f"{prefix}_branch_snag"], **common,
            ))
    tp_rows = pd.DataFrame(rows)
    tp_cols = ["foliage", "stem", "branch", "stem_snag", "branch_snag", "coarse_root", "fine_root",
               "branch_snag_split", "coarse_ag_split", "fine_ag_split"]
    turnover, tp_new = _dedupe(tp_rows, tp_cols)
    tp_rows["new_id"] = tp_new
    out["turnover_parameter"] = turnover
    tp_lookup = {(r.source_id, r.kind): int(r.new_id) for r in tp_rows.itertuples()}

    # Boundaries and regions.
    admin = raw["admin_boundary"].copy()
    admin["name"] = admin["id"].map(_tr(raw, "admin_boundary", "admin_boundary_id", loc))
    admin["admin_region_id"] = admin["id"]
    admin["stump_parameter_id"] = admin["stump_parameter_id"].map(stump_map)
    out["admin_region"] = admin[["id", "name"]].copy()
    out["admin_boundary"] = admin[["id", "name", "admin_region_id", "stump_parameter_id"]]
    eco = raw["eco_boundary"].copy()
    eco["name"] = eco["id"].map(_tr(raw, "eco_boundary", "eco_boundary_id", loc))
    eco["eco_region_id"] = eco["id"]
    source_tp = eco["turnover_parameter_id"]
    eco["turnover_parameter_id"] = [tp_lookup[(t, "Softwood")] for t in source_tp]
    out["eco_region"] = eco[["id", "name"]].copy()
    out["eco_boundary"] = eco[["id", "name", "eco_region_id", "turnover_parameter_id"]]

    # Turnover parameters per genus and eco boundary, by the genus' forest type.
    sp_ft = species.assign(ft=species["forest_type_id"].map(ft_name))
    # A genus gets turnover parameters when all its species are softwood, or all hardwood
    # (as in Recliner2GCBM's output: "Missing Value" and "Not applicable" get none).
    kinds = sp_ft.groupby("genus_id")["ft"].agg(lambda s: set(s))
    genus_kind = pd.Series(
        {g: next(iter(k)) for g, k in kinds.items() if len(k) == 1 and k <= {"Softwood", "Hardwood"}}
    )
    tpa = [
        dict(genus_id=int(g), eco_boundary_id=int(e), turnover_parameter_id=tp_lookup[(t, kind)])
        for g, kind in genus_kind.items()
        for e, t in zip(raw["eco_boundary"]["id"], source_tp)
    ]
    out["turnover_parameter_association"] = pd.DataFrame(tpa)

    # Disturbance types: renumbered 1.. in libcbm id order; code = libcbm id.
    dt = raw["disturbance_type"].sort_values("id").reset_index(drop=True)
    dt_new = {int(old): i + 1 for i, old in enumerate(dt["id"])}
    land_type = raw["land_type"].set_index("id")["land_type"]
    lc_codes = {"FL": 1, "UFL": 2, "CL": 3, "GL": 4, "WL": 5, "SL": 6, "OL": 7}

    def land_class(lt) -> object:
        if pd.isna(lt):
            return None
        code = land_type.get(int(lt))
        code = _LAND_TYPE_FALLBACK.get(code, code)
        if code not in lc_codes:
            raise DatabaseError(f"cbm_defaults land_type {lt!r} ({code!r}) has no GCBM land class")
        return lc_codes[code]

    out["disturbance_type"] = pd.DataFrame({
        "id": [dt_new[int(i)] for i in dt["id"]],
        "disturbance_category_id": 1,
        "transition_land_class_id": pd.array([land_class(v) for v in dt["land_type_id"]], dtype="Int64"),
        "name": dt["id"].map(_tr(raw, "disturbance_type", "disturbance_type_id", loc)).values,
        "code": dt["id"].astype(int).values,
    })
    names = out["disturbance_type"].set_index("code")["name"]
    if "Wildfire" not in set(names):
        raise DatabaseError("cbm_defaults has no 'Wildfire' disturbance type (the spinup's historic disturbance)")
    wildfire = int(out["disturbance_type"].loc[out["disturbance_type"]["name"] == "Wildfire", "id"].iloc[0])

    # Spatial units (renumbered) and spinup parameters (one per spatial unit in libcbm).
    spu = raw["spatial_unit"].sort_values("id").reset_index(drop=True)
    spu_new = {int(old): i + 1 for i, old in enumerate(spu["id"])}
    out["spatial_unit"] = pd.DataFrame({
        "id": [spu_new[int(i)] for i in spu["id"]],
        "admin_boundary_id": spu["admin_boundary_id"].values,
        "eco_boundary_id": spu["eco_boundary_id"].values,
        "spinup_parameter_id": spu["spinup_parameter_id"].values,
    })
    sp = raw["spinup_parameter"]
    out["spinup_parameter"] = pd.DataFrame({
        "id": sp["id"].values,
        "historic_disturbance_type_id": wildfire,
        "return_interval": sp["return_interval"].values,
        "max_rotations": sp["max_rotations"].values,
        "mean_annual_temperature": sp["historic_mean_temperature"].astype(float).values,
    })

    # Disturbance matrices.
    dm = raw["disturbance_matrix"][["id"]].copy()
    dm_name = _tr(raw, "disturbance_matrix", "disturbance_matrix_id", loc)
    dm["name"] = [f"{i}_{dm_name.get(i, 'Disturbance matrix')}" for i in dm["id"]]
    out["disturbance_matrix"] = dm
    out["disturbance_matrix_value"] = raw["disturbance_matrix_value"][
        ["disturbance_matrix_id", "source_pool_id", "sink_pool_id", "proportion"]
    ].copy()
    dma = raw["disturbance_matrix_association"].copy()
    dma["spatial_unit_id"] = dma["spatial_unit_id"].map(spu_new)
    dma["disturbance_type_id"] = dma["disturbance_type_id"].map(dt_new)
    out["disturbance_matrix_association"] = dma[["spatial_unit_id", "disturbance_type_id", "disturbance_matrix_id"]]

    # Volume-to-biomass: resolve each (spatial unit, species) by species, then genus, then forest type.
    out["root_parameter"] = raw["root_parameter"][["id", "hw_a", "sw_a", "hw_b", "frp_a", "frp_b", "frp_c"]].copy()
    pairs = raw["spatial_unit"][["id", "root_parameter_id"]].rename(columns={"id": "spatial_unit_id"}).merge(
        raw["species"][["id", "genus_id", "forest_type_id"]].rename(columns={"id": "species_id"}), how="cross"
    )
    factor = pd.Series(pd.NA, index=pairs.index, dtype="Int64")
    for table, key in (("vol_to_bio_species", "species_id"), ("vol_to_bio_genus", "genus_id"),
                       ("vol_to_bio_forest_type", "forest_type_id")):
        hit = pairs[["spatial_unit_id", key]].merge(
            raw[table][["spatial_unit_id", key, "vol_to_bio_factor_id"]], how="left", on=["spatial_unit_id", key]
        )["vol_to_bio_factor_id"]
        factor = factor.fillna(pd.Series(hit.values, index=pairs.index).astype("Int64"))
    found = factor.notna()
    assoc_df = pd.DataFrame({
        "spatial_unit_id": pairs.loc[found, "spatial_unit_id"].map(spu_new).astype(int).values,
        "species_id": pairs.loc[found, "species_id"].astype(int).values,
        "source_factor": factor[found].astype(int).values,
        "root_parameter_id": pairs.loc[found, "root_parameter_id"].astype(int).values,
    }).sort_values(["spatial_unit_id", "species_id"], kind="stable").reset_index(drop=True)
    vtb = raw["vol_to_bio_factor"].set_index("id")
    vtb_cols = [c for c in vtb.columns]
    used = vtb.loc[sorted(set(assoc_df["source_factor"]))].reset_index()
    factor_table, factor_new = _dedupe(used, vtb_cols)
    factor_map = dict(zip(used["id"], factor_new))
    assoc_df["vol_to_bio_factor_id"] = assoc_df["source_factor"].map(factor_map)
    out["vol_to_bio_factor"] = factor_table
    out["vol_to_bio_factor_association"] = assoc_df[
        ["spatial_unit_id", "species_id", "vol_to_bio_factor_id", "root_parameter_id"]
    ]

    # Growth multipliers: one series per disturbance type in libcbm; GCBM names it after it.
    gms = raw["growth_multiplier_series"]
    out["growth_multiplier_series"] = pd.DataFrame({
        "id": gms["id"].values, "description": [names[int(d)] for d in gms["disturbance_type_id"]],
    })
    out["growth_multiplier_series_association"] = pd.DataFrame({
        "disturbance_type_id": [dt_new[int(d)] for d in gms["disturbance_type_id"]],
        "growth_multiplier_series_id": gms["id"].values,
    })
    gmv = raw["growth_multiplier_value"].copy()
    gmv["forest_type_id"] = gmv["forest_type_id"].map(ft_new)
    out["growth_multiplier_value"] = gmv[["growth_multiplier_series_id", "forest_type_id", "time_step", "value"]]
    return out


# ---------------------------------------------------------------------------
# Project tables and the whole database
# ---------------------------------------------------------------------------

def _spatial_unit_exists(defaults: Mapping[str, pd.DataFrame], admin: str | None, eco: str | None) -> None:
    admins = list(defaults["admin_boundary"]["name"])
    ecos = list(defaults["eco_boundary"]["name"])
    if admin is not None and admin not in admins:
        raise DatabaseError(f"admin boundary {admin!r} is not in the CBM-CFS3 defaults{_suggest(admin, admins)}")
    if eco is not None and eco not in ecos:
        raise DatabaseError(f"eco boundary {eco!r} is not in the CBM-CFS3 defaults{_suggest(eco, ecos)}")
    if admin is not None and eco is not None:
        a_id = int(defaults["admin_boundary"].set_index("name").loc[admin, "id"])
        e_id = int(defaults["eco_boundary"].set_index("name").loc[eco, "id"])
        spu = defaults["spatial_unit"]
        if not ((spu["admin_boundary_id"] == a_id) & (spu["eco_boundary_id"] == e_id)).any():
            eco_names = defaults["eco_boundary"].set_index("id")["name"]
            valid = sorted(eco_names[i] for i in spu.loc[spu["admin_boundary_id"] == a_id, "eco_boundary_id"])
            raise DatabaseError(
                f"no spatial unit for admin boundary {admin!r} and eco boundary {eco!r}; "
                f"eco boundaries of {admin!r}: {', '.join(repr(v) for v in valid)}"
            )


def gcbm_input_tables(
    defaults: Mapping[str, pd.DataFrame],
    curves: GrowthCurveTable,
    transitions: Sequence[Transition] = (),
    *,
    admin_boundary: str | None = None,
    eco_boundary: str | None = None,
    disturbance_categories: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of gcbm_input.db: the translated defaults plus the project's classifiers,
    growth curves, transitions and transition rules (pure). Unknown species / boundaries /
    disturbance types raise DatabaseError.

    `disturbance_categories` maps disturbance type names to 'A' (anthropogenic, the default) or 'N'.
    """
    _spatial_unit_exists(defaults, admin_boundary, eco_boundary)
    tables = {k: v.copy() for k, v in defaults.items()}
    names = curves.classifier_names
    dt_names = list(defaults["disturbance_type"]["name"])
    dt_id = dict(zip(defaults["disturbance_type"]["name"], defaults["disturbance_type"]["id"]))

    def known_type(name: str, where: str) -> int:
        if name not in dt_id:
            raise DatabaseError(f"{where}: disturbance type {name!r} is not in the CBM-CFS3 defaults{_suggest(name, dt_names)}")
        return int(dt_id[name])

    if disturbance_categories:
        dt = tables["disturbance_type"]
        # Recliner2GCBM configs list every type of their AIDB; names the defaults lack set nothing.
        for name, code in disturbance_categories.items():
            if code not in _CATEGORY_IDS:
                raise DatabaseError(f"disturbance category {code!r} of {name!r} is not 'A' or 'N'")
            dt.loc[dt["name"] == name, "disturbance_category_id"] = _CATEGORY_IDS[code]

    # Species lookup: exact, then case-insensitive.
    species = defaults["species"]
    exact = dict(zip(species["name"], species["id"]))
    folded = {n.lower(): i for n, i in exact.items()}
    species_ids = {}
    for row in curves.rows:
        if row.species in species_ids:
            continue
        sid = exact.get(row.species, folded.get(row.species.lower()))
        if sid is None:
            raise DatabaseError(
                f"{curves.source}: species {row.species!r} is not a CBM-CFS3 (AIDB) species"
                f"{_suggest(row.species, exact)}"
            )
        species_ids[row.species] = int(sid)

    # Classifiers and their values: first-seen order, then the wildcard.
    seen: list[dict[str, None]] = [dict() for _ in names]
    rule_values = [t.rule_classifiers for t in transitions if t.rule_classifiers is not None]
    for values in [r.classifiers for r in curves.rows] + [t.classifiers for t in transitions] + rule_values:
        if len(values) != len(names):
            raise DatabaseError(f"transition classifier values {values} do not match classifiers {names}")
        for i, v in enumerate(values):
            if v != WILDCARD:
                seen[i][v] = None
    cv_rows, cv_id = [], {}
    for ci, cname in enumerate(names):
        for value in list(seen[ci]) + [WILDCARD]:
            cv_id[(ci, value)] = len(cv_rows) + 1
            cv_rows.append((len(cv_rows) + 1, ci + 1, value, value))
    tables["classifier"] = pd.DataFrame({"id": range(1, len(names) + 1), "name": names})
    tables["classifier_value"] = pd.DataFrame(cv_rows, columns=["id", "classifier_id", "value", "description"])

    # Growth curves: one per classifier set; one component per species in that set.
    gc_ids: dict[tuple[str, ...], int] = {}
    gccv, gcc, gcv = [], [], []
    for row in curves.rows:
        gid = gc_ids.get(row.classifiers)
        if gid is None:
            gid = gc_ids[row.classifiers] = len(gc_ids) + 1
            gccv.extend((gid, cv_id[(ci, v)]) for ci, v in enumerate(row.classifiers))
        sid = species_ids[row.species]
        if any(g == gid and s == sid for _, g, s in gcc):
            raise DatabaseError(
                f"{curves.source}: classifier set {','.join(row.classifiers)!r} has species {row.species!r} twice"
            )
        comp = len(gcc) + 1
        gcc.append((comp, gid, sid))
        gcv.extend((comp, age, vol) for age, vol in zip(row.ages, row.volumes))
    tables["growth_curve"] = pd.DataFrame(
        {"id": list(gc_ids.values()), "description": [",".join(k) for k in gc_ids]}
    )
    tables["growth_curve_classifier_value"] = pd.DataFrame(gccv, columns=["growth_curve_id", "classifier_value_id"])
    tables["growth_curve_component"] = pd.DataFrame(gcc, columns=["id", "growth_curve_id", "species_id"])
    tables["growth_curve_component_value"] = pd.DataFrame(
        gcv, columns=["growth_curve_component_id", "age", "merchantable_volume"]
    )

    # Transitions.
    type_id = {n: i + 1 for i, n in enumerate(TRANSITION_TYPES)}
    tables["transition"] = pd.DataFrame(
        [(i + 1, type_id[t.reset_type], t.age, t.regen_delay, t.name) for i, t in enumerate(transitions)],
        columns=["id", "transition_type_id", "age", "regen_delay", "description"],
    )
    tables["transition_classifier_value"] = pd.DataFrame(
        [(i + 1, cv_id[(ci, v)]) for i, t in enumerate(transitions) for ci, v in enumerate(t.classifiers)],
        columns=["transition_id", "classifier_value_id"],
    )
    rules = [(i + 1, t) for i, t in enumerate(transitions) if t.disturbance_type is not None]
    tables["transition_rule"] = pd.DataFrame(
        [(r + 1, tid, known_type(t.disturbance_type, f"transition {t.name!r}")) for r, (tid, t) in enumerate(rules)],
        columns=["id", "transition_id", "disturbance_type_id"],
    )
    tables["transition_rule_classifier_value"] = pd.DataFrame(
        [(r + 1, cv_id[(ci, v)]) for r, (_, t) in enumerate(rules)
         for ci, v in enumerate(t.rule_classifiers or (WILDCARD,) * len(names))],
        columns=["transition_rule_id", "classifier_value_id"],
    )
    for empty, cols in (
        ("accounting_rule_set", ["id", "disturbance_type_id", "spatial_unit_id"]),
        ("accounting_rule", ["accounting_rule_set_id", "accounting_rule_type_id", "value"]),
    ):
        tables[empty] = pd.DataFrame(columns=cols)
    return tables


def _sql(name: str) -> str:
    return resources.files("flintcloud.inputdb").joinpath(name).read_text(encoding="utf-8")


def write_gcbm_input_db(
    tables: Mapping[str, pd.DataFrame], out_path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write the tables into a new SQLite db at `out_path` (atomically: temp file, then rename)."""
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise DatabaseError(f"{str(out_path)!r} already exists; pass overwrite=True (--overwrite) to replace it")
    missing = [t for t in TABLE_ORDER if t not in _FIXED_TABLES and t not in tables]
    if missing:
        raise DatabaseError(f"cannot write {str(out_path)!r}: tables missing {missing}")
    with atomic_path(out_path) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            # a fresh temp file moved into place only when complete: no journal, no fsync per statement
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.executescript(_sql("gcbm_input_schema.sql"))
            conn.executescript(_sql("gcbm_input_fixed_rows.sql"))
            for name in TABLE_ORDER:
                if name in _FIXED_TABLES:
                    continue
                frame = tables[name]
                if frame.empty:
                    continue
                cols = list(frame.columns)
                records = [
                    tuple(None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in rec)
                    for rec in frame.itertuples(index=False, name=None)
                ]
                conn.executemany(
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", records
                )
            conn.commit()
            bad = conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise DatabaseError(f"{str(out_path)!r}: broken references {bad[:5]} (table, rowid, parent, fk)")
        except sqlite3.DatabaseError as err:
            raise DatabaseError(f"cannot write {str(out_path)!r}: {err}") from err
        finally:
            conn.close()
    return out_path


@dataclass
class BuildSummary:
    path: Path
    n_growth_curves: int
    classifier_names: list[str]
    species: list[str] = field(default_factory=list)


def build_gcbm_input_db(
    growth_curves: str | os.PathLike | None,
    out_path: str | os.PathLike,
    *,
    classifiers: Sequence[str] | None = None,
    species_column: str | None = None,
    transitions: str | os.PathLike | Sequence[Transition] | None = None,
    admin_boundary: str | None = None,
    eco_boundary: str | None = None,
    cbm_defaults_db: str | os.PathLike | None = None,
    recliner_config: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> BuildSummary:
    """Growth curves CSV + CBM-CFS3 defaults -> gcbm_input.db (what Recliner2GCBM does).

    Either `growth_curves` (a CSV with named columns, see ``parse_growth_curves``) or
    `recliner_config` (a recliner2gcbm_config.json whose sheets are CSV files) gives the project's
    curves; the config also gives transition rules and disturbance categories.
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise DatabaseError(f"{str(out_path)!r} already exists; pass overwrite=True (--overwrite) to replace it")
    if (growth_curves is None) == (recliner_config is None):
        raise DatabaseError("give either a growth curves CSV or a Recliner2GCBM config, not both or neither")
    categories: dict[str, str] = {}
    if recliner_config is not None:
        inputs = read_recliner_config(recliner_config)
        curves, transition_list, categories = inputs.curves, list(inputs.transitions), inputs.disturbance_categories
    else:
        curves = read_growth_curves(growth_curves, classifiers=classifiers, species_column=species_column)
        transition_list = []
    if transitions is not None:
        if isinstance(transitions, (str, os.PathLike)):
            transition_list += read_transitions(transitions, curves.classifier_names)
        else:
            transition_list += list(transitions)
    defaults = translate_cbm_defaults(read_cbm_defaults(cbm_defaults_db))
    tables = gcbm_input_tables(
        defaults, curves, transition_list, admin_boundary=admin_boundary, eco_boundary=eco_boundary,
        disturbance_categories=categories,
    )
    write_gcbm_input_db(tables, out_path, overwrite=overwrite)
    return BuildSummary(
        out_path, len(tables["growth_curve"]), list(curves.classifier_names),
        sorted({r.species for r in curves.rows}),
    )
