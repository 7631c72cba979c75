"""CBM-CFS3 driven the way GCBM drives its modules, with libcbm's cbm3 ops.

libcbm computes the matrices (growth from merchantable-volume curves,
turnover, decay, disturbance matrices) and applies them; this module does
what GCBM's sequencers and modules decide around them (moja.canada):

* spinup (CBMSpinupSequencer::runRegularSpinup): rotations of
  ``return_interval`` years from age 0; stable when (AG slow + BG slow) at the
  end of a rotation over the previous rotation's value is strictly inside
  (0.999, 1.001) and more than ``minimum_rotation`` rotations ran, or at
  ``max_rotations``; otherwise the historic disturbance is applied and the
  ten live-biomass pools are set to 0. Then the last-pass disturbance (no
  zeroing) and growth from age 0 to the inventory age.
* each simulated year (CBMSequencer, modules_cbm.json order): disturbance
  events of that year (CBMDisturbanceListener -> CBMDisturbanceEventModule:
  matrix by (disturbance type, spatial unit); age 0 when live biomass
  < 0.001), transitions (CBMTransitionRulesModule: the sidecar's transition id,
  else the transition_rule matched on the stand's classifiers; regeneration
  delay, classifier changes, age reset), growth with turnover (CBMGrowthModule,
  skipped while in regeneration delay; age + 1; snag turnover on the snags as
  they were before the first half growth), decay (CBMDecayModule; stopped for
  a stand whose classifier set has no growth curve, as is_decaying does).
* decay temperature is each stand's mean annual temperature, in spinup too.

Everything is vectorised over stands. Values are per hectare.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from flintcloud.errors import SimulationError
from flintcloud.inputdb.reader import InputDb, match_growth_curves  # shared with validate

from .libcbm_params import (
    ATMOSPHERE,
    BIOMASS_POOLS,
    BIOMASS_TURNOVER_PROCESS,
    DECAY_PROCESS,
    DISTURBANCE_PROCESS,
    GROWTH_PROCESS,
    OVERMATURE_PROCESS,
    SNAG_TURNOVER_PROCESS,
    LibcbmParameters,
    build_libcbm_db,
)
from .transition_rules import TransitionRuleMatcher
from .step import ANNUAL_PROCESS, GROWTH_MODULE, FluxKey, RunSummary, StepOutput

GCBM_OVERMATURE_TOLERANCE = -0.0001  # YieldTableGrowthModule::doHalfGrowth
GCBM_AGE_RESET_BIOMASS = 0.001  # CBMDisturbanceEventModule: age 0 when live biomass falls below
STABLE_LOW, STABLE_HIGH = 0.999, 1.001  # CBMSpinupSequencer::isSlowPoolStable
DEFAULT_LAND_CLASS = "UNFCCC_FL_R_FL"

Reporter = Callable[[StepOutput], None]

# libcbm ships builds for Ubuntu 22.04/24.04 and, on any other Linux, loads the 22.04 one after warning
# "untested linux distribution: {...os-release...}" on every run. That build is the one checked against
# GCBM's own output (docs/engine.md) on this project's Debian machines, so the warning only adds noise to
# every `flintcloud run` and `dvc repro`. Ignore exactly that message from libcbm.resources, nothing else.
warnings.filterwarnings(
    "ignore", message="untested linux distribution", category=RuntimeWarning, module=r"libcbm\.resources"
)


# --------------------------------------------------------------------------- libcbm core


def _series(name: str, arr: np.ndarray):
    from libcbm.storage.backends.numpy_backend import NumpyDataFrameFrameBackend

    return NumpyDataFrameFrameBackend({name: arr})[name]


def _frame(data: dict[str, np.ndarray]):
    from libcbm.storage.backends.numpy_backend import NumpyDataFrameFrameBackend

    return NumpyDataFrameFrameBackend(data)


def _matrix(arr: np.ndarray, cols: list[str]):
    from libcbm.storage.backends.numpy_backend import NumpyDataFrameFrameBackend

    return NumpyDataFrameFrameBackend(arr, cols)


class LibcbmCore:
    """libcbm's compiled cbm3 functions on numpy arrays, for one set of rows."""

    def __init__(self, cbm, params: LibcbmParameters, gc_value_id: dict[int, int]):
        self.cbm = cbm
        self.params = params
        self.gc_value_id = gc_value_id
        self.n_pools = len(params.pool_names)
        self.pool_index = {n: i for i, n in enumerate(params.pool_names)}
        self.biomass_idx = np.array([self.pool_index[p] for p in BIOMASS_POOLS])
        self.slow_idx = np.array([self.pool_index["AboveGroundSlowSoil"], self.pool_index["BelowGroundSlowSoil"]])
        self.flux_names = [fi.name for fi in params.flux_indicators]
        ind = {(fi.process, fi.source, fi.sink): i for i, fi in enumerate(params.flux_indicators)}
        self.growth_flux_col = {p: ind[(GROWTH_PROCESS, "Input", p)] for p in BIOMASS_POOLS}
        self.growth_cols = np.array([self.growth_flux_col[p] for p in BIOMASS_POOLS])
        self.overmature_flux_col = {(s, k): i for (pr, s, k), i in ind.items() if pr == OVERMATURE_PROCESS}
        col = {(fi.source, fi.sink): i for i, fi in enumerate(params.flux_indicators) if fi.process == DISTURBANCE_PROCESS}
        names = params.pool_names
        self.dist_flux_cols = {
            dm: np.array([col[(names[a], names[b])] for a, b in zip(src, sink)], dtype=np.int64)
            for dm, (src, sink, _) in params.matrices.items()
        }
        self._splits: tuple[np.ndarray, np.ndarray] | None = None  # sorted unit ids, their splits

    def new_pools(self, n: int) -> np.ndarray:
        pools = np.zeros((n, self.n_pools), dtype=np.float64)
        pools[:, self.pool_index["Input"]] = 1.0
        return pools

    def new_flux(self, n: int) -> np.ndarray:
        return np.zeros((n, len(self.flux_names)), dtype=np.float64)

    # ops ------------------------------------------------------------------
    def _ops(self, names: Iterable[str], n: int) -> dict[str, int]:
        return {name: self.cbm.compute_functions.allocate_op(n) for name in names}

    def _free(self, ops: dict[str, int]) -> None:
        for op in ops.values():
            self.cbm.compute_functions.free_op(op)

    def _apply(self, ops: list[int], processes: list[int], pools: np.ndarray, flux: np.ndarray | None, enabled):
        cf = self.cbm.compute_functions
        pools_df = _matrix(pools, self.params.pool_names)
        en = _series("enabled", enabled.astype(np.int32)) if enabled is not None else None
        if flux is None:
            cf.compute_pools(ops, pools_df, en)
        else:
            cf.compute_flux(ops, processes, pools_df, _matrix(flux, self.flux_names), en)

    def static_ops(self, unit: np.ndarray, temperature: np.ndarray) -> dict[str, int]:
        """Turnover and decay ops: constant for a row while its unit and temperature are."""
        n = len(unit)
        ops = self._ops(["snag_turnover", "biomass_turnover", "dom_decay", "slow_decay", "slow_mixing"], n)
        inventory = _frame({"spatial_unit": unit.astype(np.int32)})
        mf = self.cbm.model_functions
        mf.get_turnover_ops(ops["snag_turnover"], ops["biomass_turnover"], inventory)
        mf.get_decay_ops(ops["dom_decay"], ops["slow_decay"], ops["slow_mixing"], inventory,
                         _frame({"mean_annual_temp": temperature.astype(np.float64)}))
        return ops

    def annual_process(self, static: dict[str, int], unit, gc_value, pools, age, grow, decay, flux=None):
        """Growth + turnover on rows ``grow``, then decay on rows ``decay`` (GCBM: CBMGrowthModule, CBMDecayModule).

        libcbm gives the growth increments (its growth op holds Input -> pool = increment / 2); the two
        half-growth steps around turnover are applied here as YieldTableGrowthModule::doHalfGrowth does:
        a softwood (hardwood) component whose increments sum below -0.0001 is overmature, and its
        negative increments move biomass to DOM (pool -> snag / soil, with the turnover splits)
        instead of back to the atmosphere; every other increment is Atmosphere -> pool.
        """
        n = len(unit)
        if grow.any():
            ops = self._ops(["growth", "overmature_decline"], n)
            try:
                self.cbm.model_functions.get_merch_volume_growth_ops(
                    ops["growth"], ops["overmature_decline"],
                    _frame({"growth_curve": gc_value.astype(np.int32)}),
                    _frame({"spatial_unit": unit.astype(np.int32)}),
                    _matrix(pools, self.params.pool_names),
                    _frame({"age": age.astype(np.int32)}),
                )
                # the growth op applied to "Input = 1, all else 0" leaves increment / 2 in each biomass pool
                probe = self.new_pools(n)
                self._apply([ops["growth"]], [GROWTH_PROCESS], probe, None, grow)
            finally:
                self._free(ops)
            half = probe[:, self.biomass_idx]
            half[~grow] = 0.0
            # GCBM's snag turnover moves a share of the snags as they were *before* the first half
            # growth (YieldTableGrowthModule::doTimingStep reads them first; overmature decline in
            # the first half adds to the snags); turning them over first gives exactly that.
            self._apply([static["snag_turnover"]], [SNAG_TURNOVER_PROCESS], pools, flux, grow)
            self._half_growth(half, unit, pools, flux, grow)
            self._apply([static["biomass_turnover"]], [BIOMASS_TURNOVER_PROCESS], pools, flux, grow)
            self._half_growth(half, unit, pools, flux, grow)
        if decay.any():
            self._apply(
                [static["dom_decay"], static["slow_decay"], static["slow_mixing"]],
                [DECAY_PROCESS] * 3, pools, flux, decay,
            )

    def _split_rows(self, unit: np.ndarray) -> np.ndarray:
        """(rows, 3) branch_snag / coarse_ag / fine_ag splits of each row's unit (NaN for an unknown unit)."""
        if self._splits is None:
            splits = self.params.splits
            order = np.argsort(splits.index.to_numpy(dtype=np.int64), kind="stable")
            self._splits = (
                splits.index.to_numpy(dtype=np.int64)[order],
                splits[["branch_snag_split", "coarse_ag_split", "fine_ag_split"]].to_numpy(dtype=np.float64)[order],
            )
        ids, values = self._splits
        unit = unit.astype(np.int64)
        pos = np.minimum(np.searchsorted(ids, unit), max(len(ids) - 1, 0))
        out = np.full((len(unit), 3), np.nan)
        found = ids[pos] == unit if len(ids) else np.zeros(len(unit), dtype=bool)
        out[found] = values[pos[found]]
        return out

    def _half_growth(self, half: np.ndarray, unit: np.ndarray, pools: np.ndarray, flux, grow: np.ndarray) -> None:
        # Every (row, biomass pool) gets at most one addition here and the overmature transfers touch
        # other elements (declining rows of that pool, DOM pools), so the growing increments are added
        # in one masked operation and the transfers follow in the original per-pool order: the same
        # floating-point operations on every element as a pool-by-pool loop.
        decline = np.zeros(half.shape, dtype=bool)
        for g in (0, 1):
            cols = slice(5 * g, 5 * g + 5)
            overmature = grow & ((2.0 * half[:, cols]).sum(axis=1) < GCBM_OVERMATURE_TOLERANCE)
            if overmature.any():
                decline[:, cols] = overmature[:, None] & (half[:, cols] < 0)
        up = grow[:, None] & ~decline
        sub = pools[:, self.biomass_idx]
        np.add(sub, half, out=sub, where=up)
        pools[:, self.biomass_idx] = sub
        if flux is not None:
            sub = flux[:, self.growth_cols]
            np.add(sub, half, out=sub, where=up)
            flux[:, self.growth_cols] = sub
        if not decline.any():
            return
        pi = self.pool_index
        for c, pool in enumerate(BIOMASS_POOLS):
            rows = decline[:, c]
            if not rows.any():
                continue
            x = pi[pool]
            amount = -half[rows, c]
            kind = pool.replace("Softwood", "").replace("Hardwood", "")
            species = pool[:8]
            if kind in ("Other", "CoarseRoots", "FineRoots"):
                split = self._split_rows(unit[rows])
            if kind == "Merch":
                parts = [(f"{species}StemSnag", amount)]
            elif kind == "Foliage":
                parts = [("AboveGroundVeryFastSoil", amount)]
            elif kind == "Other":
                parts = [(f"{species}BranchSnag", amount * split[:, 0]),
                         ("AboveGroundFastSoil", amount * (1 - split[:, 0]))]
            elif kind == "CoarseRoots":
                parts = [("AboveGroundFastSoil", amount * split[:, 1]),
                         ("BelowGroundFastSoil", amount * (1 - split[:, 1]))]
            else:  # FineRoots
                parts = [("AboveGroundVeryFastSoil", amount * split[:, 2]),
                         ("BelowGroundVeryFastSoil", amount * (1 - split[:, 2]))]
            for sink, v in parts:
                pools[rows, x] -= v
                pools[rows, pi[sink]] += v
                if flux is not None:
                    flux[rows, self.overmature_flux_col[(pool, sink)]] += v

    def disturb(self, unit, disturbance_type, pools, enabled, flux=None):
        """Apply each enabled row's disturbance matrix, as GCBM's proportional operation does.

        Rows whose (disturbance type, spatial unit) has no matrix are skipped, as
        CBMDisturbanceListener skips them ("Missing DM association"). Returns the rows disturbed.
        """
        rows = np.flatnonzero(enabled)
        done = []
        if rows.size == 0:
            return np.array([], dtype=np.int64)
        keys = pd.DataFrame({"t": disturbance_type[rows].astype(np.int64), "u": unit[rows].astype(np.int64)})
        for (t, u), idx in keys.groupby(["t", "u"]).indices.items():
            dm = self.params.matrix_of.get((int(t), int(u)))
            if dm is None:
                continue
            r = rows[idx]
            src, sink, prop = self.params.matrices[dm]
            before = pools[r]
            moved = before[:, src] * prop  # (rows, transfers), from the pools at the start of the event
            after = before.copy()
            np.subtract.at(after.T, src, moved.T)
            np.add.at(after.T, sink, moved.T)
            pools[r] = after
            if flux is not None:
                sub = flux[r]
                np.add.at(sub.T, self.dist_flux_cols[dm], moved.T)
                flux[r] = sub
            done.append(r)
        return np.concatenate(done) if done else np.array([], dtype=np.int64)


