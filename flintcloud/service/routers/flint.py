"""The FLINT example (Point and RothC) over HTTP: FLINT.Cloud's `POST /point` and `POST /rothc` (an optional
FLINT JSON config in the body, FLINT's output CSV as an attachment), and JSON results for the web app.

Runs call flintcloud.flint (the same code as `flintcloud flint run`); they are short (FLINT.Cloud's examples
take well under a second), and `MAX_STEPS` refuses a configuration that would keep a web thread busy for long.
Bad configs answer 422 naming the key (flintcloud.errors.ConfigError).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from flintcloud.errors import ConfigError
from flintcloud.service.deps import current_user

router = APIRouter(tags=["flint-example"])
Kind = Literal["point", "rothc"]
MAX_STEPS = 12 * 1000  # 1,000 years of monthly steps


class FlintRun(BaseModel):
    configs: list[dict[str, Any]] = Field(..., min_length=1, max_length=8,
                                          description="FLINT configuration documents, merged in order (as moja.cli --config ...)")


def _default(kind: str) -> list[dict]:
    from flintcloud.flint import default_point_configs, default_rothc_configs

    return default_point_configs() if kind == "point" else default_rothc_configs()


async def _optional_json(request: Request) -> dict | None:
    body = await request.body()
    if not body.strip():
        return None
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as err:
        raise ConfigError(f"request body: not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from err
    if not isinstance(doc, dict):
        raise ConfigError("request body: expected a FLINT configuration object ({...}), got "
                          f"{type(doc).__name__}")
    return doc


def _csv_attachment(kind: str, text: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{kind}_output.csv"'})


@router.post("/point", summary="FLINT.Cloud: run the Point example (optional JSON config in the body)")
async def point(request: Request, user: str = Depends(current_user)) -> Response:
    from flintcloud.flint import run_example

    result = run_example("point", await _optional_json(request), max_steps=MAX_STEPS)
    return _csv_attachment("point", result.screen or result.to_csv())


@router.post("/rothc", summary="FLINT.Cloud: run the RothC example (optional JSON config in the body)")
async def rothc(request: Request, user: str = Depends(current_user)) -> Response:
    from flintcloud.flint import run_example

    result = run_example("rothc", await _optional_json(request), max_steps=MAX_STEPS)
    return _csv_attachment("rothc", result.screen or result.to_csv())


@router.get("/api/v1/flint/{kind}/config")
def default_config(kind: Kind, user: str = Depends(current_user)) -> dict:
    """The example's default configuration documents (FLINT.Cloud's), for the web app's form."""
    return {"configs": _default(kind)}


@router.post("/api/v1/flint/{kind}")
def run(kind: Kind, body: FlintRun, user: str = Depends(current_user)) -> dict:
    """Run FLINT configuration documents; pools per step as JSON records (and the CSV FLINT would print)."""
    from flintcloud.flint import run_configs

    result = run_configs(body.configs, sources=[f"configs[{i}]" for i in range(len(body.configs))], max_steps=MAX_STEPS)
    return {"kind": kind, "pools": list(result.pool_names), "records": result.to_records(), "csv": result.to_csv()}
