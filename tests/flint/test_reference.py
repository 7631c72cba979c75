"""FLINT's own numbers: the published outputs of moja.cli for FLINT.Cloud's Point and RothC configs.

Every pool at every step to 1e-9 relative (absolute 1e-9 near zero), every line of the CSV but the two
timestamps byte for byte, and the sum of all pools conserved at every step.
"""

from __future__ import annotations

import json
import math

import pytest

from flintcloud.flint import default_point_configs, default_rothc_configs, run_config_files, run_configs

CASES = {
    "point": (("point_example.json", "libs.base.simple.json"), "default_point_output.csv"),
    "rothc": (("point_rothc_example.json", "libs.base_rothc.simple.json"), "default_point_rothc_output.csv"),
}


def parse_outputer_csv(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    assert lines[0] == "OutputerStream" and set(lines[1]) == {"="} and lines[2].startswith("Started:")
    assert set(lines[3]) == {"="} and set(lines[-1]) == {"="} and lines[-2].startswith("Finished:")
    header = lines[4].split(",")
    assert header[-1] == ""
    rows = [line.split(",") for line in lines[5:-3]]
    assert all(r[-1] == "" for r in rows)
    return header[:-1], [r[:-1] for r in rows]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) <= 1e-9


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_pool_every_step_matches_flint(flint_example, case):
    configs, output = CASES[case]
    result = run_config_files([flint_example / "config" / c for c in configs])
    ref_header, ref_rows = parse_outputer_csv((flint_example / "output" / output).read_text())
    header, rows = parse_outputer_csv(result.to_csv())
    assert header == ref_header
    assert len(rows) == len(ref_rows) == 61
    pools = header[5:]
    bad = []
    for got, ref in zip(rows, ref_rows):
        assert got[:3] == ref[:3]            # notification, step, stepDate
        for i, name in enumerate(header[3:], start=3):   # fracOfStep, stepLenInYears and every pool
            if not close(float(got[i]), float(ref[i])):
                bad.append(f"step {ref[1]} {name}: {got[i]} != FLINT {ref[i]}")
    assert not bad, "\n".join(bad[:20])
    # the records carry the same numbers as the CSV
    recs = result.to_records()
    for rec, ref in zip(recs, ref_rows):
        for i, name in enumerate(pools, start=5):
            assert close(rec[name], float(ref[i]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_is_flints_text_but_the_timestamps(flint_example, case):
    configs, output = CASES[case]
    result = run_config_files([flint_example / "config" / c for c in configs])
    ref = (flint_example / "output" / output).read_text().splitlines()
    got = result.screen.splitlines()
    assert len(got) == len(ref) == 69
    for i, (a, b) in enumerate(zip(got, ref)):
        if i in (2, len(ref) - 2):
            assert a.split(":", 1)[0] == b.split(":", 1)[0]   # Started: / Finished:
            assert a.endswith(" UTC") or a.count(" ") >= 4
        else:
            assert a == b, f"line {i + 1}"
    assert result.screen == result.to_csv() == result.files[result.stock_file]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sum_of_pools_conserved_every_step(flint_example, case):
    configs, output = CASES[case]
    result = run_config_files([flint_example / "config" / c for c in configs])
    total0 = sum(result.steps[0].pools)
    for s in result.steps:
        scale = max(1.0, max(abs(v) for v in s.pools))
        assert abs(sum(s.pools) - total0) <= 1e-13 * scale * len(s.pools), (s.step, sum(s.pools), total0)
    # FLINT's own file conserves the same sum
    _, ref_rows = parse_outputer_csv((flint_example / "output" / output).read_text())
    for r in ref_rows:
        vals = [float(v) for v in r[5:]]
        assert abs(sum(vals) - total0) <= 1e-12 * max(1.0, max(map(abs, vals))) * len(vals)


def test_point_totals_and_rothc_end_state(flint_example):
    point = run_configs(default_point_configs())
    assert all(math.isclose(sum(s.pools), 300.0, rel_tol=0, abs_tol=1e-13 * max(map(abs, s.pools)) * 3 + 1e-12)
               for s in point.steps)
    rothc = run_configs(default_rothc_configs())
    end = dict(zip(rothc.pool_names, rothc.steps[-1].pools))
    # FLINT's last row (default_point_rothc_output.csv, step 60)
    assert end["SoilHUM"] == pytest.approx(71.7269536830433, rel=1e-12)
    assert end["atmosphere"] == pytest.approx(319.550192090152, rel=1e-12)
    assert end["SoilIOM"] == 43.0 and end["offsiteCM"] == 0.0 and end["initialValues"] == -72.741


def test_packaged_defaults_are_flint_clouds_configs(flint_example):
    for kind, fn in (("point", default_point_configs), ("rothc", default_rothc_configs)):
        shipped = fn()
        published = [json.loads((flint_example / "config" / c).read_text()) for c in CASES[kind][0]]
        assert shipped == published


def test_flux_rows_balance_every_pool_change(flint_example):
    """The flux CSV's transfers account for every change in every pool, step by step."""
    result = run_configs(default_rothc_configs())
    idx = {n: i for i, n in enumerate(result.pool_names)}
    for prev, cur in zip(result.steps, result.steps[1:]):
        delta = [0.0] * len(idx)
        for f in result.fluxes:
            if f.step == cur.step:
                delta[idx[f.source]] -= f.value
                delta[idx[f.sink]] += f.value
        for i, name in enumerate(result.pool_names):
            assert cur.pools[i] - prev.pools[i] == pytest.approx(delta[i], abs=1e-12), (cur.step, name)
    init = [f for f in result.fluxes if f.step == 0]
    assert [(f.module, f.source, f.sink, f.value) for f in init] == [
        ("RothCModule", "initialValues", p, v) for p, v in
        (("SoilDPM", 0.02), ("SoilRPM", 8.681), ("SoilBioF", 0.05), ("SoilBioS", 0.03), ("SoilHUM", 20.96),
         ("SoilIOM", 43.0))]
    text = result.files["Example_Rothc_Point_Flux.csv"].splitlines()
    assert text[0] == "OutputerStreamFlux" and text[4] == ("step,step date,module name,disturbance_type,"
                                                           "source pool,sink pool,value")
    assert text[5] == "0,1919-12-01:00:00:00.000000,RothCModule,initialValues,SoilDPM,0.02"
    assert text[11].startswith("1,1920-01-01:00:00:00.000000,PlantResidueModule,plantCM,SoilDPM,")


def test_run_example_is_flint_clouds_api(flint_example):
    """POST /point, /rothc: empty body = the default; a body replaces the run config, the libs file stays."""
    from flintcloud.errors import ConfigError
    from flintcloud.flint import run_example

    ref = (flint_example / "output" / "default_point_rothc_output.csv").read_text().splitlines()
    got = run_example("rothc").screen.splitlines()
    assert [g for i, g in enumerate(got) if i not in (2, 67)] == [r for i, r in enumerate(ref) if i not in (2, 67)]
    body = json.loads((flint_example / "config" / "point_example.json").read_text())
    body["Pools"] = [{"Pool 1": 10.0}, {"Pool 2": 20.0}, {"Pool 3": 30.0}]
    r = run_example("point", body)
    assert r.steps[0].pools == (10.0, 20.0, 30.0)
    assert abs(sum(r.steps[-1].pools) - 60.0) <= 1e-13 * max(map(abs, r.steps[-1].pools)) * 3
    del body["LocalDomain"]["start_date"]
    with pytest.raises(ConfigError, match="request body: LocalDomain.start_date is missing"):
        run_example("point", body)
    with pytest.raises(ConfigError, match="unknown FLINT example"):
        run_example("gcbm")


def test_stock_csv_reads_back(flint_example):
    """parse_stock_csv reads FLINT's published file; its numbers are the run's at print precision."""
    from flintcloud.errors import OutputError
    from flintcloud.flint.outputs import parse_stock_csv

    names, recs = parse_stock_csv((flint_example / "output" / "default_point_rothc_output.csv").read_text())
    result = run_configs(default_rothc_configs())
    assert names == result.pool_names and len(recs) == 61
    for a, b in zip(recs, result.to_records()):
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] if isinstance(a[k], (str, int)) else close(a[k], b[k]) for k in a)
    with pytest.raises(OutputError, match="no OutputerStream column line"):
        parse_stock_csv("step,step date\n", "x.csv")
    with pytest.raises(OutputError, match="x.csv: line 2 has 3 values"):
        parse_stock_csv("notification,step,stepDate,fracOfStep,stepLenInYears,A,\na,1,2,\n", "x.csv")
