"""Registry records as JSON, the same in every metadata store (and on the admin API)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from scaleserve.registry.records import Event, ModelState, ModelVersion, RolloutPolicy

_VERSION = TypeAdapter(ModelVersion)
_STATE = TypeAdapter(ModelState)
_EVENT = TypeAdapter(Event)
_POLICY = TypeAdapter(RolloutPolicy)


def version_json(version: ModelVersion) -> bytes:
    return _VERSION.dump_json(version)


def version_from_json(raw: bytes | str) -> ModelVersion:
    return _VERSION.validate_json(raw)


def state_json(state: ModelState) -> bytes:
    return _STATE.dump_json(state)


def state_from_json(raw: bytes | str) -> ModelState:
    return _STATE.validate_json(raw)


def event_json(event: Event) -> bytes:
    return _EVENT.dump_json(event)


def event_from_json(raw: bytes | str) -> Event:
    return _EVENT.validate_json(raw)


def plain(record: ModelVersion | ModelState | Event | RolloutPolicy) -> Any:
    """The record as plain JSON values (for the admin API and the CLI)."""
    adapter: TypeAdapter[Any] = TypeAdapter(type(record))
    return adapter.dump_python(record, mode="json")


def policy_from_plain(value: Any) -> RolloutPolicy:
    """A rollout policy from plain JSON values (a file, a request body); pydantic's
    ``ValidationError`` names what is wrong."""
    return _POLICY.validate_python(value)
