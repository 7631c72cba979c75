"""The local and dask executors: settings, chunking, and dask == local on the built-in demo."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from flintcloud.engine.executor import (
    ExecutorSettings,
    chunk_bounds,
    concat_steps,
    parse_executor,
    split_stands,
)
from flintcloud.engine.step import FluxKey, StepOutput
from flintcloud.errors import ConfigError, SimulationError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_parse_executor_defaults_and_forms():
    assert parse_executor(None) == ExecutorSettings(kind="local")
    assert parse_executor("local").kind == "local"
    s = parse_executor({"kind": "dask", "address": "tcp://10.0.0.5:8786", "chunks": 8})
    assert (s.kind, s.address, s.chunks) == ("dask", "tcp://10.0.0.5:8786", 8)
    s = parse_executor({"kind": "DASK", "n_workers": 3, "processes": False})
    assert (s.kind, s.address, s.n_workers, s.processes) == ("dask", None, 3, False)


@pytest.mark.parametrize(
    "value, message",
    [
        ("spark", r"kind 'spark': expected one of local, dask"),
        ({"kind": "dask", "workers": 2}, r"unknown key\(s\) \['workers'\]"),
        ({"kind": "dask", "chunks": 0}, r"chunks 0: expected a positive integer"),
        ({"kind": "dask", "processes": "yes"}, r"processes 'yes': expected true or false"),
        ({"kind": "dask", "timeout": -1}, r"timeout -1: expected a positive number"),
        (3, r"executor 3: expected 'local', 'dask'"),
    ],
)
def test_parse_executor_errors_name_the_value(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_executor(value)


def test_chunk_bounds_cover_every_stand_once():
    assert chunk_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert chunk_bounds(2, 5) == [(0, 1), (1, 2)]
    bounds = chunk_bounds(1001, 7)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1001
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def _stand_set(n=5):
    from flintcloud.landscape.stands import StandSet

    stands = pd.DataFrame({"Species": list("ABCDE")[:n], "spatial_unit_id": 1, "age": np.arange(n) * 10,
                           "mean_annual_temperature": 1.0, "area_ha": 1.0, "n_pixels": 1})
    events = pd.DataFrame({"stand_id": [0, 3, 4, 4], "year": [2011, 2012, 2011, 2013],
                           "disturbance_type": "Wildfire", "disturbance_type_id": 2})
    return StandSet(stands=stands, events=events, pixel_stand=np.zeros((1, n), dtype=np.int64), grid=None,
                    classifier_names=["Species"])


def test_spinup_order_keeps_spinup_groups_in_one_chunk():
    from flintcloud.engine.executor import snap_bounds, spinup_order

    stands = _stand_set()
    stands.stands["Species"] = ["A", "B", "A", "C", "B"]
    stands.stands["age"] = [5, 7, 5, 1, 7]
    order, starts = spinup_order(stands)
    assert order.tolist() == [0, 2, 1, 4, 3] and starts.tolist() == [0, 2, 4]
    assert snap_bounds([(0, 1), (1, 3), (3, 5)], starts, 5) == [(0, 2), (2, 4), (4, 5)]
    assert snap_bounds([(0, 3), (3, 5)], np.array([0, 4]), 5) == [(0, 4), (4, 5)]
    assert snap_bounds([(0, 3), (3, 5)], np.array([0]), 5) == [(0, 5)]
    a, b, c = split_stands(stands, [(0, 2), (2, 4), (4, 5)], order)
    assert a.stands["Species"].tolist() == ["A", "A"] and c.stands["Species"].tolist() == ["C"]
    # events follow their stands: stand 3 (C) -> chunk c, stand 4 (B) -> chunk b as its stand 1
    assert c.events["year"].tolist() == [2012]
    assert sorted(zip(b.events["stand_id"], b.events["year"])) == [(1, 2011), (1, 2013)]
    assert a.events["stand_id"].tolist() == [0]


def test_take_stands_reorders_every_per_stand_field():
    from flintcloud.engine.executor import take_stands

    keys = [FluxKey("CBMGrowthModule", "Atmosphere", "B", "annual_process")]
    step = take_stands(_piece(1, [5, 6, 7], keys), np.array([2, 0, 1]))
    assert step.age.tolist() == [7, 5, 6] and step.previous_age.tolist() == [7, 5, 6]
    assert step.classifiers["c"].tolist() == ["7", "5", "6"]
    assert step.pools.shape == (3, 2) and step.fluxes.shape == (3, 1)


def test_split_stands_renumbers_events_per_chunk():
    a, b = split_stands(_stand_set(), [(0, 3), (3, 5)])
    assert a.stands["Species"].tolist() == ["A", "B", "C"] and b.stands["Species"].tolist() == ["D", "E"]
    assert a.events["stand_id"].tolist() == [0]
    assert sorted(zip(b.events["stand_id"], b.events["year"])) == [(0, 2012), (1, 2011), (1, 2013)]
    assert a.pixel_stand.size == 0  # the grid index never goes to the workers


def _piece(step, stands, keys):
    n = len(stands)
    return StepOutput(
        step=step, year=2010 + step, pool_names=["A", "B"], pools=np.full((n, 2), float(stands[0])),
        age=np.array(stands), flux_keys=keys, fluxes=np.ones((n, len(keys))), disturbance_type_id=np.zeros(n, int),
        disturbance_type_name={2: "Wildfire"}, classifiers=pd.DataFrame({"c": [str(s) for s in stands]}),
        previous_classifiers=pd.DataFrame({"c": [str(s) for s in stands]}), previous_age=np.array(stands),
        land_class=np.array(["UNFCCC_FL_R_FL"] * n, dtype=object), area_ha=np.ones(n),
    )


def test_concat_steps_in_chunk_order_and_refuses_mismatched_keys():
    keys = [FluxKey("CBMGrowthModule", "Atmosphere", "B", "annual_process")]
    step = concat_steps([_piece(1, [0, 1], keys), _piece(1, [2, 3, 4], keys)])
    assert step.age.tolist() == [0, 1, 2, 3, 4]
    assert step.classifiers["c"].tolist() == ["0", "1", "2", "3", "4"]
    assert step.pools[:, 0].tolist() == [0, 0, 2, 2, 2]
    other = [FluxKey("CBMDecayModule", "A", "B", "annual_process")]
    with pytest.raises(SimulationError, match="different pools or flux keys"):
        concat_steps([_piece(1, [0], keys), _piece(1, [1], keys + other)])
    with pytest.raises(SimulationError, match="out of step"):
        concat_steps([_piece(1, [0], keys), _piece(2, [1], keys)])


def test_unreachable_scheduler_is_named(tmp_path):
    from flintcloud.engine.executor import dask_client
    from flintcloud.errors import EngineUnavailableError

    with pytest.raises(EngineUnavailableError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        with dask_client(parse_executor({"kind": "dask", "address": "tcp://127.0.0.1:9", "timeout": 1})):
            pass


def test_scheduler_without_workers_is_named():
    from distributed import LocalCluster

    from flintcloud.engine.executor import dask_client
    from flintcloud.errors import EngineUnavailableError

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        settings = parse_executor({"kind": "dask", "address": cluster.scheduler_address, "timeout": 1})
        with pytest.raises(EngineUnavailableError, match=r"has no worker after 1 s"):
            with dask_client(settings):
                pass


def test_cli_run_passes_executor_and_scheduler(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import importlib

    from flintcloud.cli import main

    cli_run = importlib.import_module("flintcloud.cli.run")  # (flintcloud.cli.run is also a function)
    from flintcloud.engine.step import RunSummary

    seen = []

    def fake_run_project(config_dir, out_dir, **kwargs):
        seen.append(kwargs["executor"])
        return RunSummary(n_pixels=1, n_stands=1, n_spinup_groups=1, years=1, seconds=0.0)

    monkeypatch.setattr(cli_run, "run_project", fake_run_project)
    runner = CliRunner()
    for args in ([], ["--executor", "dask"], ["--scheduler", "tcp://10.1.2.3:8786"]):
        result = runner.invoke(main, ["run", str(tmp_path), "--out", str(tmp_path / "out"), *args])
        assert result.exit_code == 0, result.output
    assert seen == ["local", "dask", {"kind": "dask", "address": "tcp://10.1.2.3:8786"}]


def _fake_engine(keys, fail_on_age=None, column="age"):
    """Stands in for simulate_libcbm on a worker: step 0, then step 1 (or an error), per chunk;
    each stand's StepOutput age is its ``column`` value."""
    from flintcloud.engine.step import RunSummary

    def fake(config, stands, inputs, reporters, *, progress, work_dir, scope):
        ages = [int(a) for a in stands.stands[column]]
        for r in reporters:
            r(_piece(0, ages, keys))
        if fail_on_age in ages:
            raise SimulationError(f"stand aged {fail_on_age} failed")
        for r in reporters:
            r(_piece(1, ages, keys))
        return RunSummary(n_pixels=len(ages), n_stands=len(ages), n_spinup_groups=1, years=1, seconds=0.0)

    return fake


