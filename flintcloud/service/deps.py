"""What every route shares: the injected settings/store/queue, the caller's identity, errors as JSON."""

from __future__ import annotations

import ipaddress
import json
import logging
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flintcloud.errors import FlintcloudError, ValidationError
from flintcloud.service.paths import UnsafePathError, check_id
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import ConflictError, Simulation, Store
from flintcloud.service.uploads import UploadError, UploadTooLarge

LOCAL_USER = "local"
log = logging.getLogger("flintcloud.service")


class NotFound(FlintcloudError, LookupError):
    """The thing does not exist, or belongs to someone else (the same answer: 404)."""


class Unauthorized(FlintcloudError, PermissionError):
    """No valid API token."""


class Conflict(FlintcloudError, RuntimeError):
    """The request does not fit the current state (e.g. deleting a running simulation)."""


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_queue(request: Request):
    return request.app.state.queue


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-token") or None


def may_be_tokenless(state) -> bool:
    """A server that started without tokens on loopback: tokenless now or again once its tokens are revoked.
    Needs no store read (the store may be unreadable: readiness says so with 503)."""
    return bool(getattr(state, "started_tokenless", False)) and state.settings.is_loopback


def tokenless(state) -> bool:
    """Whether every caller acts as user 'local' (no token needed): only on a server that started without
    tokens, is configured for loopback only, and still has no valid token. Decided per request, so revoking
    the last token never opens a server that started with tokens or listens beyond loopback."""
    return may_be_tokenless(state) and not state.store.has_tokens()


def current_user(request: Request, store: Store = Depends(get_store)) -> str:
    """The token's user; 'local' in tokenless mode (see `tokenless`); otherwise 401."""
    if tokenless(request.app.state):
        return LOCAL_USER
    token = bearer_token(request)
    user = store.token_user(token) if token else None
    if user is None:
        if not store.has_tokens():
            raise Unauthorized("missing or invalid API token: this server has no valid API token (every token was "
                               "revoked, or it listens beyond loopback), so it refuses every request; create one with "
                               "`flintcloud token create USER` and send 'Authorization: Bearer <token>'")
        raise Unauthorized("missing or invalid API token: send 'Authorization: Bearer <token>' "
                           "(create one with `flintcloud token create USER`)")
    return user


def owned_simulation(sim_id: str, user: str = Depends(current_user), store: Store = Depends(get_store)) -> Simulation:
    try:
        check_id(sim_id, "simulation id")
    except UnsafePathError as err:
        raise NotFound(f"simulation {sim_id!r} not found") from err
    sim = store.get_simulation(user, sim_id)
    if sim is None:
        raise NotFound(f"simulation {sim_id!r} not found")
    return sim


def error_body(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def install_error_handlers(app) -> None:
    statuses = [
        (NotFound, 404), (Unauthorized, 401), (Conflict, 409), (ConflictError, 409), (UploadTooLarge, 413),
        (UnsafePathError, 400), (UploadError, 400), (ValidationError, 422),
    ]

    async def flintcloud_error(request: Request, exc: FlintcloudError):
        for cls, status in statuses:
            if isinstance(exc, cls):
                break
        else:
            status = 422  # bad input the pipeline named (ConfigError, LayerError, DatabaseError, ...)
        extra = {"problems": exc.problems} if isinstance(exc, ValidationError) else {}
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        resp = error_body(status, str(exc), **extra)
        if headers:
            resp.headers.update(headers)
        return resp

    async def request_validation(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
            problems.append(f"{where or 'request'}: {e.get('msg')}")
        return error_body(422, "; ".join(problems), problems=problems)

    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_body(exc.status_code, str(exc.detail))

    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_body(500, f"internal error ({type(exc).__name__}); the server log has the details")

    app.add_exception_handler(FlintcloudError, flintcloud_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _host_port(netloc: str, scheme: str = "http") -> tuple[str, int] | None:
    """(lower-case host without brackets, port) of 'host[:port]'; None if it does not parse. Pure."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return host.rstrip("."), port if port is not None else (443 if scheme == "https" else 80)


def is_loopback_name(host: str) -> bool:
    """'localhost' or a loopback IP (127.0.0.0/8, ::1). Pure."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_request_problem(headers: dict[str, str]) -> str | None:
    """Why a request may not reach a tokenless server, or None. Its Host must be a loopback name (a page whose
    own name was re-pointed at 127.0.0.1, DNS rebinding, sends its own name), and an Origin, when the browser
    sends one, must be this very host and port (another site's page posting a form or a fetch: CSRF). Pure."""
    host = headers.get("host", "")
    where = _host_port(host)
    if where is None or not is_loopback_name(where[0]):
        return (f"Host header {host!r} is not a loopback name of this server (localhost, 127.0.0.1 or [::1]): "
                f"a server without API tokens answers only requests addressed to loopback")
    origin = headers.get("origin")
    if origin is not None:
        scheme, sep, rest = origin.partition("://")
        source = _host_port(rest, scheme) if sep and scheme in ("http", "https") else None
        if source is None or source != where:
            return (f"Origin {origin!r} is not this server's own origin (http://{host}): a page of another site may "
                    f"not call a server without API tokens")
    return None


class LocalGuard:
    """ASGI middleware: on a server that may be tokenless (see `may_be_tokenless`) refuse, with 403, requests that
    a web page of another site made the browser send (foreign Origin) or that reached us under a foreign name
    (Host: DNS rebinding). A server that started with tokens or beyond loopback never serves anonymous requests,
    and a browser cannot send a bearer token across origins (no CORS): nothing is checked there."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "app" in scope and may_be_tokenless(scope["app"].state):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            problem = local_request_problem(headers)
            if problem is not None:
                return await error_body(403, problem)(scope, receive, send)
        return await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse a request body larger than `limit` bytes (413), declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    return await error_body(413, f"request body of {declared} bytes exceeds the upload limit of "
                                                 f"{self.limit} bytes")(scope, receive, send)
        received = 0
        too_large: str | None = None
        replaced = False

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = f"request body exceeds the upload limit of {self.limit} bytes"
                    raise UploadTooLarge(too_large)
            return message

        async def replacing_send(message):
            # Whatever the app answers once the body overflowed (a parser error, say), the client gets 413.
            nonlocal replaced
            if too_large is None:
                return await send(message)
            if replaced:
                return
            replaced = True
            body = json.dumps({"error": too_large}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        try:
            await self.app(scope, limited_receive, replacing_send)
        except UploadTooLarge:
            if not replaced:
                await replacing_send({})