@contextmanager
def open_libcbm(params: LibcbmParameters) -> Iterator[LibcbmCore]:
    """A libcbm cbm3 model on the translated db (closed on exit)."""
    from libcbm import resources
    from libcbm.model.cbm import cbm_config, cbm_defaults, cbm_factory

    db = str(params.db_path)
    gcs = sorted(params.growth_curves)
    classifiers = cbm_config.classifier_config([
        cbm_config.classifier("growth_curve", [cbm_config.classifier_value(str(g)) for g in gcs])
    ])
    idx = cbm_config.get_classifier_indexes(classifiers)
    gc_value_id = {g: int(idx["classifier_value_ids"]["growth_curve"][str(g)]) for g in gcs}
    curves = [
        cbm_config.merch_volume_curve(classifier_set=[str(g)], merch_volumes=params.growth_curves[g]) for g in gcs
    ]
    with cbm_factory.create(
        dll_path=resources.get_libcbm_bin_path(),
        dll_config_factory=cbm_defaults.get_libcbm_configuration_factory(db),
        cbm_parameters_factory=cbm_defaults.get_cbm_parameters_factory(db),
        merch_volume_to_biomass_factory=lambda: cbm_config.merch_volume_to_biomass_config(db, curves, use_smoother=True),
        classifiers_factory=lambda: classifiers,
    ) as cbm:
        yield LibcbmCore(cbm, params, gc_value_id)