def test_chunk_actor_hands_over_steps_and_stops_when_cancelled(tmp_path, monkeypatch):
    import time
    from types import SimpleNamespace

    import flintcloud.engine.libcbm_engine as engine
    from flintcloud.engine.executor import ChunkSimulation

    keys = [FluxKey("CBMGrowthModule", "Atmosphere", "B", "annual_process")]
    monkeypatch.setattr(engine, "simulate_libcbm", _fake_engine(keys))
    config = SimpleNamespace(config_dir=tmp_path)
    actor = ChunkSimulation(config, {}, _stand_set(), None, None)
    kinds = [actor._get()[0] for _ in range(3)]
    assert kinds == ["step", "step", "done"]

    actor = ChunkSimulation(config, {}, _stand_set(), None, None)
    assert actor._get()[0] == "step"
    time.sleep(0.3)  # step 1 is waiting in the queue of one, the thread waits to put "done"
    actor.cancel()
    actor._thread.join(timeout=60)  # a guard against hanging the suite, not a speed check
    assert not actor._thread.is_alive()
    assert actor._get() == ("cancelled", None)


def test_dask_protocol_concatenates_chunks_and_raises_a_chunks_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import flintcloud.engine.libcbm_engine as engine
    from flintcloud.engine.executor import dask_client, simulate_dask

    keys = [FluxKey("CBMGrowthModule", "Atmosphere", "B", "annual_process")]
    monkeypatch.setattr(engine, "run_scope", lambda stands, inputs: None)
    config = SimpleNamespace(config_dir=tmp_path, n_years=1)
    with dask_client(parse_executor({"kind": "dask", "n_workers": 2, "processes": False})) as client:
        monkeypatch.setattr(engine, "simulate_libcbm", _fake_engine(keys))
        seen = []
        summary = simulate_dask(config, _stand_set(), None, [lambda s: seen.append((s.step, s.age.tolist()))],
                                client, chunks=3)
        assert seen == [(0, [0, 10, 20, 30, 40]), (1, [0, 10, 20, 30, 40])]
        assert (summary.n_stands, summary.n_pixels, summary.n_spinup_groups) == (5, 5, 3)

        monkeypatch.setattr(engine, "simulate_libcbm", _fake_engine(keys, fail_on_age=30))
        seen.clear()
        with pytest.raises(SimulationError, match="stand aged 30 failed"):
            simulate_dask(config, _stand_set(), None, [lambda s: seen.append(s.step)], client, chunks=3)
        assert seen == [0]  # only whole-landscape steps reach the reporters

        # stands sharing a spinup key go to one chunk; the reporters still get them in stand order
        monkeypatch.setattr(engine, "simulate_libcbm", _fake_engine(keys, column="area_ha"))
        shared = _stand_set()
        shared.stands["Species"] = ["A", "B", "A", "C", "B"]
        shared.stands["age"] = 0
        shared.stands["area_ha"] = [0.0, 10.0, 20.0, 30.0, 40.0]
        seen = []
        summary = simulate_dask(config, shared, None, [lambda s: seen.append(s.age.tolist())], client, chunks=3)
        assert seen == [[0, 10, 20, 30, 40]] * 2 and summary.n_spinup_groups == 3


