"""The deployment spec: everything scaleserve derives from a ``Model`` subclass."""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scaleserve.errors import ConfigError
from scaleserve.model.base import Model

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SEQUENCE_ORIGINS = (list, collections.abc.Sequence, collections.abc.Iterable)


class _Settings(BaseModel):
    """Validates the class attributes of a ``Model`` subclass."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=MODEL_NAME_PATTERN.pattern)
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    max_batch_size: int = Field(ge=1, le=4096)
    max_wait_ms: float = Field(ge=0, le=60_000)
    workers: int = Field(ge=1, le=256)
    timeout_s: float = Field(gt=0, le=86_400)
    max_queue_items: int = Field(ge=1)
    max_items_per_request: int = Field(ge=1)


@dataclass(frozen=True)
class ModelSpec:
    """A validated model class with its batching settings and item types."""

    model_class: type[Model]
    name: str
    version: str
    max_batch_size: int
    max_wait_ms: float
    workers: int
    timeout_s: float
    max_queue_items: int
    max_items_per_request: int
    input_type: Any
    output_type: Any

    @classmethod
    def from_class(cls, model_class: type[Model]) -> ModelSpec:
        """Validate ``model_class`` and derive its spec; ``ConfigError`` names any problem."""
        if not (inspect.isclass(model_class) and issubclass(model_class, Model)):
            raise ConfigError(f"{model_class!r} is not a subclass of scaleserve.Model")
        if model_class.predict is Model.predict:
            raise ConfigError(f"{model_class.__name__} does not implement predict()")
        settings = _validated_settings(model_class)
        input_type, output_type = _item_types(model_class)
        return cls(
            model_class=model_class,
            input_type=input_type,
            output_type=output_type,
            **settings.model_dump(),
        )

    def with_workers(self, workers: int) -> ModelSpec:
        return dataclasses.replace(self, workers=workers)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.model_class.predict)

    @cached_property
    def input_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.input_type)

    @cached_property
    def output_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.output_type)


def _validated_settings(model_class: type[Model]) -> _Settings:
    raw = {
        "name": model_class.name or model_class.__name__.lower(),
        "version": model_class.version,
        "max_batch_size": model_class.max_batch_size,
        "max_wait_ms": model_class.max_wait_ms,
        "workers": model_class.workers,
        "timeout_s": model_class.timeout_s,
        "max_queue_items": model_class.max_queue_items,
        "max_items_per_request": model_class.max_items_per_request,
    }
    try:
        return _Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{model_class.__name__} has invalid settings: {problems}") from None


def _item_types(model_class: type[Model]) -> tuple[Any, Any]:
    """Read ``predict(self, batch: list[In]) -> list[Out]`` into ``(In, Out)``."""
    try:
        hints = typing.get_type_hints(model_class.predict, include_extras=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read the type hints of {model_class.__name__}.predict: {exc}"
        ) from exc
    params = [p for p in inspect.signature(model_class.predict).parameters if p != "self"]
    if len(params) != 1:
        raise ConfigError(
            f"{model_class.__name__}.predict must take exactly one argument, the batch"
        )
    batch_hint = hints.get(params[0], Any)
    return_hint = hints.get("return", Any)
    return (
        _element_type(batch_hint, model_class, "batch argument"),
        _element_type(return_hint, model_class, "return value"),
    )


def _element_type(hint: Any, model_class: type[Model], what: str) -> Any:
    if hint is Any:
        return Any
    if typing.get_origin(hint) is collections.abc.Awaitable:
        hint = typing.get_args(hint)[0]
    origin = typing.get_origin(hint)
    if origin in _SEQUENCE_ORIGINS:
        args = typing.get_args(hint)
        return args[0] if args else Any
    raise ConfigError(
        f"{model_class.__name__}.predict's {what} must be annotated list[T], not {hint!r}"
    )
