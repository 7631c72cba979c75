"""What an engine hands to reporters after spinup and after every simulated year.

Values are per hectare; reporters multiply by ``area_ha``. Reporters compute no
science: they aggregate and write (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

GROWTH_MODULE = "CBMGrowthModule"
DECAY_MODULE = "CBMDecayModule"
DISTURBANCE_MODULE = "CBMDisturbanceEventModule"

ANNUAL_PROCESS = "annual_process"
DISTURBANCE = "disturbance"


@dataclass(frozen=True)
class FluxKey:
    """One flux column: which GCBM module moved carbon from which pool to which."""

    module: str  # CBMGrowthModule | CBMDecayModule | CBMDisturbanceEventModule
    source: str  # GCBM pool name (PoolDimension.poolName), e.g. "Atmosphere"
    sink: str
    flux_source: str  # "annual_process" | "disturbance" (as modules_output.json uses it)


@dataclass
class StepOutput:
    """The state of every stand at the end of one step, and what moved during it."""

    step: int  # 0 = after spinup, 1.. = simulated years
    year: int  # 0 for step 0, else start_year + step - 1
    pool_names: list[str]  # GCBM pool names, pools_cbm.json order
    pools: np.ndarray  # (n_stands, n_pools) tC/ha at the end of the step
    age: np.ndarray  # (n_stands,) int, at the end of the step
    flux_keys: list[FluxKey]
    fluxes: np.ndarray  # (n_stands, n_flux_keys) tC/ha during the step
    disturbance_type_id: np.ndarray  # (n_stands,) int, 0 = no disturbance this step
    disturbance_type_name: dict[int, str]
    classifiers: pd.DataFrame  # (n_stands, n_classifiers) str, after this step's transitions
    previous_classifiers: pd.DataFrame  # before this step (DisturbanceDimension.previousLocationDimId)
    previous_age: np.ndarray  # (n_stands,) age at the start of the step
    land_class: np.ndarray  # (n_stands,) str, e.g. "UNFCCC_FL_R_FL"
    area_ha: np.ndarray  # (n_stands,) ha
    # disturbance type id -> gcbm_input.db's disturbance_type.code (GCBM's DisturbanceTypeDimension.disturbanceType)
    disturbance_type_code: dict[int, int] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # engine-specific diagnostics; reporters may ignore

    @property
    def n_stands(self) -> int:
        return int(self.pools.shape[0])

    def pool_totals(self) -> pd.Series:
        """Area-weighted total (tC) of every pool over all stands."""
        return pd.Series(self.area_ha @ self.pools, index=self.pool_names)

    def flux_totals(self) -> pd.Series:
        """Area-weighted total (tC) of every flux key over all stands."""
        return pd.Series(self.area_ha @ self.fluxes, index=pd.Index(self.flux_keys, tupleize_cols=False))


@dataclass
class RunSummary:
    """What ``simulate`` reports at the end of a run."""

    n_pixels: int
    n_stands: int
    n_spinup_groups: int
    years: int
    seconds: float
    engine: str = "libcbm"
    # Wall-clock seconds by part of the run (grouping, simulation, compile). Kept out of
    # run_summary.json so that the same inputs always give byte-identical outputs.
    timings: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.engine}: {self.n_pixels} pixels, {self.n_stands} unique stands "
            f"({self.n_spinup_groups} spinup groups), {self.years} years, {self.seconds:.1f} s"
        )


class StepTotals:
    """A reporter that keeps landscape totals per step (tC, ha): small, whatever the number of stands.

    ``pools``: (year, pool) -> tC; ``fluxes``: (year, module, source, sink, disturbance_type_id) -> tC
    (disturbance_type_id 0 for annual processes); ``disturbed_area``: (year, disturbance_type_id) -> ha;
    ``age_area``: (year, age) -> ha.
    """

    def __init__(self) -> None:
        self.pools: dict[tuple[int, str], float] = {}
        self.fluxes: dict[tuple[int, str, str, str, int], float] = {}
        self.disturbed_area: dict[tuple[int, int], float] = {}
        self.age_area: dict[tuple[int, int], float] = {}
        self.type_names: dict[int, str] = {}

    def __call__(self, step: StepOutput) -> None:
        y = step.year
        self.type_names.update(step.disturbance_type_name)
        for name, v in zip(step.pool_names, step.area_ha @ step.pools):
            self.pools[(y, name)] = float(v)
        dist = step.disturbance_type_id
        for d in np.unique(dist):
            rows = dist == d
            totals = step.area_ha[rows] @ step.fluxes[rows]
            for key, v in zip(step.flux_keys, totals):
                if v == 0.0:
                    continue
                dt = int(d) if key.flux_source == DISTURBANCE else 0
                k = (y, key.module, key.source, key.sink, dt)
                self.fluxes[k] = self.fluxes.get(k, 0.0) + float(v)
            if d != 0:
                self.disturbed_area[(y, int(d))] = float(step.area_ha[rows].sum())
        ages, inv = np.unique(step.age, return_inverse=True)
        for a, v in zip(ages, np.bincount(inv, weights=step.area_ha)):
            self.age_area[(y, int(a))] = float(v)

    def pool_frame(self) -> pd.DataFrame:
        return pd.DataFrame([(y, p, v) for (y, p), v in self.pools.items()], columns=["year", "pool", "value"])

    def flux_frame(self) -> pd.DataFrame:
        rows = [(y, m, s, k, d, self.type_names.get(d, "") if d else None, v) for (y, m, s, k, d), v in self.fluxes.items()]
        return pd.DataFrame(rows, columns=["year", "module", "source", "sink", "disturbance_type_id", "disturbance_type", "value"])