# --------------------------------------------------------------------------- model inputs


def _curves_or_none(db: InputDb, classifiers: pd.DataFrame) -> np.ndarray:
    """``match_growth_curves``, with -1 for a classifier set no curve matches (GCBM: growth_curve_id
    empty after a transition to such a set; the stand stops growing and decaying)."""
    try:
        return match_growth_curves(db, classifiers)
    except SimulationError:
        pass
    names = list(classifiers.columns)
    combos = classifiers.astype(str).drop_duplicates()
    out = np.full(len(classifiers), -1, dtype=np.int64)
    values = classifiers.astype(str).to_numpy()
    for combo in combos.itertuples(index=False, name=None):
        try:
            g = int(match_growth_curves(db, pd.DataFrame([combo], columns=names))[0])
        except SimulationError:
            continue
        out[(values == np.array(combo, dtype=object)).all(axis=1)] = g
    return out


def gcbm_pool_names(config) -> list[str]:
    """Pool names in pools_cbm.json order (GCBM's PoolDimension ids follow it)."""
    config_dir = Path(getattr(config, "config_dir", "."))
    path = config_dir / "pools_cbm.json"
    if path.is_file():
        pools = json.loads(path.read_text(encoding="utf-8-sig")).get("Pools", {})
        names = list(pools) if isinstance(pools, dict) else [p["name"] if isinstance(p, dict) else p for p in pools]
        if names:
            return names
    from .libcbm_params import LIBCBM_POOLS

    return [ATMOSPHERE] + LIBCBM_POOLS[1:]


