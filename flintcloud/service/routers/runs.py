"""/api/v1/simulations/{id}/runs: start, status, cancel, restart, log, live events (SSE), results."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, StreamingResponse
from starlette.background import BackgroundTask

from flintcloud.service import ops, results
from flintcloud.service.deps import get_queue, get_settings, get_store, owned_simulation
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import FINAL, Simulation, Store

router = APIRouter(prefix="/api/v1/simulations/{sim_id}/runs", tags=["runs"])
SSE_POLL_SECONDS = 0.5


@router.post("", status_code=202)
def start(sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
          settings: ServiceSettings = Depends(get_settings), queue=Depends(get_queue)) -> dict:
    """Queue a run of the simulation's inputs with its params (422 listing every input problem)."""
    return ops.start_run(store, queue, settings, sim).as_json()


@router.get("")
def list_(sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store)) -> dict:
    return {"items": [r.as_json() for r in store.list_runs(sim.user, sim.id)]}


@router.get("/{run_id}")
def get(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store)) -> dict:
    return ops.get_run(store, sim, run_id).as_json()


@router.post("/{run_id}/cancel")
def cancel(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store)) -> dict:
    return ops.cancel_run(store, ops.get_run(store, sim, run_id)).as_json()


@router.post("/{run_id}/restart", status_code=202)
def restart(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
            settings: ServiceSettings = Depends(get_settings), queue=Depends(get_queue)) -> dict:
    return ops.restart_run(store, queue, settings, sim, ops.get_run(store, sim, run_id)).as_json()


@router.get("/{run_id}/log", response_class=PlainTextResponse)
def log(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
        settings: ServiceSettings = Depends(get_settings)) -> str:
    path = ops.run_log_path(settings, ops.get_run(store, sim, run_id))
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def _sse(event: str, data) -> str:
    lines = json.dumps(data) if not isinstance(data, str) else data
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines.split("\n")) + "\n"


@router.get("/{run_id}/events")
async def events(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
                 settings: ServiceSettings = Depends(get_settings)) -> StreamingResponse:
    """Server-Sent Events: `status` (status, stage, progress) on change, `log` per log line, `end` last."""
    run = ops.get_run(store, sim, run_id)
    log_path = ops.run_log_path(settings, run)

    async def stream():
        offset, last, pending = 0, None, b""
        while True:
            current = store.get_run(sim.user, sim.id, run_id)
            if current is None:
                yield _sse("end", {"status": "deleted"})
                return
            if log_path.is_file():
                with open(log_path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                offset += len(chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield _sse("log", line.decode("utf-8", "replace").rstrip("\r"))
            state = {"status": current.status, "stage": current.stage, "progress": current.progress,
                     "error": current.error, "culprit": current.culprit}
            if state != last:
                yield _sse("status", state)
                last = state
            if current.status in FINAL:
                if pending:
                    yield _sse("log", pending.decode("utf-8", "replace"))
                yield _sse("end", state)
                return
            await asyncio.sleep(SSE_POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --- results ----------------------------------------------------------------------------
def _project(run_id: str, sim: Simulation, store: Store, settings: ServiceSettings) -> Path:
    return ops.run_project_dir(settings, ops.get_run(store, sim, run_id))


@router.get("/{run_id}/results", tags=["results"])
def index(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
          settings: ServiceSettings = Depends(get_settings)) -> dict:
    project = _project(run_id, sim, store, settings)
    return {"metrics": "metrics", "report": ["report.md", "report.html"],
            "figures": results.figure_names(project), "tables": results.table_names(project),
            "maps": results.map_names(project), "archives": ["archive.zip", "dvc-project.zip"]}


@router.get("/{run_id}/results/metrics", tags=["results"])
def metrics(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
            settings: ServiceSettings = Depends(get_settings)) -> dict:
    return results.metrics(_project(run_id, sim, store, settings))


@router.get("/{run_id}/results/report.md", tags=["results"], response_class=PlainTextResponse)
def report_md(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
              settings: ServiceSettings = Depends(get_settings)) -> PlainTextResponse:
    return PlainTextResponse(results.report_markdown(_project(run_id, sim, store, settings)),
                             media_type="text/markdown; charset=utf-8")


@router.get("/{run_id}/results/report.html", tags=["results"], response_class=HTMLResponse)
def report_html(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
                settings: ServiceSettings = Depends(get_settings)) -> HTMLResponse:
    return HTMLResponse(results.report_html(_project(run_id, sim, store, settings), sim.title))


@router.get("/{run_id}/results/figures/{name}", tags=["results"])
def figure(run_id: str, name: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
           settings: ServiceSettings = Depends(get_settings)) -> FileResponse:
    return FileResponse(results.figure_path(_project(run_id, sim, store, settings), name), media_type="image/png")


@router.get("/{run_id}/results/tables/{name}.csv", tags=["results"])
def table(run_id: str, name: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
          settings: ServiceSettings = Depends(get_settings)) -> StreamingResponse:
    project = _project(run_id, sim, store, settings)
    lines = results.table_csv(project, name)
    first = next(lines)  # raises NotFound before the response starts
    return StreamingResponse(_chain(first, lines), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _chain(first, rest):
    yield first
    yield from rest


@router.get("/{run_id}/results/maps/{name}", tags=["results"])
def map_(run_id: str, name: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
         settings: ServiceSettings = Depends(get_settings)) -> FileResponse:
    return FileResponse(results.map_path(_project(run_id, sim, store, settings), name), media_type="image/tiff",
                        filename=name)


def _zip_response(build, filename: str) -> FileResponse:
    tmp = Path(tempfile.mkstemp(suffix=".zip")[1])
    try:
        build(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileResponse(tmp, media_type="application/zip", filename=filename,
                        background=BackgroundTask(tmp.unlink, missing_ok=True))


@router.get("/{run_id}/results/archive.zip", tags=["results"])
def archive(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
            settings: ServiceSettings = Depends(get_settings)) -> FileResponse:
    project = _project(run_id, sim, store, settings)
    return _zip_response(lambda p: results.write_results_zip(project, p), f"run-{run_id}.zip")


@router.get("/{run_id}/results/dvc-project.zip", tags=["results"])
def dvc_project(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
                settings: ServiceSettings = Depends(get_settings)) -> FileResponse:
    """The run as a DVC project: unzip, `dvc repro` (flintcloud installed) reproduces it."""
    run = ops.get_run(store, sim, run_id)
    project = ops.run_project_dir(settings, run)
    return _zip_response(lambda p: results.write_project_zip(project, p, run.record), f"run-{run_id}-dvc.zip")
