"""The registry's metadata seam: versions, each model's serving state, and its history.

Backends: ``backends/sqlite.py`` (embedded) and ``backends/postgres.py`` (distributed).
Every change to a model's state is a compare-and-set on its revision (``commit``), so two
admin changes made at once cannot both win: the later gets ``Conflict`` (409).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Protocol

from scaleserve.errors import Conflict
from scaleserve.registry.records import Event, ModelState, ModelVersion, check_version

WATCH_INTERVAL_S = 0.25
"""How often a store without notifications looks for changed states (alias moves reach
every gateway well within a second)."""


class RegistryStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def add_version(self, version: ModelVersion) -> ModelVersion:
        """Record a new version; an empty ``version`` gets the next number (``1``, ``2``…).
        ``Conflict`` if the model has that version already."""
        ...

    async def get_version(self, model: str, version: str) -> ModelVersion:
        """``UnknownVersion`` when there is none such."""
        ...

    async def list_versions(self, model: str) -> list[ModelVersion]:
        """The model's versions, oldest first (empty for an unknown model)."""
        ...

    async def list_models(self) -> list[str]: ...

    async def state(self, model: str) -> ModelState:
        """The model's serving state (revision 0 and nothing set, before any change)."""
        ...

    async def commit(self, state: ModelState, events: Sequence[Event] = ()) -> ModelState:
        """Store ``state`` if the stored revision is still ``state.revision``, with
        ``events`` in its history, all in one transaction; return it at its new revision.
        ``Conflict`` when another change came first. Every watcher hears of it."""
        ...

    async def history(self, model: str, limit: int = 200) -> list[Event]:
        """The model's recorded events, oldest first (the last ``limit``)."""
        ...

    async def revisions(self) -> dict[str, int]:
        """Each model's state revision (a cheap read, for watchers)."""
        ...

    def watch(self) -> AsyncIterator[set[str]]:
        """Yield the names of models whose state changed, as they change (first: every
        model with a state)."""
        ...


async def poll_revisions(
    store: RegistryStore, interval_s: float = WATCH_INTERVAL_S
) -> AsyncIterator[set[str]]:
    """``watch`` for stores without notifications: compare revisions every ``interval_s``."""
    seen: dict[str, int] = {}
    first = True
    while True:
        current = await store.revisions()
        changed = {model for model, rev in current.items() if seen.get(model) != rev}
        seen = current
        if changed or first:
            yield changed
            first = False
        await asyncio.sleep(interval_s)


def numbered(version: ModelVersion, seq: int, taken: Collection[str] = ()) -> ModelVersion:
    """``version`` numbered ``seq``, or the next number no version of the model is named
    (a version registered without a name of its own)."""
    while str(seq) in taken:
        seq += 1
    return dataclasses.replace(version, version=check_version(str(seq)))


def next_revision(state: ModelState) -> ModelState:
    return dataclasses.replace(state, revision=state.revision + 1)


def stamped(event: Event, revision: int) -> Event:
    """``event`` as recorded with the state revision it produced."""
    return dataclasses.replace(event, revision=revision)


def stale(state: ModelState) -> Conflict:
    """The error of a commit made against a revision that is no longer the stored one."""
    return Conflict(
        f"model {state.model!r} was changed by someone else meanwhile (it is past revision "
        f"{state.revision}); read it again and retry"
    )