@dataclass
class _Model:
    core: LibcbmCore
    db: InputDb
    params: LibcbmParameters
    historic: dict[int, int]  # spatial_unit_id -> historic disturbance type id
    return_interval: dict[int, int]
    max_rotations: dict[int, int]
    minimum_rotation: int
    last_pass: dict[int, int] | None = None  # spatial_unit_id -> last-pass disturbance type id


def spinup_parameters(config, inputs: InputDb, spus: list[int]) -> pd.DataFrame:
    """Spinup parameters per spatial unit, from spinup.json's ``spinup_parameters`` query as GCBM runs it.

    GCBM substitutes ``{var:admin_boundary}``/``{var:eco_boundary}`` (and any other scalar variable) and
    reads return_interval, max_rotations, historic_disturbance_type, last_pass_disturbance_type. Without
    a query, the spatial unit's spinup_parameter row is used (historic = last pass type).
    Returns a DataFrame indexed by spatial_unit_id: return_interval, max_rotations, historic_id, last_pass_id.
    """
    from flintcloud.inputdb.reader import run_query, substitute_variables

    su = inputs.spatial_units.set_index("spatial_unit_id")
    query = getattr(getattr(config, "spinup", None), "parameters_query", None)
    rows = []
    for s in spus:
        if not query:
            h = int(su.loc[s, "historic_disturbance_type_id"])
            rows.append((s, int(su.loc[s, "return_interval"]), int(su.loc[s, "max_rotations"]), h, h))
            continue
        values = {k: v for k, v in (getattr(config, "variables", {}) or {}).items() if not isinstance(v, (dict, list))}
        values.update(admin_boundary=su.loc[s, "admin_boundary"], eco_boundary=su.loc[s, "eco_boundary"])
        res = run_query(inputs.path, substitute_variables(query, values, "spinup.json spinup_parameters"))
        if res.empty:
            raise SimulationError(
                f"spinup.json's spinup_parameters query returns no row for admin boundary "
                f"{su.loc[s, 'admin_boundary']!r} / eco boundary {su.loc[s, 'eco_boundary']!r} in {str(inputs.path)!r}"
            )
        r = res.iloc[0]
        delay = r.get("delay", 0)
        if pd.notna(delay) and int(delay) != 0:
            raise SimulationError(f"spinup_parameters gives delay {int(delay)}: spinup delay is not supported by the libcbm engine")
        historic = str(r["historic_disturbance_type"])
        last_pass = str(r.get("last_pass_disturbance_type", historic))
        rows.append((s, int(r["return_interval"]), int(r["max_rotations"]),
                     inputs.disturbance_type_id(historic), inputs.disturbance_type_id(last_pass)))
    return pd.DataFrame(rows, columns=["spatial_unit_id", "return_interval", "max_rotations", "historic_id",
                                       "last_pass_id"]).set_index("spatial_unit_id")


# --------------------------------------------------------------------------- spinup


