"""The Lua scripts of the Redis backends, kept in ``lua/`` and run by their SHA.

``job_event.lua`` holds helpers shared by the job scripts and is prepended to them.

Scripts are loaded once (``Scripts.load``) and called with ``EVALSHA``, alone or inside a
pipeline. (redis-py's own script objects ask ``SCRIPT EXISTS`` before every pipeline that
holds one: a whole extra round trip per worker batch.) Only when Redis answers
``NOSCRIPT`` (it restarted, or its scripts were flushed) are the scripts loaded again and
the refused calls, and only those, sent once more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from scaleserve.queue.backends.redis_link import Arg, Command, RedisLink, raise_first

_SHARED = "job_event.lua"
_USES_SHARED = frozenset({"start_jobs.lua", "finish_items.lua", "cancel_job.lua"})


def _source(name: str) -> str:
    folder = resources.files("scaleserve.queue.backends") / "lua"
    text = (folder / name).read_text()
    if name in _USES_SHARED:
        text = (folder / _SHARED).read_text() + "\n" + text
    return text


class Runner(Protocol):
    """What runs a command: a redis-py client or a ``RedisLink``."""

    async def execute_command(self, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Script:
    """One Lua script: its source and the SHA that ``EVALSHA`` names it by."""

    name: str
    source: str
    sha: str

    @classmethod
    def named(cls, name: str) -> Script:
        source = _source(f"{name}.lua")
        return cls(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())

    def command(self, keys: Sequence[str], args: Sequence[Arg]) -> tuple[Arg, ...]:
        """The ``EVALSHA`` command that runs the script, for a pipeline (see ``run``)."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    async def __call__(self, redis: Runner, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run the script on its own (one round trip; two when Redis had lost it)."""
        try:
            return await redis.execute_command(*self.command(keys, args))
        except NoScriptError:
            await redis.execute_command("SCRIPT", "LOAD", self.source)
            return await redis.execute_command(*self.command(keys, args))


async def run(link: RedisLink, commands: Sequence[Command], block_s: float = 0.0) -> list[Any]:
    """Send ``commands`` in one write and return their answers; raise the first error.

    The script calls Redis refused with ``NOSCRIPT`` are sent again, in their order, after
    loading every script: each other command has run once, and so does each script call.
    ``block_s``: how long a blocking command among them may wait in Redis.
    """
    answers = await link.pipeline(commands, block_s=block_s)
    refused = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
    if refused:
        loads: list[Command] = [("SCRIPT", "LOAD", script.source) for script in SCRIPTS.all]
        again = await link.pipeline([*loads, *(commands[i] for i in refused)])
        for i, answer in zip(refused, again[len(loads) :], strict=True):
            answers[i] = answer
    return raise_first(answers)


@dataclass(frozen=True)
class Scripts:
    enqueue: Script
    submit_jobs: Script
    start_jobs: Script
    finish_items: Script
    cancel_job: Script
    hand_back: Script

    @classmethod
    def named(cls) -> Scripts:
        return cls(
            enqueue=Script.named("enqueue"),
            submit_jobs=Script.named("submit_jobs"),
            start_jobs=Script.named("start_jobs"),
            finish_items=Script.named("finish_items"),
            cancel_job=Script.named("cancel_job"),
            hand_back=Script.named("hand_back"),
        )

    @property
    def all(self) -> tuple[Script, ...]:
        return (
            self.enqueue,
            self.submit_jobs,
            self.start_jobs,
            self.finish_items,
            self.cancel_job,
            self.hand_back,
        )

    async def load(self, redis: Runner) -> None:
        """Load every script into Redis, so that the first calls find them."""
        for script in self.all:
            await redis.execute_command("SCRIPT", "LOAD", script.source)


SCRIPTS = Scripts.named()
"""The scripts, read from their files once per process."""
