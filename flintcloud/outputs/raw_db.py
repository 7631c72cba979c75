"""The raw ``gcbm_output.db``: GCBM's CBMAggregatorSQLiteWriter star schema, from StepOutputs.

Semantics follow moja.canada's CBMAggregatorLandUnitData (read at the source):

- A *location* is one (classifier set, date, land class, age class) combination; its area is the sum of
  the areas of the stands in it. The age class is CBMAgeIndicators' ``age_class`` variable, which
  GCBM updates at TimingInit and TimingEndStep, i.e. before OutputStep: the class of the stand's age
  at the *end* of the step (after this step's growth and disturbances). AgeArea uses the same age, so
  each location has one AgeArea row with the location's own age class and area.
- ``Pools``: every pool of every location (zeros included), tC = tC/ha x area.
- ``Fluxes``: per location, module, disturbance record and source/sink pool; the diagonal (source ==
  sink) and zero fluxes are not recorded; nothing is recorded for the post-spinup step 0.
- ``DisturbanceDimension``: one record per (location, disturbance type, previous location), where the
  previous location is the one the same stand had in the previous step; area = disturbed area.
- ``AgeClassDimension``: GCBM's AgeClassHelper classes, all written up front: id 1 = (-1, -1) for
  non-forest, then ``age_class_range``-wide classes up to ``age_maximum - 1``, then (age_maximum, -1).

Memory: each step is aggregated to its locations and written at once; only the per-stand location ids
of the previous step (for ``previousLocationDimId``) are kept between steps. The database is written
to a temporary sibling and moved into place by ``close()`` (flintcloud.atomic).
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from importlib import resources
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from flintcloud.atomic import atomic_path
from flintcloud.engine.step import DISTURBANCE, StepOutput
from flintcloud.errors import OutputError

# ModuleInfoDimension metadata GCBM records for the CBM modules (libraryType, libraryInfoId,
# moduleType, moduleId), as in GCBM's own output for the FLINT.Cloud demo. Other module names get
# libraryType 3 / libraryInfoId 11 / moduleType 0 and an id after these.
_KNOWN_MODULES = {
    "CBMGrowthModule": (3, 11, 0, 6),
    "CBMDecayModule": (3, 11, 5, 7),
    "CBMDisturbanceEventModule": (3, 11, 1, 3),
}

def classifier_column(name: str) -> str:
    """GCBM's column name for a classifier: '.' and ' ' become '_'."""
    return name.replace(".", "_").replace(" ", "_")


def _gcbm_code(codes: Mapping[int, int], type_id: int) -> int:
    code = codes.get(type_id)
    return type_id if code is None or pd.isna(code) else int(code)


def age_class_table(age_class_range: int, age_maximum: int) -> pd.DataFrame:
    """AgeClassDimension rows (id, startAge, endAge) as GCBM's AgeClassHelper generates them."""
    if age_class_range <= 0 or age_maximum <= 0:
        raise OutputError(
            f"age_class_range ({age_class_range!r}) and age_maximum ({age_maximum!r}) must be positive integers"
        )
    n_classes = 1 + math.ceil(age_maximum / age_class_range)
    starts = [-1] + [(k - 1) * age_class_range for k in range(1, n_classes)] + [age_maximum]
    ends = [-1] + [min(k * age_class_range - 1, age_maximum - 1) for k in range(1, n_classes)] + [-1]
    return pd.DataFrame({"id": np.arange(1, n_classes + 2), "startAge": starts, "endAge": ends})