def spinup(model: _Model, spu: np.ndarray, gc: np.ndarray, temperature: np.ndarray, age: np.ndarray,
           last_pass: np.ndarray | None = None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """GCBM's regular spinup for rows of (spu, growth curve, temperature, inventory age).

    Returns (pools (n, n_libcbm_pools), destroyed (n,)) where ``destroyed`` is the live biomass GCBM
    deletes when it zeroes biomass after each historic disturbance (needed to reproduce the Atmosphere
    pool, which in GCBM is minus the sum of all growth).
    """
    core = model.core
    n = len(spu)
    rot_key = pd.DataFrame({"spu": spu, "gc": gc, "t": temperature})
    rot_unique = rot_key.drop_duplicates().reset_index(drop=True)
    m = len(rot_unique)
    r_spu = rot_unique["spu"].to_numpy()
    r_gc = rot_unique["gc"].to_numpy()
    r_t = rot_unique["t"].to_numpy(dtype=np.float64)
    r_unit = model.params.unit_id(r_spu, r_gc)
    r_gcv = np.array([core.gc_value_id[int(g)] for g in r_gc], dtype=np.int32)
    ri = np.array([model.return_interval[int(s)] for s in r_spu])
    max_rot = np.array([model.max_rotations[int(s)] for s in r_spu])
    hist = np.array([model.historic[int(s)] for s in r_spu], dtype=np.int32)

    lp_r = hist if model.last_pass is None else np.array([model.last_pass[int(s)] for s in r_spu], dtype=np.int32)
    missing = sorted({(int(h), int(s)) for hh, s, u in zip(zip(hist, lp_r), r_spu, r_unit) for h in hh
                      if (int(h), int(u)) not in model.params.matrix_of})
    if missing:
        raise SimulationError(
            f"no disturbance matrix for the spinup's historic/last-pass disturbance (type id, spatial unit) "
            f"{missing}: table disturbance_matrix_association of {str(model.db.path)!r}"
        )
    pools = core.new_pools(m)
    destroyed = np.zeros(m)
    active = np.ones(m, dtype=bool)
    last_slow = np.zeros(m)
    rotation = 0
    rows = np.array([], dtype=np.int64)
    static: dict[str, int] = {}
    try:
        while active.any():
            rotation += 1
            if rows.size != int(active.sum()):  # work on the rows still rotating only
                rows = np.flatnonzero(active)
                core._free(static)
                static = core.static_ops(r_unit[rows], r_t[rows])
            sub = np.ascontiguousarray(pools[rows])
            age_r = np.zeros(rows.size, dtype=np.int32)
            ri_r = ri[rows]
            for t in range(int(ri_r.max())):
                en = t < ri_r
                core.annual_process(static, r_unit[rows], r_gcv[rows], sub, age_r, en, en)
                age_r[en] += 1
            pools[rows] = sub
            slow = pools[:, core.slow_idx].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(last_slow != 0, slow / np.where(last_slow != 0, last_slow, 1.0), 0.0)
            stable = (ratio > STABLE_LOW) & (ratio < STABLE_HIGH)
            last_slow = np.where(active, slow, last_slow)
            done = active & ((stable & (rotation > model.minimum_rotation)) | (rotation >= max_rot))
            active &= ~done
            if active.any():
                core.disturb(r_unit, hist, pools, active)
                destroyed[active] += pools[np.ix_(active, core.biomass_idx)].sum(axis=1)
                pools[np.ix_(active, core.biomass_idx)] = 0.0
            if progress:
                progress(rotation)
    finally:
        core._free(static)

    # last pass and regrowth to the inventory age, per row
    back = rot_key.merge(rot_unique.reset_index(), on=["spu", "gc", "t"], how="left")["index"].to_numpy()
    unit = r_unit[back]
    gcv = r_gcv[back]
    p = pools[back].copy()
    d = destroyed[back].copy()
    lp = hist[back] if last_pass is None else last_pass.astype(np.int32)
    core.disturb(unit, lp, p, np.ones(n, dtype=bool))
    static = core.static_ops(unit, temperature.astype(np.float64))
    try:
        a = np.zeros(n, dtype=np.int32)
        target = np.maximum(age.astype(np.int64), 0)
        for t in range(int(target.max()) if n else 0):
            en = t < target
            core.annual_process(static, unit, gcv, p, a, en, en)
            a[en] += 1
    finally:
        core._free(static)
    return p, d


SPINUP_SPLIT_MIN = 256  # rotation rows from which spinup_in_two runs two halves side by side


def spinup_in_two(model: _Model, spu: np.ndarray, gc: np.ndarray, temperature: np.ndarray, age: np.ndarray,
                  last_pass: np.ndarray | None = None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """``spinup`` on two halves of the rows at once, each with its own libcbm model, in two threads.

    Every row's spinup is computed on its own (libcbm's ops and this module's arithmetic are per row),
    so the halves give the same bits as one call; libcbm's compiled functions run without the GIL
    (ctypes), so the two halves use both cores while nothing else runs (before the first step). Rows of
    one rotation key (spatial unit, growth curve, temperature) stay in one half. Below
    SPINUP_SPLIT_MIN rotation rows, or on one core, this is ``spinup``.
    """
    import os

    keys = pd.DataFrame({"spu": spu, "gc": gc, "t": temperature})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
    if len(uniques) < SPINUP_SPLIT_MIN or (os.cpu_count() or 1) < 2:
        return spinup(model, spu, gc, temperature, age, last_pass=last_pass, progress=progress)
    from concurrent.futures import ThreadPoolExecutor

    halves = [np.flatnonzero(codes % 2 == h) for h in (0, 1)]

    def part(m: _Model, rows: np.ndarray, bar):
        return spinup(m, spu[rows], gc[rows], temperature[rows], age[rows],
                      last_pass=None if last_pass is None else last_pass[rows], progress=bar)

    with open_libcbm(model.params) as core2, ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(part, dataclasses.replace(model, core=core2), halves[1], None)
        first = part(model, halves[0], progress)
        second = second.result()
    pools = np.empty((len(spu), first[0].shape[1]), dtype=first[0].dtype)
    destroyed = np.empty(len(spu), dtype=first[1].dtype)
    for rows, (p, d) in zip(halves, (first, second)):
        pools[rows] = p
        destroyed[rows] = d
    return pools, destroyed


# --------------------------------------------------------------------------- run


def _pool_block(core: LibcbmCore, pools: np.ndarray, destroyed: np.ndarray, names: list[str]) -> np.ndarray:
    """libcbm pools -> GCBM pool columns; Atmosphere = -(everything else) - carbon deleted in spinup."""
    n = pools.shape[0]
    src = np.array([core.pool_index.get(name, -1) if name != ATMOSPHERE else -1 for name in names])
    out = np.zeros((n, len(names)))
    have = src >= 0
    out[:, have] = pools[:, src[have]]
    if ATMOSPHERE in names:
        inp = core.pool_index["Input"]
        out[:, names.index(ATMOSPHERE)] = -(pools.sum(axis=1) - pools[:, inp]) - destroyed
    return out


@dataclass(frozen=True)
class RunScope:
    """What a run's libcbm parameters are built for: spatial units, growth curves, disturbance types.

    The flux indicators (so ``StepOutput.flux_keys``) follow from it. A chunk of a landscape's stands
    simulated on its own (flintcloud.engine.executor) passes the whole landscape's scope, so its
    parameters, flux keys and per-stand results are those of the whole run.
    """

    spatial_unit_ids: tuple[int, ...]
    growth_curve_ids: tuple[int, ...]
    disturbance_type_ids: tuple[int, ...]

    def union(self, other: "RunScope | None") -> "RunScope":
        if other is None:
            return self
        return RunScope(*(tuple(sorted(set(a) | set(b))) for a, b in zip(
            (self.spatial_unit_ids, self.growth_curve_ids, self.disturbance_type_ids),
            (other.spatial_unit_ids, other.growth_curve_ids, other.disturbance_type_ids),
        )))


def _with_type_ids(events: pd.DataFrame, inputs: InputDb) -> pd.DataFrame:
    events = events.copy()
    if "disturbance_type_id" not in events or events["disturbance_type_id"].isna().any():
        events["disturbance_type_id"] = [inputs.disturbance_type_id(nm) for nm in events["disturbance_type"]]
    return events


def _scope(spu: np.ndarray, gc: np.ndarray, events: pd.DataFrame, inputs: InputDb) -> RunScope:
    su = inputs.spatial_units.set_index("spatial_unit_id")
    spus = sorted(set(int(s) for s in spu.tolist()))
    historic = {int(su.loc[s, "historic_disturbance_type_id"]) for s in spus}
    # transitions may change classifiers -> growth curves: every curve reachable is a unit
    reachable = set(int(g) for g in gc.tolist())
    if len(events) and inputs.transition_classifiers["classifier_value"].ne("?").any():
        reachable |= set(int(g) for g in inputs.growth_curve_classifiers["growth_curve_id"].unique())
    dist_ids = set(int(t) for t in events["disturbance_type_id"].astype(int)) | historic
    return RunScope(tuple(spus), tuple(sorted(reachable)), tuple(sorted(dist_ids)))


def _check_stands(spu: np.ndarray, temperature: np.ndarray, inputs: InputDb) -> None:
    """Named errors for stands the engine cannot spin up as GCBM would."""
    su = inputs.spatial_units.set_index("spatial_unit_id")
    unknown = sorted(int(s) for s in set(spu.tolist()) if s not in su.index)
    if unknown:
        raise SimulationError(
            f"stands have spatial unit id(s) {unknown} that are not in table spatial_unit of {str(inputs.path)!r} "
            "(check admin_boundary/eco_boundary in variables.json)"
        )
    no_spinup = sorted(int(s) for s in set(spu.tolist()) if pd.isna(su.loc[s, "return_interval"]))
    if no_spinup:
        raise SimulationError(f"spatial unit(s) {no_spinup} have no spinup_parameter row in {str(inputs.path)!r}")
    if np.isnan(temperature).any():
        raise SimulationError(
            f"{int(np.isnan(temperature).sum())} stand(s) have no mean annual temperature: GCBM's decay needs "
            "variables.json's mean_annual_temperature (a layer or a value)"
        )


def run_scope(stands, inputs: InputDb) -> RunScope:
    """The RunScope of a whole StandSet (what ``simulate_libcbm`` builds its parameters for)."""
    st = stands.stands.reset_index(drop=True)
    cls = st[list(stands.classifier_names)].astype(str).reset_index(drop=True)
    gc = match_growth_curves(inputs, cls)
    return _scope(st["spatial_unit_id"].to_numpy(dtype=np.int64), gc, _with_type_ids(stands.events, inputs), inputs)


def simulate_libcbm(config, stands, inputs: InputDb, reporters: list[Reporter], *, progress: bool = True,
                    work_dir: Path | None = None, scope: RunScope | None = None) -> RunSummary:
    """Spin up and run a StandSet; call every reporter after spinup and after each year.

    ``scope``: build the parameters for at least this RunScope (a chunk of a larger run passes the run's).
    """
    t0 = time.perf_counter()
    st = stands.stands.reset_index(drop=True)
    n = len(st)
    classifier_names = list(stands.classifier_names)
    cls = st[classifier_names].astype(str).reset_index(drop=True)
    spu = st["spatial_unit_id"].to_numpy(dtype=np.int64)
    temperature = st["mean_annual_temperature"].to_numpy(dtype=np.float64)
    age0 = st["age"].to_numpy(dtype=np.int64)
    area = st["area_ha"].to_numpy(dtype=np.float64)
    _check_stands(spu, temperature, inputs)
    gc = match_growth_curves(inputs, cls)

    events = _with_type_ids(stands.events, inputs)
    start, end = int(config.start_year), int(config.end_year)

    own = _scope(spu, gc, events, inputs).union(scope)
    spus = list(own.spatial_unit_ids)
    spin_params = spinup_parameters(config, inputs, spus)
    historic = {s: int(spin_params.loc[s, "historic_id"]) for s in spus}
    last_pass = {s: int(spin_params.loc[s, "last_pass_id"]) for s in spus}
    trans = inputs.transitions.set_index("transition_id")
    tcls = inputs.transition_classifiers
    units = pd.DataFrame([(s, g) for s in spus for g in own.growth_curve_ids], columns=["spatial_unit_id", "growth_curve_id"])
    dist_ids = sorted(set(own.disturbance_type_ids) | set(historic.values()) | set(last_pass.values()))
    spin = getattr(config, "spinup", None)
    minimum_rotation = int(getattr(spin, "minimum_rotation", 10))
    if int(getattr(spin, "delay", 0) or 0) != 0:
        raise SimulationError("spinup.json SpinupVariables.delay > 0 is not supported by the libcbm engine")

    t_setup = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        params = build_libcbm_db(
            inputs, Path(tmp) / "libcbm_params.db", units,
            slow_mixing_rate=float(getattr(config, "slow_mixing_rate", 0.006)),
            minimum_rotation=minimum_rotation, disturbance_type_ids=dist_ids,
        )
        with open_libcbm(params) as core:
            model = _Model(
                core=core, db=inputs, params=params, historic=historic,
                return_interval={s: int(spin_params.loc[s, "return_interval"]) for s in spus},
                max_rotations={s: int(spin_params.loc[s, "max_rotations"]) for s in spus},
                minimum_rotation=minimum_rotation, last_pass=last_pass,
            )
            # spinup on its own key: (spu, growth curve, temperature, age)
            # GCBM: a negative initial age is a regeneration delay after a stand of age 0
            skey = pd.DataFrame({"spu": spu, "gc": gc, "t": temperature, "age": np.maximum(age0, 0)})
            s_unique = skey.drop_duplicates().reset_index(drop=True)
            bar = None
            if progress and len(s_unique) >= 1000:
                from tqdm import tqdm

                bar = tqdm(total=max(model.max_rotations.values()), desc="spinup rotations", unit="rot")
            t_spinup = time.perf_counter()
            try:
                sp_pools, sp_destroyed = spinup_in_two(
                    model, s_unique["spu"].to_numpy(), s_unique["gc"].to_numpy(),
                    s_unique["t"].to_numpy(), s_unique["age"].to_numpy(),
                    last_pass=np.array([last_pass[int(x)] for x in s_unique["spu"]], dtype=np.int32),
                    progress=(lambda r: bar.update(1)) if bar else None,
                )
            finally:
                if bar:
                    bar.close()
            back = skey.merge(s_unique.reset_index(), on=["spu", "gc", "t", "age"], how="left")["index"].to_numpy()
            pools = sp_pools[back].copy()
            destroyed = sp_destroyed[back].copy()
            t_steps = time.perf_counter()
            summary = _run(core, params, config, cls, spu, gc, temperature, np.maximum(age0, 0), area, events, trans,
                           tcls, inputs, pools, destroyed, reporters, start, end, progress, regen0=np.maximum(-age0, 0))
    summary.n_spinup_groups = len(s_unique)
    # wall-clock split (benchmarks/vs_gcbm.py); the steps include the reporters called in the loop
    summary.timings = {
        "libcbm_setup_seconds": round(t_spinup - t_setup, 3),
        "spinup_seconds": round(t_steps - t_spinup, 3),
        "steps_and_reporters_seconds": round(time.perf_counter() - t_steps, 3),
    }
    summary.n_pixels = int(st["n_pixels"].sum()) if "n_pixels" in st else n
    summary.seconds = time.perf_counter() - t0
    return summary


def flux_projection(params: LibcbmParameters) -> tuple[list[FluxKey], np.ndarray]:
    """Map libcbm flux indicators to GCBM flux keys: (keys, matrix (n_indicators, n_keys)).

    Indicators with the same GCBM key are summed; every biomass turnover flow X -> sink also counts
    as Atmosphere -> X (GCBM's mid-season growth replaces what turnover removes).
    """
    keys: list[FluxKey] = []
    index: dict[FluxKey, int] = {}

    def key_index(k: FluxKey) -> int:
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
        return index[k]

    for fi in params.flux_indicators:
        key_index(fi.flux_key())
    proj = np.zeros((len(params.flux_indicators), len(keys)))
    for i, fi in enumerate(params.flux_indicators):
        proj[i, key_index(fi.flux_key())] = 1.0
        if fi.process == BIOMASS_TURNOVER_PROCESS:
            proj[i, index[FluxKey(GROWTH_MODULE, ATMOSPHERE, fi.source, ANNUAL_PROCESS)]] += 1.0
    return keys, proj


def _rule_matcher(config, inputs: InputDb) -> TransitionRuleMatcher | None:
    """GCBM matches transition rules only when variables.json defines ``transition_rule_matches``
    (CBMTransitionRulesModule's ``_allowMatchingRules``) and the db has rules."""
    variables = getattr(config, "variables", None) or {}
    if variables and "transition_rule_matches" not in variables:
        return None
    matcher = TransitionRuleMatcher(inputs.path)
    if not matcher.has_rules:
        matcher.close()
        return None
    return matcher


def _run(core, params, config, cls, spu, gc, temperature, age, area, events, trans, tcls, inputs,
         pools, destroyed, reporters, start, end, progress, regen0) -> RunSummary:
    n = len(spu)
    names = gcbm_pool_names(config)
    flux_keys, proj = flux_projection(params)
    # proj is 0/1 and sparse: gather one indicator per key, then add the rest column by column
    first = proj.argmax(axis=0)
    extra = [(i, k) for i, k in zip(*np.nonzero(proj)) if first[k] != i]

    def project(flux: np.ndarray) -> np.ndarray:
        out = flux[:, first]
        for i, k in extra:
            out[:, k] += flux[:, i]
        return out
    type_names = {int(i): str(nm) for i, nm in zip(inputs.disturbance_types["id"], inputs.disturbance_types["name"])}
    type_codes = {
        int(i): int(c) for i, c in zip(inputs.disturbance_types["id"], pd.to_numeric(inputs.disturbance_types["code"], errors="coerce"))
        if pd.notna(c)
    }
    lc0_hist = str(getattr(config, "initial_historic_land_class", "FL") or "FL")
    lc0_cur = str(getattr(config, "initial_current_land_class", "FL") or "FL")
    lc_hist = np.full(n, lc0_hist, dtype=object)
    lc_cur = np.full(n, lc0_cur, dtype=object)
    lc_last = lc_cur.copy()
    since = np.zeros(n, dtype=np.int64)
    land_class = np.array([f"UNFCCC_{h}_R_{c}" for h, c in zip(lc_hist, lc_cur)], dtype=object)
    lcs = inputs.land_classes
    lc_forest = {str(c): bool(f) for c, f in zip(lcs["code"], lcs["is_forest"])}
    lc_years = {str(c): int(y) for c, y in zip(lcs["code"], lcs.get("years_to_permanent", pd.Series(0, index=lcs.index)).fillna(0))}
    lc_code = dict(zip(lcs["id"].astype(int), lcs["code"].astype(str)))
    dts = inputs.disturbance_types
    type_land_class = {
        int(i): lc_code.get(int(t), "") for i, t in zip(dts["id"], dts["transition_land_class_id"]) if pd.notna(t)
    }
    is_forest = np.array([lc_forest.get(c, True) for c in lc_cur], dtype=bool)
    regen = np.asarray(regen0, dtype=np.int64).copy()

    rules: dict[int, tuple] = {}
    matcher = _rule_matcher(config, inputs)

    def transition_rules(tr: int) -> tuple:
        """(regen delay, reset type, reset age, [(classifier, value)]) of a transition (GCBM's transition table)."""
        if tr not in rules:
            if tr not in trans.index:
                raise SimulationError(f"transition {tr} (from a disturbance layer) is not in table transition of {str(inputs.path)!r}")
            t = trans.loc[tr]
            kind = str(t["reset_type"]).lower()
            if kind == "yield":
                raise SimulationError(f"transition {tr}: the 'yield' age reset is not supported by the libcbm engine")
            changes = [
                (str(c), str(v)) for c, v in tcls.loc[tcls["transition_id"] == tr, ["classifier_name", "classifier_value"]].itertuples(index=False)
                if str(v) != "?"
            ]
            rules[tr] = (int(t["regen_delay"]), kind, int(t["age"]), changes)
        return rules[tr]
    age = age.astype(np.int64).copy()
    gc0 = gc.copy()  # a growth curve of the stand's spatial unit, for parameter units
    gc = gc.copy()
    decaying = np.ones(n, dtype=bool)  # GCBM's is_decaying
    cls = cls.copy()
    unit = params.unit_id(spu, gc)
    gcv = np.array([core.gc_value_id[int(g)] for g in gc], dtype=np.int32)
    no_dist = np.zeros(n, dtype=np.int64)

    def emit(step, year, flux, dist, prev_cls, prev_age):
        out = StepOutput(
            step=step, year=year, pool_names=names, pools=_pool_block(core, pools, destroyed, names),
            age=age.copy(), flux_keys=flux_keys, fluxes=project(flux), disturbance_type_id=dist,
            disturbance_type_name=type_names, disturbance_type_code=type_codes, classifiers=cls.copy(), previous_classifiers=prev_cls,
            previous_age=prev_age, land_class=land_class.copy(), area_ha=area,
        )
        for r in reporters:
            r(out)

    emit(0, 0, core.new_flux(n), no_dist, cls.copy(), age.copy())

    static = core.static_ops(unit, temperature)
    years = list(range(start, end + 1))
    bar = None
    if progress and len(years) * n > 2_000_000:
        from tqdm import tqdm

        bar = tqdm(total=len(years), desc="libcbm engine", unit="yr")
    try:
        for step, year in enumerate(years, start=1):
            prev_cls = cls.copy()
            prev_age = age.copy()
            flux = core.new_flux(n)
            dist = np.zeros(n, dtype=np.int64)
            ev = events[events["year"] == year]
            if len(ev):
                order_col = "order" if "order" in ev.columns else None
                ev = ev.sort_values(["stand_id"] + ([order_col] if order_col else []), kind="stable")
                ev = ev.assign(_k=ev.groupby("stand_id").cumcount())
                changed = False
                for _, batch in ev.groupby("_k"):
                    rows = batch["stand_id"].to_numpy(dtype=np.int64)
                    dtype = np.zeros(n, dtype=np.int32)
                    dtype[rows] = batch["disturbance_type_id"].to_numpy(dtype=np.int32)
                    tr_of = np.full(n, -1, dtype=np.int64)
                    if "transition" in batch:
                        tr_of[rows] = batch["transition"].astype("Float64").fillna(-1).to_numpy(dtype=np.int64)
                    # CBMDisturbanceListener: land class first, then the matrix (no matrix: event skipped)
                    done = core.disturb(unit, dtype, pools, dtype > 0, flux)
                    if done.size == 0:
                        continue
                    dist[done] = dtype[done]
                    new_lc = np.array([type_land_class.get(int(t), "") for t in dtype[done]], dtype=object)
                    to_change = new_lc != ""
                    lc_cur[done[to_change]] = new_lc[to_change]
                    # CBMDisturbanceEventModule: age 0 when almost no live biomass is left
                    live = pools[np.ix_(done, core.biomass_idx)].sum(axis=1)
                    age[done[live < GCBM_AGE_RESET_BIOMASS]] = 0
                    # CBMTransitionRulesModule: the sidecar's transition id, else the rule matched on the
                    # stand's classifier set as it is now (after earlier events' transitions)
                    if matcher is not None:
                        unmatched = done[tr_of[done] < 0]
                        if unmatched.size:
                            keys = cls.iloc[unmatched].assign(_type=dtype[unmatched])
                            for key, idx in keys.groupby(list(keys.columns), sort=False).indices.items():
                                cset = dict(zip(cls.columns, key[:-1]))
                                tr_of[unmatched[idx]] = matcher.transition(cset, type_names.get(int(key[-1]), ""))
                    for sid in done[tr_of[done] >= 0]:
                        regen_delay, kind, reset_age, changes = transition_rules(int(tr_of[sid]))
                        regen[sid] = regen_delay
                        for cname, cvalue in changes:
                            if cname in cls.columns:
                                cls.at[sid, cname] = cvalue
                                changed = True
                        if kind == "absolute" and reset_age > -1:
                            age[sid] = reset_age
                        elif kind == "relative":
                            age[sid] = max(0, age[sid] + reset_age)
                if changed:
                    gc = _curves_or_none(inputs, cls)
                    has = gc >= 0
                    # a set with no growth curve keeps its old parameter unit: decay's parameters are the
                    # spatial unit's, and such a stand never grows again
                    unit = np.where(has, params.unit_id(spu, np.where(has, gc, gc0)), unit)
                    gcv = np.where(has, np.array([core.gc_value_id[int(g)] if g >= 0 else -1 for g in gc], dtype=np.int32), gcv)
                    core._free(static)
                    static = core.static_ops(unit, temperature)
            # CBMLandClassTransitionModule (string work only on stands whose land class is in transition)
            moved = lc_cur != lc_last
            since += 1
            if moved.any():
                lc_hist[moved] = lc_last[moved]
                lc_last[moved] = lc_cur[moved]
                since[moved] = 0
            pending = np.flatnonzero(moved | (lc_cur != lc_hist))
            if pending.size:
                cur = lc_cur[pending]
                permanent = ~moved[pending] & (since[pending] > np.array([lc_years.get(c, 0) for c in cur]))
                lc_hist[pending[permanent]] = cur[permanent]
                is_forest[pending] = [lc_forest.get(c, True) for c in cur]
                land_class[pending] = [f"UNFCCC_{h}_R_{c}" for h, c in zip(lc_hist[pending], cur)]
            decaying[moved] = True  # CBMLandClassTransitionModule: a land-class change restarts decay
            delayed = regen > 0
            # YieldTableGrowthModule: past the delay, a stand whose classifier set has no growth curve
            # sets is_decaying false (getYieldCurve), so CBMDecayModule stops too
            decaying[~delayed & (gc < 0)] = False
            grow = ~delayed & (gc >= 0) & is_forest
            core.annual_process(static, unit, gcv, pools, age.astype(np.int32), grow, decaying, flux)
            regen[delayed] -= 1
            age[grow] += 1
            emit(step, year, flux, dist, prev_cls, prev_age)
            if bar:
                bar.update(1)
    finally:
        core._free(static)
        if matcher is not None:
            matcher.close()
        if bar:
            bar.close()
    return RunSummary(n_pixels=n, n_stands=n, n_spinup_groups=0, years=len(years), seconds=0.0)
