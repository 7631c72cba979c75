"""Engine fixtures: the FLINT.Cloud demo read through the project's own readers."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_run_inputs(flint_demo):
    """(config, StandSet, InputDb) of the FLINT.Cloud demo."""
    from flintcloud.run import prepare_run

    prepared = prepare_run(flint_demo / "config")  # the same reading path as flintcloud run
    return prepared.config, prepared.stands, prepared.inputs
