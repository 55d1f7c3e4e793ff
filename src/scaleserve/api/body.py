"""Reads a request body as JSON bytes straight from ASGI, refusing other media types and
oversized bodies before reading more than the limit."""

from __future__ import annotations

from starlette.types import Receive

from scaleserve.errors import BodyTooLarge, UnsupportedMedia


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_headers(content_type: str | None, content_length: str | None, limit_bytes: int) -> None:
    """Refuse by headers alone, before any of the body is read. A missing ``Content-Type``
    is taken as JSON: the body must still parse as JSON."""
    if content_type is not None and not is_json_media_type(content_type):
        raise UnsupportedMedia(content_type)
    if (
        content_length is not None
        and content_length.isdigit()
        and int(content_length) > limit_bytes
    ):
        raise BodyTooLarge(limit_bytes)


async def read_body(receive: Receive, limit_bytes: int) -> bytes:
    """The whole body; ``BodyTooLarge`` as soon as more than ``limit_bytes`` arrived."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit_bytes:
            raise BodyTooLarge(limit_bytes)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise BodyTooLarge(limit_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
