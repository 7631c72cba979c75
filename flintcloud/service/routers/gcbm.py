"""FLINT.Cloud's GCBM REST API (local/rest_api_gcbm/app.py), same form fields and JSON shapes, done right.

Every call names its simulation with the form field `title` (default "simulation"), which is looked up
among the caller's simulations (never used as a path; a title with separators, '..' or NUL is a 400).
Differences on purpose: status reaches "finished" or says the run failed and why; layer attributes come
from uploaded sidecars (a bare GeoTIFF is named in the error with how to supply its attributes);
download of an unknown title is a 404; runs go to the workers' queue, not a thread.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from flintcloud.errors import ValidationError
from flintcloud.service import ops, results
from flintcloud.service.deps import Conflict, NotFound, current_user, get_queue, get_settings, get_store
from flintcloud.service.overrides import merge_overrides, read_config_params
from flintcloud.service.paths import check_name
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import Simulation, Store

router = APIRouter(tags=["flint-cloud"])
CATEGORIES = ("disturbances", "classifiers", "db", "miscellaneous")
CONFIG_FIELDS = ("config_files", "templates")
DEFAULT_TITLE = "simulation"
SIDECAR_HINT = (
    "FLINT.Cloud's clients upload bare GeoTIFFs; flintcloud reads each layer's attributes (classifier values, "
    "disturbance type and year, nodata) from its GCBM sidecar: upload '<layer>.json' (or '<layer>_moja.json') "
    "beside '<layer>.tiff' in the same request field"
)


async def _form(request: Request):
    limits = request.app.state.settings.limits
    return await request.form(max_files=limits.max_files, max_fields=100)


def _title(form) -> str:
    title = form.get("title") or DEFAULT_TITLE
    if not isinstance(title, str):
        raise ValidationError(["title: expected a text form field"], source="form")
    return title


def _sim(store: Store, user: str, title: str) -> Simulation:
    from flintcloud.service.paths import check_title

    check_title(title)
    sim = store.simulation_by_title(user, title)
    if sim is None:
        raise NotFound(f"simulation {title!r} not found (create it with POST /gcbm/new)")
    return sim


def _compat_name(name: str) -> str:
    """FLINT.Cloud's clients name layers '<layer>_moja.tiff'; GCBM's layer is '<layer>'."""
    check_name(name)
    stem, dot, ext = name.rpartition(".")
    if dot and stem.endswith("_moja") and ext.lower() in ("tif", "tiff", "json"):
        return f"{stem[:-5]}.{ext}"
    return name


class _Renamed:
    def __init__(self, upload):
        self.filename = _compat_name(upload.filename or "")
        self.file = upload.file


def _files(form, fields) -> list[tuple[str, object]]:
    out = []
    for field in fields:
        for item in form.getlist(field):
            if hasattr(item, "file"):
                renamed = _Renamed(item)
                out.append((renamed.filename, renamed.file))
    return out


@router.post("/gcbm/new")
@router.post("/upload/title")
async def new(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
              settings: ServiceSettings = Depends(get_settings)):
    title = _title(await _form(request))
    if store.simulation_by_title(user, ops.check_title(title)) is not None:
        return {"data": "Simulation already exists. Please check the list of simulations present before proceeding "
                        "with a new simulation at gcbm/list. You may also download the input and output files for "
                        "this simulation at gcbm/download sending parameter title in the body."}
    ops.create_simulation(store, settings, user, title, {})
    return {"data": "New simulation started. Please move on to the next stage for uploading files at /gcbm/upload."}


def _ensure(store: Store, settings: ServiceSettings, user: str, title: str) -> Simulation:
    """FLINT.Cloud's upload routes create the simulation when it does not exist."""
    sim = store.simulation_by_title(user, ops.check_title(title))
    return sim or ops.create_simulation(store, settings, user, title, {})


@router.post("/gcbm/upload")
async def upload(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
                 settings: ServiceSettings = Depends(get_settings)):
    form = await _form(request)
    title = _title(form)
    if any(not _files(form, [c]) for c in CATEGORIES):
        return JSONResponse({"error": "Missing configuration file"}, status_code=400)
    sim = _ensure(store, settings, user, title)
    result = ops.upload(store, settings, sim, _files(form, CATEGORIES + CONFIG_FIELDS))
    return {"data": "All files uploaded succesfully. Proceed to the next step of the API at gcbm/dynamic.",
            "validation": result["validation"]}


def _category_route(category: str):
    async def route(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
                    settings: ServiceSettings = Depends(get_settings)):
        form = await _form(request)
        title = _title(form)
        files = _files(form, [category])
        if not files:
            return JSONResponse({"error": f"Missing {category} file"}, status_code=400)
        sim = _ensure(store, settings, user, title)
        result = ops.upload(store, settings, sim, files)
        label = {"db": "db"}.get(category, category.capitalize())
        return {"data": f"{label} file uploaded succesfully. Proceed to the next step.",
                "validation": result["validation"]}

    route.__name__ = f"upload_{category}"
    return route


