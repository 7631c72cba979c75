"""spinup_in_two (two halves of the spinup rows, two libcbm models, two threads) changes no bit."""

from __future__ import annotations

import dataclasses

import numpy as np

from flintcloud.engine import libcbm_engine, simulate


def _steps(config, stands, db):
    out = []
    simulate(config, stands, db, [lambda s: out.append((s.pools.copy(), s.fluxes.copy(), s.age.copy()))],
             progress=False)
    return out


def test_split_spinup_gives_the_same_bits_as_one_call(demo_run_inputs, monkeypatch):
    config, stands, db = demo_run_inputs
    st = stands.stands.copy()
    st["age"] = st["age"] + 120  # older stands: the regrowth and overmature paths run in spinup too
    aged = dataclasses.replace(stands, stands=st)
    monkeypatch.setattr(libcbm_engine, "SPINUP_SPLIT_MIN", 10**9)
    whole = _steps(config, aged, db)
    calls = []
    real_open = libcbm_engine.open_libcbm

    def counting_open(params):
        calls.append(params)
        return real_open(params)

    monkeypatch.setattr(libcbm_engine, "SPINUP_SPLIT_MIN", 2)  # the demo's 10 rotation rows: two halves
    monkeypatch.setattr(libcbm_engine, "open_libcbm", counting_open)
    split = _steps(config, aged, db)
    assert len(calls) == 2  # the run's model and the second half's own
    assert len(split) == len(whole) == 12
    for (p1, f1, a1), (p2, f2, a2) in zip(whole, split):
        assert p1.tobytes() == p2.tobytes() and f1.tobytes() == f2.tobytes()
        np.testing.assert_array_equal(a1, a2)
