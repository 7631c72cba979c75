"""The ASGI application: `create_app(settings)`.

Routers are thin (parse, authorise, call flintcloud.service.ops); runs execute in worker processes
(flintcloud.service.jobs). OpenAPI at /spec (as FLINT.Cloud), interactive docs at /docs.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from flintcloud import __version__
from flintcloud.service.deps import BodyLimit, LocalGuard, install_error_handlers
from flintcloud.service.jobs import make_queue
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import Store

# Router modules under flintcloud/service/routers/, each defining `router`. Add yours here.
ROUTERS = ["meta", "simulations", "runs", "gcbm", "flint", "webapp"]


def create_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI(
        title="flintcloud",
        version=__version__,
        description="GCBM (CBM-CFS3) simulations as a service: create, upload, run, follow, download. "
                    "Send `Authorization: Bearer <token>` when the server has tokens (`flintcloud token create`).",
        openapi_url="/spec",
        docs_url="/docs",
        redoc_url=None,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.settings = settings
    app.state.store = Store(settings.db_path).init()
    # Tokenless mode ('local' user) only for a server that starts without tokens (serve refuses that beyond
    # loopback); one that starts with tokens keeps requiring them even if every token is revoked later.
    app.state.started_tokenless = not app.state.store.has_tokens()
    app.state.queue = make_queue(settings)
    install_error_handlers(app)
    for name in ROUTERS:
        app.include_router(importlib.import_module(f"flintcloud.service.routers.{name}").router)
    app.add_middleware(BodyLimit, limit=settings.limits.max_upload_bytes)
    app.add_middleware(LocalGuard)  # outermost: a foreign Host/Origin is refused before any body is read
    return app
