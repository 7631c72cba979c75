"""Liveness, readiness, version and the FLINT.Cloud /check."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from flintcloud import __version__
from flintcloud.pipeline import software_versions
from flintcloud.service.deps import get_settings, get_store
from flintcloud.service.jobs import queue_ping
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import Store

router = APIRouter()


@router.get("/api/v1/health", tags=["meta"])
def health() -> dict:
    """Liveness: the web process answers (no auth, touches nothing)."""
    return {"status": "ok", "service": "flintcloud", "version": __version__}


@router.get("/api/v1/ready", tags=["meta"])
def ready(settings: ServiceSettings = Depends(get_settings), store: Store = Depends(get_store)):
    """Readiness: the store and the queue can be read."""
    checks = {}
    try:
        store.ping()
        checks["store"] = "ok"
    except Exception as err:  # noqa: BLE001 - reported, not raised
        checks["store"] = f"error: {err}"
    try:
        checks["queue"] = "ok"
        checks["queued_jobs"] = queue_ping(settings)
    except Exception as err:  # noqa: BLE001
        checks["queue"] = f"error: {err}"
    ok = checks["store"] == "ok" and checks["queue"] == "ok"
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


@router.get("/version", tags=["flint-cloud"])
def version() -> dict:
    """FLINT.Cloud's /version shape: {"data": {"exitCode", "execTime", "response"}}."""
    start = time.perf_counter()
    versions = software_versions()
    text = f"flintcloud {versions['flintcloud']} (libcbm {versions['libcbm']}, Python {versions['python']})"
    return {"data": {"exitCode": 0, "execTime": time.perf_counter() - start, "response": text}}


@router.get("/check", tags=["flint-cloud"], response_class=PlainTextResponse)
def check() -> str:
    """FLINT.Cloud's check: the text `Checks OK`."""
    return "Checks OK"


@router.post("/check", tags=["flint-cloud"], response_class=PlainTextResponse)
def check_post() -> str:
    return "Checks OK"
