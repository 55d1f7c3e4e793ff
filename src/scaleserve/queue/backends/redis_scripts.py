"""The Lua scripts of the Redis backends, loaded from ``lua/`` once per client.

``job_event.lua`` holds helpers shared by the job scripts and is prepended to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_SHARED = "job_event.lua"
_USES_SHARED = frozenset({"start_job.lua", "record_item.lua", "cancel_job.lua"})


def _source(name: str) -> str:
    folder = resources.files("scaleserve.queue.backends") / "lua"
    text = (folder / name).read_text()
    if name in _USES_SHARED:
        text = (folder / _SHARED).read_text() + "\n" + text
    return text


@dataclass(frozen=True)
class Scripts:
    enqueue: AsyncScript
    ack: AsyncScript
    submit_job: AsyncScript
    start_job: AsyncScript
    record_item: AsyncScript
    cancel_job: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        def load(name: str) -> Any:
            return redis.register_script(_source(f"{name}.lua"))

        return cls(
            enqueue=load("enqueue"),
            ack=load("ack"),
            submit_job=load("submit_job"),
            start_job=load("start_job"),
            record_item=load("record_item"),
            cancel_job=load("cancel_job"),
        )
