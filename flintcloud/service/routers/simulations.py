"""/api/v1/simulations: create, list, get, update params, delete; inputs upload, list, validation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field

from flintcloud.service import ops
from flintcloud.service.deps import current_user, get_settings, get_store, owned_simulation
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import SIMULATION_ORDER, STATUSES, Simulation, Store
from flintcloud.service.uploads import list_inputs

router = APIRouter(prefix="/api/v1/simulations", tags=["simulations"])
MAX_OFFSET = 10**9  # far beyond any list (max_simulations_per_user), far below SQLite's 2**63 - 1


class NewSimulation(BaseModel):
    title: str = Field(min_length=1, max_length=200, description="A label; never used as a path")
    params: dict[str, Any] = Field(default_factory=dict, description="Overrides of params.yaml sections")


class ParamsUpdate(BaseModel):
    params: dict[str, Any]


def _sim_json(store: Store, sim: Simulation) -> dict:
    latest = store.latest_run(sim.user, sim.id)
    return {**sim.as_json(), "latest_run": latest.as_json() if latest else None}


@router.post("", status_code=201)
def create(body: NewSimulation, user: str = Depends(current_user), store: Store = Depends(get_store),
           settings: ServiceSettings = Depends(get_settings)) -> dict:
    return _sim_json(store, ops.create_simulation(store, settings, user, body.title, body.params))


@router.get("")
def list_(user: str = Depends(current_user), store: Store = Depends(get_store),
          settings: ServiceSettings = Depends(get_settings),
          limit: int | None = Query(None, ge=1, le=500),
          offset: int = Query(0, ge=0, le=MAX_OFFSET, description="simulations to skip (SQLite takes 64-bit ints)"),
          title: str | None = Query(None, max_length=200, description="only titles containing this"),
          status: str | None = Query(None, description=f"latest run status: {', '.join(STATUSES)}"),
          sort: str = Query("created", description=f"order of the whole list: {', '.join(SIMULATION_ORDER)}"),
          desc: bool = Query(True, description="descending (newest, Z, ... first)")) -> dict:
    from flintcloud.errors import ValidationError

    if status is not None and status not in STATUSES:
        raise ValidationError([f"status: {status!r} is not one of {', '.join(STATUSES)}"], source="query")
    if sort not in SIMULATION_ORDER:
        raise ValidationError([f"sort: {sort!r} is not one of {', '.join(SIMULATION_ORDER)}"], source="query")
    limit = limit or settings.limits.page_size
    sims, total = store.list_simulations(user, limit=limit, offset=offset, title_contains=title, status=status,
                                         sort=sort, descending=desc)
    return {"items": [_sim_json(store, s) for s in sims], "total": total, "limit": limit, "offset": offset,
            "sort": sort, "desc": desc}


@router.get("/{sim_id}")
def get(sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store)) -> dict:
    return _sim_json(store, sim)


@router.patch("/{sim_id}")
def update(body: ParamsUpdate, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
           settings: ServiceSettings = Depends(get_settings)) -> dict:
    return _sim_json(store, ops.update_params(store, settings, sim, body.params))


@router.delete("/{sim_id}", status_code=204)
def delete(sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
           settings: ServiceSettings = Depends(get_settings)) -> Response:
    ops.delete_simulation(store, settings, sim)
    return Response(status_code=204)


@router.post("/{sim_id}/inputs", status_code=201)
def upload(files: list[UploadFile] = File(..., description="GeoTIFF layers, sidecar JSON, gcbm_input.db, config "
                                                           "files, or a .zip of a whole GCBM project"),
           sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
           settings: ServiceSettings = Depends(get_settings)) -> dict:
    """Store the files (all or none) and answer with the validation of the whole project."""
    return ops.upload(store, settings, sim, [(f.filename or "", f.file) for f in files])


@router.get("/{sim_id}/inputs")
def inputs(sim: Simulation = Depends(owned_simulation), settings: ServiceSettings = Depends(get_settings)) -> dict:
    return {"files": list_inputs(ops.inputs_dir(settings, sim))}


@router.delete("/{sim_id}/inputs/{path:path}", status_code=204)
def delete_input(path: str, sim: Simulation = Depends(owned_simulation),
                 settings: ServiceSettings = Depends(get_settings)) -> Response:
    ops.delete_input(settings, sim, path)
    return Response(status_code=204)


@router.get("/{sim_id}/validation")
def validation(sim: Simulation = Depends(owned_simulation), settings: ServiceSettings = Depends(get_settings)) -> dict:
    """`flintcloud validate` on the inputs with the simulation's params (every problem at once)."""
    return ops.validation(settings, sim)
