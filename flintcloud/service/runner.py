"""One run, in a process of its own: `python -m flintcloud.service.runner --data-dir DIR RUN_ID`.

Started by a worker (flintcloud.service.jobs); writes progress and the final status to the store
and its log to the run's run.log. SIGTERM (cancel, worker stopping) becomes KeyboardInterrupt, so
every atomic write removes its temporary folder and earlier results stay as they were.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import signal
import sys
import traceback
from pathlib import Path

from flintcloud.errors import FlintcloudError
from flintcloud.pipeline import run_pipeline, run_record
from flintcloud.service.blob import blob_mirror
from flintcloud.service.culprit import culprit_of
from flintcloud.service.paths import run_dir, simulation_dir
from flintcloud.service.overrides import simulation_params
from flintcloud.service.settings import read_settings
from flintcloud.service.store import Store

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the supervising worker dies, so no run outlives its worker."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def with_culprit(record: dict, err: BaseException, inputs: Path, params: dict) -> dict:
    """The record with `culprit`: the input, layer or params key the error names (flintcloud.service.culprit),
    for the run page to link to. Finding it never turns the failure into another one."""
    try:
        culprit = culprit_of(err, inputs, params)
    except Exception as find_err:  # noqa: BLE001
        print(f"(could not tell which input the error names: {type(find_err).__name__}: {find_err})", flush=True)
        culprit = None
    if culprit is not None:
        print(f"the error names: {', '.join(f'{k} {v!r}' for k, v in culprit.items() if k != 'message')}", flush=True)
        return {**record, "culprit": culprit}
    return record


def execute(data_dir: Path, run_id: str) -> int:
    settings = read_settings(data_dir=data_dir)
    store = Store(settings.db_path)
    run = store.get_run_any(run_id)
    if run is None:
        print(f"run {run_id} not found", flush=True)
        return 2
    sim = store.get_simulation(run.user, run.simulation_id)
    if sim is None:
        print(f"simulation {run.simulation_id} not found", flush=True)
        return 2
    sdir = simulation_dir(settings.data_dir, sim.id)
    rdir = run_dir(settings.data_dir, sim.id, run_id)
    inputs = sdir / "inputs"
    blob = blob_mirror(settings)
    if blob is not None and not inputs.is_dir():  # a worker without the API's disk: inputs from the container
        blob.get_dir(f"simulations/{sim.id}/inputs", inputs)
    params = simulation_params(sim.title, sim.params)
    record = dict(run.record or {})
    record.pop("culprit", None)  # of an earlier attempt of this run
    try:
        record.update(run_record(inputs, params))
        (rdir / "record.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

        def progress(stage: str, fraction: float, message: str) -> None:
            store.set_progress(run_id, stage, fraction)

        metrics = run_pipeline(inputs, params, rdir / "project", progress=progress,
                               log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("run stopped (cancelled or the worker is stopping); nothing was moved into place", flush=True)
        return 130
    except FlintcloudError as err:
        print(f"error: {err}", flush=True)
        store.finish_run(run_id, "failed", str(err), with_culprit(record, err, inputs, params))
        return 1
    except Exception as err:  # noqa: BLE001 - any other failure is a failed run with its reason
        traceback.print_exc()
        store.finish_run(run_id, "failed", f"internal error: {type(err).__name__}: {err}",
                         with_culprit(record, err, inputs, params))
        return 1
    record["metrics"] = metrics
    if blob is not None:
        try:
            n = blob.put_dir(rdir / "project", f"simulations/{sim.id}/runs/{run_id}/project")
            print(f"results copied to Azure Blob ({n} files)", flush=True)
        except FlintcloudError as err:
            store.finish_run(run_id, "failed", f"results could not be stored: {err}", record)
            return 1
    store.finish_run(run_id, "succeeded", None, record)
    print("run succeeded", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flintcloud.service.runner")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("run_id")
    args = ap.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGTERM, _sigterm)
    sys.exit(execute(args.data_dir, args.run_id))


if __name__ == "__main__":
    main()
