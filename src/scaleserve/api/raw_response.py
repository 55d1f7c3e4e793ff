"""Sending a whole response straight over ASGI, for the routes answered ahead of FastAPI."""

from __future__ import annotations

from starlette.types import Send

from scaleserve.api.problems import problem_body
from scaleserve.errors import ScaleserveError

Headers = list[tuple[bytes, bytes]]


async def send_response(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """``body`` with ``headers`` (its length added) and ``status``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_problem(
    send: Send, error: ScaleserveError | None, extra: Headers | None = None
) -> int:
    """The problem body answering ``error`` (``None``: an unexpected failure), with the
    ``extra`` headers; its status."""
    status, body, headers = problem_body(error)
    await send_response(send, status, body, [*headers, *extra] if extra else headers)
    return status