for _category in CATEGORIES:
    router.add_api_route(f"/gcbm/upload/{_category}", _category_route(_category), methods=["POST"])


def _sidecar_problems(report: dict) -> list[str]:
    return [e["message"] for e in report["errors"] if e.get("check") == "sidecar"]


def _params_from_uploaded_config(store: Store, settings: ServiceSettings, sim: Simulation) -> Simulation:
    """FLINT.Cloud's clients state the years and boundaries in the config they upload; use them
    (values the simulation's params already set win)."""
    config_dir = ops.inputs_dir(settings, sim) / "config"
    if not config_dir.is_dir():
        return sim
    merged = merge_overrides(sim.params, read_config_params(config_dir))
    return ops.update_params(store, settings, sim, merged) if merged != sim.params else sim


@router.post("/gcbm/dynamic")
async def dynamic(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
                  settings: ServiceSettings = Depends(get_settings), queue=Depends(get_queue)):
    """Start the run (validation first: 400 listing every problem, sidecar-less layers named)."""
    sim = _sim(store, user, _title(await _form(request)))
    sim = _params_from_uploaded_config(store, settings, sim)
    report = ops.validation(settings, sim)
    if not report["valid"]:
        problems = [e["message"] for e in report["errors"]]
        missing = _sidecar_problems(report)
        message = f"{len(problems)} problem(s) in the uploaded inputs"
        if missing:
            message += f"; {len(missing)} layer(s) have no attributes. {SIDECAR_HINT}"
        return JSONResponse({"error": message, "problems": problems}, status_code=400)
    run = ops.start_run(store, queue, settings, sim)
    return {"status": "Run started", "run_id": run.id}


@router.post("/gcbm/status")
async def status(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store)):
    sim = _sim(store, user, _title(await _form(request)))
    run = store.latest_run(user, sim.id)
    if run is None:
        return {"finished": "Not started: upload the inputs and POST /gcbm/dynamic", "status": "not started"}
    body = {"status": run.status, "stage": run.stage, "progress": run.progress, "run_id": run.id}
    if run.status == "succeeded":
        return {"finished": "Output is ready to download at gcbm/download", **body}
    if run.status in ("failed", "cancelled"):
        return {"finished": f"{run.status.capitalize()}: {run.error}", "error": run.error, **body}
    return {"finished": "In Progress", **body}


@router.post("/gcbm/download")
async def download(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
                   settings: ServiceSettings = Depends(get_settings)):
    sim = _sim(store, user, _title(await _form(request)))
    run = store.latest_run(user, sim.id)
    if run is None:
        raise NotFound(f"simulation {sim.title!r} has not been run (POST /gcbm/dynamic)")
    if run.status != "succeeded":
        raise Conflict(f"simulation {sim.title!r}: the latest run is {run.status}"
                       + (f" ({run.error})" if run.error else "") + "; nothing to download")
    project = ops.run_project_dir(settings, run)
    tmp = Path(tempfile.mkstemp(suffix=".zip")[1])
    results.flint_cloud_zip(project, tmp, ops.run_log_path(settings, run))
    return FileResponse(tmp, media_type="application/zip", filename=f"{sim.title}.zip",
                        background=BackgroundTask(tmp.unlink, missing_ok=True))


@router.get("/gcbm/list")
def list_(user: str = Depends(current_user), store: Store = Depends(get_store)):
    sims, _ = store.list_simulations(user, limit=10_000, offset=0)
    return {"data": [s.title for s in sims],
            "message": "To create a new simulation, create a request at gcbm/new. To access the results of the "
                       "existing simulations, create a request at gcbm/download."}


@router.post("/gcbm/getConfig")
async def get_config(request: Request, user: str = Depends(current_user), store: Store = Depends(get_store),
                     settings: ServiceSettings = Depends(get_settings)):
    """One GCBM config file (form field `file_name`) the latest run generated, as JSON."""
    form = await _form(request)
    sim = _sim(store, user, _title(form))
    file_name = form.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise ValidationError(["file_name: missing form field (e.g. localdomain.json)"], source="form")
    run = next((r for r in store.list_runs(user, sim.id) if r.status == "succeeded"), None)
    if run is None:
        raise NotFound(f"simulation {sim.title!r} has no succeeded run yet; its config is written when it runs")
    config_dir = ops.run_project_dir(settings, run) / "build" / "config"
    names = sorted(p.name for p in config_dir.glob("*.json"))
    if file_name not in names:
        raise NotFound(f"config file {file_name!r} not found; available: {', '.join(names)}")
    return json.loads((config_dir / names[names.index(file_name)]).read_text(encoding="utf-8"))