def age_class_ids(age: np.ndarray, age_class_range: int, age_maximum: int) -> np.ndarray:
    """AgeClassDimension id of each age (GCBM's AgeClassHelper::toAgeClass, plus 1)."""
    age = np.asarray(age, dtype=np.int64)
    n_classes = 1 + math.ceil(age_maximum / age_class_range)
    cls = np.where(age >= age_maximum, n_classes, age // age_class_range + 1)
    cls = np.where(age < 0, 0, cls)
    return cls + 1


def _group_sum(codes: np.ndarray, n_groups: int, matrix: np.ndarray, weights: np.ndarray, cols=None) -> np.ndarray:
    """Sum ``matrix[:, cols] * weights[:, None]`` by group code (0..n_groups-1).

    A sparse (groups x stands) matrix of weights times the dense matrix: one pass over the rows,
    never a weighted copy of the whole (n, k) matrix.
    """
    n = len(codes)
    summing = sparse.csr_matrix((np.asarray(weights, dtype=np.float64), (codes, np.arange(n))), shape=(n_groups, n))
    out = np.asarray(summing @ matrix)
    return out if cols is None else out[:, cols]


def factorize_rows(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes 0..g-1 of the distinct rows of several equal-length 1-D arrays, and each column's value
    per group (in order of first appearance). Each column is factorized on its own, then the
    integer codes are combined, so no Python tuples are built per row."""
    group = np.zeros(len(columns[0]), dtype=np.int64)
    uniques = []
    for col in columns:
        codes, values = pd.factorize(col, use_na_sentinel=False)
        # re-factorize at every step so the combined key stays below n * len(values): no overflow
        group = pd.factorize(group * max(len(values), 1) + codes)[0]
        uniques.append((codes, values))
    first = np.zeros(group.max() + 1 if len(group) else 0, dtype=np.int64)
    first[group[::-1]] = np.arange(len(group))[::-1]  # first row of each group
    return group, [np.asarray(values)[codes[first]] for codes, values in uniques]


class RawOutputWriter:
    """Reporter: aggregates every StepOutput into GCBM's raw output database at `path`.

    Use as a context manager (or call ``close()`` on success / ``abort()`` on failure): nothing
    appears at `path` until ``close()`` has written the whole database.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        classifier_names: list[str],
        age_class_range: int = 20,
        age_maximum: int = 300,
        disturbance_type_codes: Mapping[int, int] | None = None,
    ):
        self.path = Path(path)
        # DisturbanceTypeDimension.disturbanceType is GCBM's disturbance_type_code: gcbm_input.db's
        # disturbance_type.code (Wildfire: id 2, code 1 in the demo). Without a mapping (here or as a
        # StepOutput.disturbance_type_code attribute) the engine's type id is written.
        self.disturbance_type_codes = dict(disturbance_type_codes or {})
        if not classifier_names:
            raise OutputError(f"{self.path}: at least one classifier name is needed for ClassifierSetDimension")
        # GCBM's classifier set is a Poco DynamicStruct (a sorted map): its columns come out in name
        # order whatever order the config lists them in (the demo lists Classifier2, Classifier1).
        self.classifier_names = sorted(classifier_names)
        columns = [classifier_column(n) for n in self.classifier_names]
        if len(set(c.lower() for c in columns)) != len(columns):
            raise OutputError(f"{self.path}: classifier names {self.classifier_names!r} collide as SQL columns")
        self.age_class_range = int(age_class_range)
        self.age_maximum = int(age_maximum)
        age_classes = age_class_table(self.age_class_range, self.age_maximum)

        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._closed = False
        try:
            self._conn = sqlite3.connect(self._tmp)
            self._conn.execute("PRAGMA journal_mode=OFF")
            self._conn.execute("PRAGMA synchronous=OFF")
            ddl = resources.files("flintcloud.outputs").joinpath("sql/raw_schema.sql").read_text()
            ddl = ddl.replace("{classifier_columns}", ", ".join(f'"{c}" VARCHAR' for c in columns))
            self._conn.executescript(ddl)
            self._conn.executemany("INSERT INTO AgeClassDimension VALUES (?, ?, ?)", age_classes.values.tolist())
        except BaseException:
            self.abort()
            raise
        self._cset_sql = f"INSERT INTO ClassifierSetDimension VALUES ({', '.join('?' * (len(columns) + 1))})"

        self._csets: dict[tuple, int] = {}
        self._land_classes: dict[str, int] = {}
        self._modules: dict[str, int] = {}
        self._dist_types: dict[int, int] = {}
        self._pool_names: list[str] | None = None
        self._next = {"date": 1, "location": 1, "pool": 1, "flux": 1, "disturbance": 1, "agearea": 1}
        self._expected_step = 0
        self._n_stands: int | None = None
        self._prev_location: np.ndarray | None = None
        self.seconds = 0.0  # spent in reporter calls
        self.close_seconds = 0.0  # in close()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> RawOutputWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> Path:
        """Finish the database and move it to `path`."""
        if self._closed:
            return self.path
        started = time.perf_counter()
        if self._expected_step == 0:
            self.abort()
            raise OutputError(f"{self.path}: no StepOutput was reported; the raw output database would be empty")
        try:
            self._conn.commit()
            self._conn.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._stack.close()  # atomic_path: os.replace(tmp, path)
        self.close_seconds += time.perf_counter() - started
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; `path` keeps what it had."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._conn.close()
        self._stack.__exit__(OutputError, OutputError("aborted"), None)

    # -- the reporter ------------------------------------------------------------------------
    def __call__(self, step: StepOutput) -> None:
        if self._closed:
            raise OutputError(f"{self.path}: StepOutput for step {step.step} reported after close()")
        started = time.perf_counter()
        try:
            self._write_step(step)
        except BaseException:
            self.abort()
            raise
        finally:
            self.seconds += time.perf_counter() - started

    def _check(self, step: StepOutput) -> int:
        n = step.n_stands
        if step.step != self._expected_step:
            raise OutputError(
                f"{self.path}: expected StepOutput step {self._expected_step} (steps must come in order from 0, "
                f"the post-spinup state), got step {step.step}"
            )
        if self._n_stands is not None and n != self._n_stands:
            raise OutputError(f"{self.path}: step {step.step} has {n} stands, earlier steps had {self._n_stands}")
        shapes = {
            "pools": (step.pools.shape, (n, len(step.pool_names))),
            "fluxes": (np.shape(step.fluxes), (n, len(step.flux_keys))),
            "age": (np.shape(step.age), (n,)),
            "area_ha": (np.shape(step.area_ha), (n,)),
            "land_class": (np.shape(step.land_class), (n,)),
            "disturbance_type_id": (np.shape(step.disturbance_type_id), (n,)),
        }
        for name, (got, want) in shapes.items():
            if tuple(got) != want:
                raise OutputError(f"{self.path}: StepOutput.{name} of step {step.step} has shape {got}, expected {want}")
        missing = [c for c in self.classifier_names if c not in step.classifiers.columns]
        if missing:
            raise OutputError(
                f"{self.path}: StepOutput.classifiers of step {step.step} lacks classifier column(s) {missing!r}"
            )
        if self._pool_names is None:
            self._pool_names = list(step.pool_names)
            self._conn.executemany(
                "INSERT INTO PoolDimension VALUES (?, ?)", [(i + 1, p) for i, p in enumerate(self._pool_names)]
            )
        elif list(step.pool_names) != self._pool_names:
            raise OutputError(f"{self.path}: pool names of step {step.step} differ from step 0's")
        return n

    def _ids(self, table: dict, keys, insert) -> np.ndarray:
        """Dimension ids of `keys` (unique values), adding unseen ones through `insert(id, key)`."""
        out = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            if key not in table:
                table[key] = len(table) + 1
                insert(table[key], key)
            out[i] = table[key]
        return out

    def _take(self, counter: str, n: int) -> np.ndarray:
        first = self._next[counter]
        self._next[counter] = first + n
        return np.arange(first, first + n, dtype=np.int64)

    def _write_step(self, step: StepOutput) -> None:
        n = self._check(step)
        conn = self._conn
        area = np.asarray(step.area_ha, dtype=np.float64)

        # DateDimension: GCBM's post-spinup record is all zeros but the step length.
        date_id = int(self._take("date", 1)[0])
        if step.step == 0:
            conn.execute("INSERT INTO DateDimension VALUES (?, 0, 0, 0, 0, 0.0, 1.0)", (date_id,))
        else:
            conn.execute("INSERT INTO DateDimension VALUES (?, ?, ?, 1, 1, 1.0, 1.0)", (date_id, step.step, step.year))

        # Classifier sets, land classes, age classes per stand.
        cls = step.classifiers[self.classifier_names]
        cset_codes, cset_values = factorize_rows(*(cls[c].to_numpy(dtype=object) for c in self.classifier_names))
        cset_keys = [tuple(None if pd.isna(v) else str(v) for v in row) for row in zip(*cset_values)]
        cset_ids = self._ids(
            self._csets, cset_keys, lambda i, key: conn.execute(self._cset_sql, (i, *key))
        )[cset_codes]
        land_codes, land_uniques = pd.factorize(np.asarray(step.land_class).astype(str))
        land_ids = self._ids(
            self._land_classes,
            list(land_uniques),
            lambda i, key: conn.execute("INSERT INTO LandClassDimension VALUES (?, ?)", (i, key)),
        )[land_codes]
        age_ids = age_class_ids(step.age, self.age_class_range, self.age_maximum)

        # LocationDimension and AgeArea (one row per location: its own age class and area).
        loc_codes, (u_cset, u_land, u_age) = factorize_rows(cset_ids, land_ids, age_ids)
        n_loc = len(u_cset)
        loc_ids = self._take("location", n_loc)
        loc_area = np.bincount(loc_codes, weights=area, minlength=n_loc)
        conn.executemany(
            "INSERT INTO LocationDimension VALUES (?, ?, ?, ?, ?, ?)",
            zip(loc_ids.tolist(), u_cset.tolist(), [date_id] * n_loc, u_land.tolist(), u_age.tolist(), loc_area.tolist()),
        )
        conn.executemany(
            "INSERT INTO AgeArea VALUES (?, ?, ?, ?)",
            zip(self._take("agearea", n_loc).tolist(), loc_ids.tolist(), u_age.tolist(), loc_area.tolist()),
        )
        stand_location = loc_ids[loc_codes]

        # Pools: every pool of every location, tC.
        pool_tc = _group_sum(loc_codes, n_loc, np.asarray(step.pools, dtype=np.float64), area)
        n_pools = pool_tc.shape[1]
        conn.executemany(
            "INSERT INTO Pools VALUES (?, ?, ?, ?)",
            zip(
                self._take("pool", n_loc * n_pools).tolist(),
                np.repeat(loc_ids, n_pools).tolist(),
                np.tile(np.arange(1, n_pools + 1), n_loc).tolist(),
                pool_tc.ravel().tolist(),
            ),
        )

        if step.step > 0:
            dist_record = self._write_disturbances(step, stand_location, area)
            self._write_fluxes(step, loc_codes, loc_ids, dist_record, area)

        self._prev_location = stand_location
        self._n_stands = n
        self._expected_step += 1

    def _write_disturbances(self, step: StepOutput, stand_location: np.ndarray, area: np.ndarray):
        """DisturbanceDimension rows; returns (per-stand record code or -1, record ids)."""
        dist_type = np.asarray(step.disturbance_type_id, dtype=np.int64)
        disturbed = np.flatnonzero(dist_type != 0)
        stand_codes = np.full(len(dist_type), -1, dtype=np.int64)
        if len(disturbed) == 0:
            return stand_codes, np.empty(0, dtype=np.int64)
        unknown = sorted(set(dist_type[disturbed].tolist()) - set(step.disturbance_type_name))
        if unknown:
            raise OutputError(
                f"{self.path}: step {step.step} (year {step.year}) has disturbance type id(s) {unknown!r} "
                "missing from StepOutput.disturbance_type_name"
            )
        codes = self.disturbance_type_codes or dict(getattr(step, "disturbance_type_code", None) or {})
        type_codes, type_uniques = pd.factorize(dist_type[disturbed])
        gcbm_codes = [_gcbm_code(codes, int(t)) for t in type_uniques]
        names = {code: step.disturbance_type_name[int(t)] for code, t in zip(gcbm_codes, type_uniques)}
        type_ids = self._ids(  # GCBM keys the dimension on the code
            self._dist_types,
            gcbm_codes,
            lambda i, code: self._conn.execute(
                "INSERT INTO DisturbanceTypeDimension VALUES (?, ?, ?)", (i, code, names[code])
            ),
        )[type_codes]
        prev = self._prev_location[disturbed]
        rec_codes, (rec_loc, rec_type, rec_prev) = factorize_rows(stand_location[disturbed], type_ids, prev)
        n_rec = len(rec_loc)
        rec_ids = self._take("disturbance", n_rec)
        rec_area = np.bincount(rec_codes, weights=area[disturbed], minlength=n_rec)
        self._conn.executemany(
            "INSERT INTO DisturbanceDimension VALUES (?, ?, ?, ?, ?)",
            zip(
                rec_ids.tolist(),
                rec_loc.tolist(),
                rec_type.tolist(),
                rec_prev.tolist(),
                rec_area.tolist(),
            ),
        )
        stand_codes[disturbed] = rec_codes
        return stand_codes, rec_ids

    def _write_fluxes(self, step, loc_codes, loc_ids, dist_record, area) -> None:
        keys = list(step.flux_keys)
        if not keys:
            return
        pool_id = {p: i + 1 for i, p in enumerate(self._pool_names)}
        bad = sorted({p for k in keys for p in (k.source, k.sink) if p not in pool_id})
        if bad:
            raise OutputError(f"{self.path}: flux keys of step {step.step} name pool(s) {bad!r} not in pool_names")
        module_ids = self._ids(
            self._modules,
            list(dict.fromkeys(k.module for k in keys)),
            lambda i, name: self._conn.execute(
                "INSERT INTO ModuleInfoDimension VALUES (?, ?, ?, ?, ?, ?)",
                (i, *_KNOWN_MODULES.get(name, (3, 11, 0, 100 + i)), name),
            ),
        )
        module_of = dict(zip(dict.fromkeys(k.module for k in keys), module_ids.tolist()))
        keep = np.array([k.source != k.sink for k in keys])
        is_dist = np.array([k.flux_source == DISTURBANCE for k in keys]) & keep
        is_annual = ~is_dist & keep
        fluxes = np.asarray(step.fluxes)
        stand_codes, rec_ids = dist_record

        frames = []
        key_triples = []
        if is_annual.any():
            cols = np.flatnonzero(is_annual)
            tc = _group_sum(loc_codes, len(loc_ids), fluxes, area, cols)
            frames.append(self._flux_frame(tc, loc_ids, None, [keys[j] for j in cols], module_of, pool_id))
            key_triples.append([(keys[j].module, keys[j].source, keys[j].sink) for j in cols])
        if is_dist.any():
            cols = np.flatnonzero(is_dist)
            undisturbed = stand_codes < 0
            # (one matrix-vector product; disturbance fluxes that cancel to exactly 0 are not caught)
            if undisturbed.any() and np.any((undisturbed.astype(np.float64) @ fluxes)[cols] != 0):
                raise OutputError(
                    f"{self.path}: step {step.step} (year {step.year}) has disturbance fluxes on stands with "
                    "disturbance_type_id 0"
                )
            hit = ~undisturbed
            if hit.any():
                rec_codes = stand_codes[hit]
                tc = _group_sum(rec_codes, len(rec_ids), fluxes[hit], area[hit], cols)
                rec_loc = np.empty(len(rec_ids), dtype=np.int64)
                rec_loc[rec_codes] = loc_ids[loc_codes[hit]]
                frames.append(self._flux_frame(tc, rec_loc, rec_ids, [keys[j] for j in cols], module_of, pool_id))
                key_triples.append([(keys[j].module, keys[j].source, keys[j].sink) for j in cols])
        if not frames:
            return
        cols = {c: np.concatenate([f[c] for f in frames]) for c in ("loc", "module", "dist", "src", "dst", "value")}
        nonzero = cols["value"] != 0.0
        cols = {c: v[nonzero] for c, v in cols.items()}
        group = ["loc", "module", "dist", "src", "dst"]
        # Rows of one block have distinct (loc or record) x key; blocks differ in dist (-1 vs record ids):
        # two rows can only share a group when a block's keys repeat a (module, source, sink).
        if any(len(set(triples)) < len(triples) for triples in key_triples):
            # The same (location, module, record, source, sink) twice: sum them, in order of first appearance.
            df = pd.DataFrame(cols).groupby(group, sort=False, dropna=False)["value"].sum().reset_index()
            df = df[df["value"] != 0.0]
            cols = {c: df[c].to_numpy() for c in df.columns}
        # (otherwise every row is its own group: a sum of one value is that value, so nothing to do)
        dist = [None if d < 0 else d for d in cols["dist"].tolist()]
        self._conn.executemany(
            "INSERT INTO Fluxes VALUES (?, ?, ?, ?, ?, ?, ?)",
            zip(
                self._take("flux", len(cols["value"])).tolist(),
                cols["loc"].tolist(),
                cols["module"].tolist(),
                dist,
                cols["src"].tolist(),
                cols["dst"].tolist(),
                cols["value"].tolist(),
            ),
        )

    @staticmethod
    def _flux_frame(tc, row_loc, row_dist, keys, module_of, pool_id) -> dict[str, np.ndarray]:
        """Columns loc, module, dist (-1: annual process), src, dst, value of one block of flux rows."""
        n_rows, n_keys = tc.shape
        return {
            "loc": np.repeat(np.asarray(row_loc, dtype=np.int64), n_keys),
            "module": np.tile(np.array([module_of[k.module] for k in keys], dtype=np.int64), n_rows),
            "dist": (np.repeat(np.asarray(row_dist, dtype=np.int64), n_keys) if row_dist is not None
                     else np.full(n_rows * n_keys, -1, dtype=np.int64)),
            "src": np.tile(np.array([pool_id[k.source] for k in keys], dtype=np.int64), n_rows),
            "dst": np.tile(np.array([pool_id[k.sink] for k in keys], dtype=np.int64), n_rows),
            "value": tc.ravel(),
        }

