"""Builders (imported by the tests as `outputs_fixtures`) for StepOutputs and GCBM-schema databases used by the outputs tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flintcloud.engine.step import ANNUAL_PROCESS, DISTURBANCE, FluxKey, StepOutput

POOLS = ["AboveGroundSlowSoil", "Atmosphere", "CO2", "HardwoodMerch", "SoftwoodMerch", "SoftwoodStemSnag"]
FLUX_KEYS = [
    FluxKey("CBMGrowthModule", "Atmosphere", "SoftwoodMerch", ANNUAL_PROCESS),
    FluxKey("CBMGrowthModule", "Atmosphere", "HardwoodMerch", ANNUAL_PROCESS),
    FluxKey("CBMDecayModule", "AboveGroundSlowSoil", "CO2", ANNUAL_PROCESS),
    FluxKey("CBMDisturbanceEventModule", "SoftwoodMerch", "CO2", DISTURBANCE),
    FluxKey("CBMDisturbanceEventModule", "SoftwoodMerch", "SoftwoodStemSnag", DISTURBANCE),
]
DIST_NAMES = {1: "Wildfire", 136: "Mountain pine beetle — Low impact"}


def make_step(
    step: int,
    *,
    pools: np.ndarray,
    fluxes: np.ndarray | None = None,
    age,
    dist=None,
    classifiers=None,
    area=(1.5, 2.0, 0.25),
    start_year: int = 2010,
    land_class=None,
) -> StepOutput:
    n = len(age)
    classifiers = classifiers if classifiers is not None else [("TA", "7"), ("TA", "7"), ("BF", "6")][:n]
    cls = pd.DataFrame(classifiers, columns=["Classifier1", "Classifier2"])
    return StepOutput(
        step=step,
        year=0 if step == 0 else start_year + step - 1,
        pool_names=list(POOLS),
        pools=np.asarray(pools, dtype=float),
        age=np.asarray(age, dtype=np.int64),
        flux_keys=list(FLUX_KEYS),
        fluxes=np.zeros((n, len(FLUX_KEYS))) if fluxes is None else np.asarray(fluxes, dtype=float),
        disturbance_type_id=np.zeros(n, dtype=np.int64) if dist is None else np.asarray(dist, dtype=np.int64),
        disturbance_type_name=dict(DIST_NAMES),
        classifiers=cls,
        previous_classifiers=cls.copy(),
        previous_age=np.asarray(age, dtype=np.int64) - (1 if step else 0),
        land_class=np.array(land_class or ["UNFCCC_FL_R_FL"] * n),
        area_ha=np.asarray(area[:n], dtype=float),
    )


def three_stand_run() -> list[StepOutput]:
    """Spinup + 2 years for 3 stands; stand 1 burns in year 2 (2011) and resets to age 0."""
    rng = np.random.default_rng(7)
    pools0 = rng.uniform(0, 100, size=(3, len(POOLS)))
    pools0[:, 1] = -pools0.sum(axis=1)  # atmosphere balances
    steps = [make_step(0, pools=pools0, age=[45, 45, 150])]
    fl1 = np.array(
        [
            [2.0, 0.5, 1.0, 0.0, 0.0],
            [2.0, 0.5, 1.0, 0.0, 0.0],
            [0.0, -0.25, 3.0, 0.0, 0.0],  # negative growth, no softwood growth (zero -> not recorded)
        ]
    )
    steps.append(make_step(1, pools=pools0 + 1.0, fluxes=fl1, age=[46, 46, 151]))
    fl2 = fl1.copy()
    fl2[1] = [0.0, 0.0, 1.0, 30.0, 10.0]
    steps.append(make_step(2, pools=pools0 + 2.0, fluxes=fl2, age=[47, 0, 152], dist=[0, 1, 0]))
    return steps