# ------------------------------------------------------------------ dask == local on the demo


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory):
    from flintcloud.demo import generate_demo_project
    from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config

    root = tmp_path_factory.mktemp("demo")
    project = generate_demo_project(root / "project", size=40, start_year=2010, end_year=2012)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["simulation"].update(start_year=2010, end_year=2012)
    params["project"]["dir"] = str(project)
    write_gcbm_config(project, root / "config", settings_from_params(params, base_dir=root))
    return root / "config"


def _table_rows(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}


def test_dask_gives_the_same_outputs_as_local(demo_config, tmp_path):
    from flintcloud.run import run_project

    local = run_project(demo_config, tmp_path / "local", executor="local")
    dask = run_project(
        demo_config, tmp_path / "dask",
        executor={"kind": "dask", "n_workers": 2, "processes": False, "chunks": 2},
    )
    assert local.n_stands == dask.n_stands > 3 and local.n_pixels == dask.n_pixels
    for db in ("gcbm_output.db", "compiled_gcbm_output.db"):
        a, b = _table_rows(tmp_path / "local" / db), _table_rows(tmp_path / "dask" / db)
        assert a.keys() == b.keys()
        for table in a:
            assert a[table] == b[table], f"{db}:{table} differs"
    assert len(_table_rows(tmp_path / "local" / "gcbm_output.db")["Fluxes"]) > 100
    maps = sorted(p.name for p in (tmp_path / "local" / "spatial").glob("*.tif"))
    assert maps and maps == sorted(p.name for p in (tmp_path / "dask" / "spatial").glob("*.tif"))
    for name in maps:
        with rasterio.open(tmp_path / "local" / "spatial" / name) as a, rasterio.open(tmp_path / "dask" / "spatial" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
