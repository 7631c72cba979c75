"""What the API does, as functions both routers call (/api/v1 and the FLINT.Cloud-compatible /gcbm).

Routes parse and authorise; these functions act on the store, the data directory and the queue.
No simulation logic here: runs are queued and executed by workers (flintcloud.service.jobs).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from flintcloud.errors import ValidationError
from flintcloud.service.blob import blob_mirror
from flintcloud.service.deps import Conflict, NotFound
from flintcloud.service.jobs import enqueue_run
from flintcloud.service.overrides import check_overrides, simulation_params
from flintcloud.service.paths import check_id, check_title, new_id, run_dir, simulation_dir  # noqa: F401 (check_title re-exported)
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import FINAL, Run, Simulation, Store
from flintcloud.service.uploads import list_inputs, remove_input, store_uploads

INPUTS = "inputs"


def inputs_dir(settings: ServiceSettings, sim: Simulation) -> Path:
    """The simulation's inputs folder; with Azure Blob storage, fetched from the container when missing."""
    path = simulation_dir(settings.data_dir, sim.id) / INPUTS
    blob = blob_mirror(settings)
    if blob is not None and not path.is_dir():
        blob.get_dir(f"simulations/{sim.id}/{INPUTS}", path)
    return path


def create_simulation(store: Store, settings: ServiceSettings, user: str, title: str, params: dict | None) -> Simulation:
    check_title(title)
    overrides = check_overrides(params or {}, settings.limits)
    _, total = store.list_simulations(user, limit=1, offset=0)
    if total >= settings.limits.max_simulations_per_user:
        raise Conflict(f"you have {total} simulations, the limit is {settings.limits.max_simulations_per_user}; "
                       f"delete some first")
    sim = store.create_simulation(new_id(), user, title, overrides)
    (simulation_dir(settings.data_dir, sim.id) / INPUTS).mkdir(parents=True, exist_ok=True)
    return sim


def update_params(store: Store, settings: ServiceSettings, sim: Simulation, params: dict | None) -> Simulation:
    overrides = check_overrides(params or {}, settings.limits)
    store.update_simulation_params(sim.user, sim.id, overrides)
    return store.get_simulation(sim.user, sim.id)


def delete_simulation(store: Store, settings: ServiceSettings, sim: Simulation) -> None:
    if any(r.status == "running" for r in store.active_runs(sim.id)):
        raise Conflict(f"simulation {sim.id!r} has a running run; cancel it first")
    for run in store.active_runs(sim.id):
        store.request_cancel(run.id)
    store.delete_simulation(sim.user, sim.id)
    shutil.rmtree(simulation_dir(settings.data_dir, sim.id), ignore_errors=True)
    blob = blob_mirror(settings)
    if blob is not None:
        blob.remove(f"simulations/{sim.id}")


def validation(settings: ServiceSettings, sim: Simulation) -> dict:
    """`flintcloud validate` on the simulation's inputs with its params: the same checks and messages.

    Paths in the answer are relative to the simulation folder ('inputs/...', its root '.'), and nothing in it
    (keys or values, at any depth) names the server's data directory.
    """
    from flintcloud.validate import validate_project

    inputs = inputs_dir(settings, sim)
    report = validate_project(inputs, params=simulation_params(sim.title, sim.params), root=inputs.parent).to_dict()
    return without_server_paths(report, server_path_replacements(settings.data_dir, inputs.parent))


def server_path_replacements(data_dir: Path, sim_dir: Path) -> list[tuple[str, str]]:
    """(server path, what a client sees instead), longest first: the simulation folder becomes relative, any
    other place in the data directory '<data-dir>'. Both as given and resolved (symlinks). Pure but resolve()."""
    pairs = {}
    for folder, shown in ((sim_dir, "."), (data_dir, "<data-dir>")):
        for path in {str(folder), str(Path(folder).resolve())}:
            pairs[path + "/"] = "" if shown == "." else shown + "/"
            pairs[path] = shown
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


def without_server_paths(obj, replacements: list[tuple[str, str]]):
    """`obj` (JSON: dicts, lists, strings...) with every server path of `replacements` replaced, keys too. Pure."""
    if isinstance(obj, str):
        for path, shown in replacements:
            obj = obj.replace(path, shown)
        return obj
    if isinstance(obj, (list, tuple)):
        return [without_server_paths(v, replacements) for v in obj]
    if isinstance(obj, dict):
        return {without_server_paths(k, replacements): without_server_paths(v, replacements) for k, v in obj.items()}
    return obj


