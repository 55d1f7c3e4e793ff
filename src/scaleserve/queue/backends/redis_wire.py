"""How items, replies and job items are laid out as Redis stream fields.

Field names are one letter to keep entries small: ``p`` payload (JSON), ``d`` deadline and
``t`` enqueue time (unix seconds), then either ``g``/``i`` (the gateway's reply stream and
the item id it waits on) or ``j``/``x`` (the job id and the item's index in the job), and
``c`` the W3C ``traceparent`` of a traced item.
Everything read back is validated: an entry that does not parse is dead-lettered, never run.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from scaleserve.redis_keys import WORKER_GROUP
from scaleserve.types import FailureKind, ItemResult

GROUP = WORKER_GROUP
Fields = list[bytes | str | float | int]
RawFields = dict[bytes, bytes]
StreamRead = list[tuple[bytes, list[tuple[bytes, RawFields]]]]
"""What XREAD/XREADGROUP answer (with ``decode_responses`` off)."""


def sync_item_fields(
    payload: bytes,
    deadline: float,
    now: float,
    reply_to: str,
    item_id: int,
    *,
    stream: bool = False,
    trace: str = "",
) -> Fields:
    """A synchronous item; ``stream`` ones run through ``predict_stream`` (``s`` = 1)."""
    fields: Fields = [
        "p",
        payload,
        "d",
        repr(deadline),
        "t",
        repr(now),
        "g",
        reply_to,
        "i",
        item_id,
        "s",
        int(stream),
    ]
    return [*fields, "c", trace] if trace else fields


def job_item_fields(
    payload: bytes, deadline: float, now: float, job_id: str, index: int, *, trace: str = ""
) -> Fields:
    fields: Fields = ["p", payload, "d", repr(deadline), "t", repr(now), "j", job_id, "x", index]
    return [*fields, "s", 0, "c", trace] if trace else [*fields, "s", 0]


def flatten(items: list[Fields]) -> Fields:
    return [value for fields in items for value in fields]


@dataclass(frozen=True)
class StreamItem:
    """One entry read from a model's stream."""

    entry_id: str
    payload: bytes
    deadline: float
    enqueued_at: float
    reply_to: str | None = None
    item_id: int | None = None
    job_id: str | None = None
    index: int | None = None
    stream: bool = False
    tenant: str | None = None
    """The job's tenant, once the worker has started the job (it is not in the entry)."""
    trace: str = ""


class MalformedEntry(ValueError):
    """A stream entry that scaleserve did not write (or that was damaged)."""


def parse_item(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StreamItem:
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    try:
        payload = fields[b"p"]
        deadline = float(fields[b"d"])
        enqueued_at = float(fields[b"t"])
        if b"j" in fields:
            return StreamItem(
                entry,
                payload,
                deadline,
                enqueued_at,
                job_id=fields[b"j"].decode("ascii"),
                index=int(fields[b"x"]),
                trace=fields.get(b"c", b"").decode("ascii"),
            )
        return StreamItem(
            entry,
            payload,
            deadline,
            enqueued_at,
            reply_to=fields[b"g"].decode("ascii"),
            item_id=int(fields[b"i"]),
            stream=fields.get(b"s") == b"1",
            trace=fields.get(b"c", b"").decode("ascii"),
        )
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedEntry(f"entry {entry}: {exc!r}") from None


def reply_fields(result: ItemResult, item_id: int) -> dict[str, bytes | str | int]:
    """``o`` an output, ``f``/``e`` a failure, neither: a streamed item ended well; ``u`` the
    item's compute seconds."""
    fields: dict[str, bytes | str | int] = {"i": item_id, "u": repr(result.compute_s)}
    if result.output is not None:
        fields["o"] = result.output
    elif result.failure is not None:
        fields["f"] = result.failure.value
        fields["e"] = result.error or ""
    return fields


def chunk_fields(item_id: int, data: bytes) -> dict[str, bytes | int]:
    return {"i": item_id, "c": data}


def parse_reply(fields: dict[bytes, bytes]) -> ItemResult:
    item_id = int(fields[b"i"])
    compute_s = float(fields.get(b"u", 0.0))
    if b"o" in fields:
        return ItemResult(item_id, output=fields[b"o"], compute_s=compute_s)
    if b"f" not in fields:
        return ItemResult(item_id, compute_s=compute_s)
    return ItemResult(
        item_id,
        failure=FailureKind(fields[b"f"].decode()),
        error=fields[b"e"].decode(),
        compute_s=compute_s,
    )


async def ensure_group(redis: Redis, stream: str, group: str = GROUP) -> None:
    """Create a consumer group (and the stream) unless they exist; the workers' by default."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
