"""The web app: its pages at `/` and `/static/...`, and the few API routes its pages need beyond the
simulation API (who am I, the parameter form, the built-in demo as inputs, yearly series as JSON, map
previews as PNG, difference maps between two runs).

Pages are static files (flintcloud/service/webapp/static) with a small script that talks to the JSON API;
nothing here runs a simulation or computes an indicator. Static files are looked up in a listing of that
folder, so no request value is ever joined onto a path.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response

from flintcloud.service import ops, results
from flintcloud.service.deps import Conflict, NotFound, current_user, get_settings, get_store, owned_simulation
from flintcloud.service.map_preview import (MapPreview, data_window, difference, map_catalogue, parse_map_name,
                                            read_preview, render_png, union_window, units)
from flintcloud.service.overrides import defaults_text
from flintcloud.service.params_form import form_fields
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import Simulation, Store

router = APIRouter()
STATIC = Path(__file__).resolve().parents[1] / "webapp" / "static"
PLOTS = "reports/plots"
# Colour scale ends a map preview accepts: finite and far beyond any tC/ha, so matplotlib never overflows.
MAX_SCALE = 1e12
MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".png": "image/png", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8"}


@lru_cache(maxsize=1)
def static_files() -> dict[str, Path]:
    return {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=MEDIA[".html"], headers={"Cache-Control": "no-cache"})


@router.get("/static/{name:path}", include_in_schema=False)
def static(name: str) -> FileResponse:
    path = static_files().get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))


@router.get("/api/v1/whoami", tags=["webapp"])
def whoami(user: str = Depends(current_user), store: Store = Depends(get_store)) -> dict:
    return {"user": user, "tokens": store.has_tokens()}


@router.get("/api/v1/params/schema", tags=["webapp"])
def params_schema(user: str = Depends(current_user)) -> dict:
    """The parameter form: each settable params.yaml key with its type, default, help text, choices, range."""
    return {"fields": [f.as_json() for f in form_fields(defaults_text())]}


@router.post("/api/v1/simulations/{sim_id}/inputs/demo", status_code=201, tags=["webapp"])
def use_demo(sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
             settings: ServiceSettings = Depends(get_settings)) -> dict:
    """Upload the built-in demo project (params.yaml's project.demo: seed, size, event years) as the inputs,
    through the same checks as any upload."""
    return ops.upload(store, settings, sim, [("demo.zip", io.BytesIO(demo_zip()))])


@lru_cache(maxsize=1)
def demo_zip() -> bytes:
    """The built-in demo GCBM project, made as the demo_inputs stage makes it, as a zip."""
    import tempfile

    import yaml

    from flintcloud.demo.project import generate_demo_project
    from flintcloud.pipeline import code_root

    demo = yaml.safe_load(defaults_text())["project"]["demo"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "project"
        generate_demo_project(out, seed=int(demo["seed"]), size=demo["size"],
                              start_year=int(demo["event_start_year"]), end_year=int(demo["event_end_year"]),
                              growth_curves=code_root() / "data" / "demo" / "growth_curves.csv")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(out).as_posix())
        return buf.getvalue()


# --- results as the pages draw them ------------------------------------------------------------
def _project(sim: Simulation, run_id: str, store: Store, settings: ServiceSettings) -> Path:
    return ops.run_project_dir(settings, ops.get_run(store, sim, run_id))


RUN = "/api/v1/simulations/{sim_id}/runs/{run_id}/results"


@router.get(RUN + "/plots", tags=["webapp"])
def plots(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
          settings: ServiceSettings = Depends(get_settings)) -> dict:
    """The yearly series the report's charts are drawn from (reports/plots/*.csv) as JSON records."""
    folder = _project(sim, run_id, store, settings) / PLOTS
    out = {}
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        with open(path, newline="", encoding="utf-8") as fh:
            out[path.stem] = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    return out


def _number(text: str):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if re.fullmatch(r"-?\d+", text or "") else value


@router.get(RUN + "/maps", tags=["webapp"])
def maps(run_id: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
         settings: ServiceSettings = Depends(get_settings)) -> dict:
    """The maps the run wrote, by indicator: years and units."""
    return map_catalogue(results.map_names(_project(sim, run_id, store, settings)))


def _map(sim: Simulation, run_id: str, name: str, store: Store, settings: ServiceSettings) -> Path:
    return results.map_path(_project(sim, run_id, store, settings), name)  # looked up in the listing


@router.get(RUN + "/maps/{name}/info", tags=["webapp"])
def map_info(run_id: str, name: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
             settings: ServiceSettings = Depends(get_settings)) -> dict:
    preview = read_preview(_map(sim, run_id, name, store, settings))
    indicator, year = parse_map_name(name) or (name, None)
    return {"name": name, "indicator": indicator, "year": year, "units": units(indicator), **preview.stats()}


@router.get(RUN + "/maps/{name}/preview.png", tags=["webapp"])
def map_png(run_id: str, name: str, sim: Simulation = Depends(owned_simulation), store: Store = Depends(get_store),
            settings: ServiceSettings = Depends(get_settings),
            vmin: float | None = Query(None, ge=-MAX_SCALE, le=MAX_SCALE, allow_inf_nan=False,
                                       description="lower end of the colour scale (shared scales)"),
            vmax: float | None = Query(None, ge=-MAX_SCALE, le=MAX_SCALE, allow_inf_nan=False,
                                       description="upper end of the colour scale")) -> Response:
    preview = read_preview(_map(sim, run_id, name, store, settings))
    indicator, year = parse_map_name(name) or (name, None)
    signed = indicator in {"NEP", "NBP"} or indicator.startswith("Delta_")
    png = render_png(preview, f"{indicator} {year} ({units(indicator)})", vmin=vmin, vmax=vmax, diverging=signed)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _run_ref(ref: str, user: str, store: Store, settings: ServiceSettings) -> tuple[Simulation, str, Path]:
    """`<simulation id>:<run id>` of the caller's own simulation (anyone else's: 404)."""
    sim_id, sep, run_id = ref.partition(":")
    if not sep:
        raise NotFound(f"run reference {ref!r}: expected <simulation id>:<run id>")
    sim = owned_simulation(sim_id, user, store)
    return sim, run_id, _project(sim, run_id, store, settings)


def _difference(name: str, a: str, b: str, user: str, store: Store, settings: ServiceSettings) -> MapPreview:
    """Map ``name`` of run b minus the same map of run a, over the union of their data windows."""
    paths = [results.map_path(_run_ref(ref, user, store, settings)[2], name) for ref in (a, b)]
    window = union_window(*(data_window(p) for p in paths))
    try:
        return difference(*(read_preview(p, window=window) for p in paths))
    except ValueError as err:
        raise Conflict(f"{name}: {err}") from err


@router.get("/api/v1/compare/maps/{name}/difference.png", tags=["webapp"])
def difference_png(name: str, a: str = Query(..., description="<simulation id>:<run id>, the base"),
                   b: str = Query(..., description="<simulation id>:<run id>, shown as b - a"),
                   limit: float | None = Query(None, gt=0, le=MAX_SCALE, allow_inf_nan=False,
                                               description="symmetric scale: -limit..+limit"),
                   user: str = Depends(current_user), store: Store = Depends(get_store),
                   settings: ServiceSettings = Depends(get_settings)) -> Response:
    diff = _difference(name, a, b, user, store, settings)
    indicator, year = parse_map_name(name) or (name, None)
    png = render_png(diff, f"difference in {indicator} {year} ({units(indicator)})",
                     vmin=-limit if limit else None, vmax=limit, diverging=True)
    return Response(png, media_type="image/png")


@router.get("/api/v1/compare/maps/{name}/difference", tags=["webapp"])
def difference_info(name: str, a: str = Query(...), b: str = Query(...), user: str = Depends(current_user),
                    store: Store = Depends(get_store), settings: ServiceSettings = Depends(get_settings)) -> dict:
    """min/max/mean of b - a, so several difference maps can share one symmetric scale."""
    return {"name": name, **_difference(name, a, b, user, store, settings).stats()}
