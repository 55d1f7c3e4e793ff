"""The dashboard's routes on the admin listener, all behind the admin credential:

- ``GET /admin/dashboard``: the page (HTML; its script and styles are static files, so the
  Content-Security-Policy allows nothing but this origin);
- ``GET /admin/dashboard/static/{name}``: the files shipped in this package, by a name
  from a fixed list (a name is only ever a key: it never reaches a file path);
- ``GET /admin/dashboard/events``: Server-Sent Events, one JSON snapshot a second, each
  with an id; a browser that reconnects (``Last-Event-ID``) gets what it missed.

A browser cannot put a Bearer header on a page it navigates to, so besides
``Authorization: Bearer <admin key>`` these routes take HTTP Basic with the admin key as the
password (any user name). A refusal is a JSON problem with a Basic challenge, so the
browser asks for it; EventSource then sends the same credentials by itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from scaleserve.errors import ScaleserveError, Unauthenticated
from scaleserve.observe.dashboard.feed import Sampler
from scaleserve.observe.dashboard.sse import EventStream

PREFIX = "/admin/dashboard"
CHALLENGE = 'Basic realm="scaleserve admin", charset="UTF-8"'
STATIC_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}

Authenticate = Callable[[str | None], Awaitable[None]]
"""The admin check: passes an admin ``Authorization`` header, raises ``Unauthenticated`` or
``Forbidden`` otherwise (``Gate.authenticate_admin``)."""
Refuse = Callable[[ScaleserveError], Response]
"""The problem response answering an error (``scaleserve.api.problems.problem_response``)."""


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def build_router(
    sampler: Sampler,
    authenticate: Authenticate,
    refuse: Refuse,
    *,
    version: str = "",
    stream_lifetime_s: float = 5.0,
) -> APIRouter:
    """The dashboard's routes; ``version`` is shown in the page's header. An event stream
    ends after ``stream_lifetime_s`` and the browser resumes it where it was (so an open
    page never holds the listener open when it stops: close the sampler to end them all at
    once)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    refused = _guard(authenticate, refuse)
    page = _page(version)

    @router.get("")
    async def dashboard(request: Request) -> Response:
        if (refusal := await refused(request)) is not None:
            return refusal
        headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @router.get("/events")
    async def events(request: Request) -> Response:
        if (refusal := await refused(request)) is not None:
            return refusal
        last_id = request.headers.get("last-event-id")
        return EventStream(sampler.updates(last_id), lifetime_s=stream_lifetime_s)

    _static_route(router, refused)
    return router


def _static_route(router: APIRouter, refused: Guard) -> None:
    files = {name: _static(name, media_type) for name, media_type in STATIC_TYPES.items()}

    @router.get("/static/{name}")
    async def static_file(name: str, request: Request) -> Response:
        if (refusal := await refused(request)) is not None:
            return refusal
        found = files.get(name)
        if found is None:  # answered like any unknown path of the admin listener
            raise HTTPException(status_code=404, detail="Not Found")
        headers = {**SECURITY_HEADERS, "cache-control": "no-cache", "etag": found.etag}
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)


Guard = Callable[[Request], Awaitable[Response | None]]
"""The refusal answering a request without the admin credential; ``None`` lets it pass."""


def _guard(authenticate: Authenticate, refuse: Refuse) -> Guard:
    async def refused(request: Request) -> Response | None:
        try:
            await authenticate(as_bearer(request.headers.get("authorization")))
        except ScaleserveError as exc:
            response = refuse(exc)
            if isinstance(exc, Unauthenticated):
                response.headers["www-authenticate"] = CHALLENGE
            return response
        return None

    return refused


def as_bearer(authorization: str | None) -> str | None:
    """``Authorization`` as the admin check reads it: Basic credentials (any user name, the
    admin key as password) become ``Bearer <key>``; other schemes pass unchanged, and Basic
    credentials that do not decode pass as none."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return authorization
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return f"Bearer {password}" if colon and password else None


def _page(version: str) -> bytes:
    template = (resources.files(__package__) / "static" / "index.html").read_text()
    values = {"__HOST__": socket.gethostname(), "__VERSION__": version}
    for token, value in values.items():
        template = template.replace(token, html.escape(value))
    return template.encode()


def _static(name: str, media_type: str) -> StaticFile:
    body = (resources.files(__package__) / "static" / name).read_bytes()
    return StaticFile(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"')
