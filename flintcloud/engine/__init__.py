"""Simulation engines: embedded libcbm, and GCBM in its container.

``simulate(config, stands, inputs, reporters, engine="libcbm")`` spins up and
runs a StandSet, calling every reporter with a StepOutput after spinup (step 0)
and after each simulated year (docs/architecture.md).
"""

from __future__ import annotations

from typing import Callable

from flintcloud.errors import EngineUnavailableError
from flintcloud.params import IN_PROCESS_ENGINES

from .step import FluxKey, RunSummary, StepOutput

ENGINES = IN_PROCESS_ENGINES  # the in-process subset of flintcloud.params.ENGINES


def simulate(config, stands, inputs, reporters: list[Callable[[StepOutput], None]], engine: str = "libcbm",
             **options) -> RunSummary:
    """Run ``stands`` (a StandSet) with the parameters ``inputs`` (an InputDb) on the chosen engine.

    The libcbm engine simulates each unique stand once (results are per hectare; reporters scale
    by ``area_ha``). ``options`` go to the engine (libcbm: ``progress``, ``work_dir``).
    """
    if engine == "libcbm":
        from .libcbm_engine import simulate_libcbm

        return simulate_libcbm(config, stands, inputs, reporters, **options)
    raise EngineUnavailableError(
        f"engine {engine!r} cannot run in-process (known: {', '.join(ENGINES)}; "
        "the gcbm-container engine is started by flintcloud.run)"
    )


__all__ = ["simulate", "StepOutput", "FluxKey", "RunSummary", "ENGINES"]