def upload(store: Store, settings: ServiceSettings, sim: Simulation, files: list[tuple[str, BinaryIO]]) -> dict:
    if not files:
        raise ValidationError(["files: no file uploaded (multipart field 'files')"], source="upload")
    stored = store_uploads(inputs_dir(settings, sim), files, settings.limits)
    blob = blob_mirror(settings)
    if blob is not None:
        for p in stored.placed:
            blob.put_file(inputs_dir(settings, sim) / p.relpath, f"simulations/{sim.id}/{INPUTS}/{p.relpath}")
    store.touch_simulation(sim.id)
    return {"uploaded": [{"name": p.name, "path": p.relpath, "kind": p.kind} for p in stored.placed],
            "skipped": [k.as_json() for k in stored.skipped],
            "files": list_inputs(inputs_dir(settings, sim)), "validation": validation(settings, sim)}


def delete_input(settings: ServiceSettings, sim: Simulation, relpath: str) -> None:
    if not remove_input(inputs_dir(settings, sim), relpath):
        raise NotFound(f"input {relpath!r} not found (GET .../inputs lists them)")
    blob = blob_mirror(settings)
    if blob is not None:
        blob.remove(f"simulations/{sim.id}/{INPUTS}/{relpath}")


def start_run(store: Store, queue, settings: ServiceSettings, sim: Simulation) -> Run:
    """Queue a run if the inputs pass validation (else 422 listing every problem)."""
    if any(r.status in ("queued", "running") for r in store.active_runs(sim.id)):
        raise Conflict(f"simulation {sim.title!r} already has a queued or running run")
    check_overrides(sim.params, settings.limits)  # params stored before a rule or limit existed run by today's
    report = validation(settings, sim)
    if not report["valid"]:
        raise ValidationError([e["message"] for e in report["errors"]], source=f"simulation {sim.title!r} inputs")
    run = store.create_run(new_id(), sim, {"params": simulation_params(sim.title, sim.params)})
    run_dir(settings.data_dir, sim.id, run.id).mkdir(parents=True, exist_ok=True)
    enqueue_run(queue, run.id)
    return run


def restart_run(store: Store, queue, settings: ServiceSettings, sim: Simulation, run: Run) -> Run:
    if run.status not in ("failed", "cancelled"):
        raise Conflict(f"run {run.id!r} is {run.status}; only failed or cancelled runs can be restarted")
    if any(r.status in ("queued", "running") for r in store.active_runs(sim.id)):
        raise Conflict(f"simulation {sim.title!r} already has a queued or running run")
    check_overrides(sim.params, settings.limits)  # the runner uses the simulation's params as they are now
    store.requeue(run.id)
    enqueue_run(queue, run.id)
    return store.get_run_any(run.id)


def get_run(store: Store, sim: Simulation, run_id: str) -> Run:
    try:
        check_id(run_id, "run id")
    except ValueError as err:
        raise NotFound(f"run {run_id!r} not found") from err
    run = store.get_run(sim.user, sim.id, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    return run


def cancel_run(store: Store, run: Run) -> Run:
    if run.status in FINAL:
        raise Conflict(f"run {run.id!r} already {run.status}")
    return store.request_cancel(run.id)


def run_project_dir(settings: ServiceSettings, run: Run) -> Path:
    """The run's DVC project (exists only when the run succeeded)."""
    if run.status != "succeeded":
        raise Conflict(f"run {run.id!r} is {run.status}; results exist only for a succeeded run")
    path = run_dir(settings.data_dir, run.simulation_id, run.id) / "project"
    blob = blob_mirror(settings)
    if not path.is_dir() and blob is not None:  # the data directory is a cache of the container
        blob.get_dir(f"simulations/{run.simulation_id}/runs/{run.id}/project", path)
    if not path.is_dir():
        raise NotFound(f"run {run.id!r}: its results are missing from the data directory")
    return path


def run_log_path(settings: ServiceSettings, run: Run) -> Path:
    return run_dir(settings.data_dir, run.simulation_id, run.id) / "run.log"
