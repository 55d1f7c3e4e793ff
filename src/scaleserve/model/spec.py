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

from scaleserve.cache.policy import CachePolicy, policy_input
from scaleserve.errors import ConfigError
from scaleserve.model.base import Model
from scaleserve.model.tasks import Generation, GenerationChunk, GenerationRequest, Task
from scaleserve.scale.autoscale import Autoscale

if typing.TYPE_CHECKING:
    from scaleserve.audit.policy import AuditPolicy
    from scaleserve.features.join import FeatureNeed
    from scaleserve.observe.drift.spec import DriftSpec

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SEQUENCE_ORIGINS = (list, collections.abc.Sequence, collections.abc.Iterable)
_STREAM_ORIGINS = (
    collections.abc.Iterator,
    collections.abc.AsyncIterator,
    collections.abc.Generator,
    collections.abc.AsyncGenerator,
    collections.abc.Iterable,
    collections.abc.AsyncIterable,
)


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
    task: Task | None = None
    fallback: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN.pattern)
    price_per_compute_s: float | None = Field(default=None, ge=0)
    price_per_1k_items: float | None = Field(default=None, ge=0)
    cache: CachePolicy = CachePolicy()
    autoscale: Autoscale | None = None
    worker_cpus: float = Field(default=1.0, gt=0, le=1024)
    worker_memory_mb: int = Field(default=0, ge=0)
    worker_gpus: int = Field(default=0, ge=0, le=64)
    half_precision: bool = False
    slo_latency_ms: float | None = Field(default=None, gt=0, le=3_600_000)
    slo_availability: float | None = Field(default=None, gt=0, lt=1)
    drift: Any = False  # True, False or a DriftSpec: checked by _drift_spec


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
    task: Task | None = None
    streams: bool = False
    """The model implements ``predict_stream``."""
    chunk_type: Any = None
    cache: CachePolicy = dataclasses.field(default_factory=CachePolicy)
    """The result cache's policy for this model (``scaleserve.cache.policy``)."""
    fallback: str | None = None
    """The model that answers when this one is overloaded or has no worker ready."""
    price_per_compute_s: float | None = None
    price_per_1k_items: float | None = None
    target: str = ""
    """Where the class was found (a ``scaleserve serve`` target): how a worker loads it."""
    autoscale: Autoscale | None = None
    """Autoscaling between ``autoscale.min_workers`` and ``max_workers`` (``None``: a fixed
    ``workers``)."""
    worker_cpus: float = 1.0
    worker_memory_mb: int = 0
    worker_gpus: int = 0
    half_precision: bool = False
    """Half precision asked for (on a GPU; float32 on a CPU)."""
    slo_latency_ms: float | None = None
    """The p95 latency the model should answer within (alerts compare with it)."""
    slo_availability: float | None = None
    """The share of requests that should succeed (error budget burn rates use it)."""
    features: tuple[FeatureNeed, ...] = ()
    """The online features the gateway joins into each input before validating it."""
    audit: AuditPolicy | None = None
    """Which of its predictions go to the audit log (``None``: none)."""
    drift: DriftSpec | None = None
    """How the gateway watches this model's inputs and outputs for drift (``None``: not)."""
    lane: str = ""
    """The queue of this version when it is one of several of a registry model
    (``name@version``); empty: the model has one queue, named as the model."""

    @classmethod
    def from_class(cls, model_class: type[Model], target: str = "") -> ModelSpec:
        """Validate ``model_class`` and derive its spec; ``ConfigError`` names any problem."""
        if not (inspect.isclass(model_class) and issubclass(model_class, Model)):
            raise ConfigError(f"{model_class!r} is not a subclass of scaleserve.Model")
        if model_class.predict is Model.predict:
            raise ConfigError(f"{model_class.__name__} does not implement predict()")
        settings = _validated_settings(model_class)
        input_type, output_type = _item_types(model_class)
        streams = model_class.predict_stream is not Model.predict_stream
        chunk_type = _chunk_type(model_class, input_type) if streams else None
        spec = cls(
            model_class=model_class,
            input_type=input_type,
            output_type=output_type,
            streams=streams,
            chunk_type=chunk_type,
            cache=settings.cache,
            autoscale=settings.autoscale,
            drift=_drift_spec(settings.drift),
            features=_feature_needs(model_class),
            audit=_audit_policy(model_class),
            target=target,
            **settings.model_dump(exclude={"cache", "autoscale", "drift"}),
        )
        return dataclasses.replace(spec, task=_task(spec))

    @property
    def queue_name(self) -> str:
        """The queue (and worker pool) serving this spec."""
        return self.lane or self.name

    def with_workers(self, workers: int) -> ModelSpec:
        """A fixed number of workers (``--workers``): no autoscaling."""
        return dataclasses.replace(self, workers=workers, autoscale=None)

    @property
    def initial_workers(self) -> int:
        """Workers to start with: the fixed count, or the autoscaling minimum."""
        return self.workers if self.autoscale is None else self.autoscale.min_workers

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.model_class.predict)

    @cached_property
    def input_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.input_type)

    @cached_property
    def output_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.output_type)

    @cached_property
    def chunk_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.chunk_type)


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
        "task": model_class.task,
        "fallback": model_class.fallback,
        "price_per_compute_s": model_class.price_per_compute_s,
        "price_per_1k_items": model_class.price_per_1k_items,
        "cache": policy_input(model_class.cache),
        "autoscale": model_class.autoscale,
        "worker_cpus": model_class.worker_cpus,
        "worker_memory_mb": model_class.worker_memory_mb,
        "worker_gpus": model_class.worker_gpus,
        "half_precision": model_class.half_precision,
        "slo_latency_ms": model_class.slo_latency_ms,
        "slo_availability": model_class.slo_availability,
        "drift": model_class.drift,
    }
    try:
        return _Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{model_class.__name__} has invalid settings: {problems}") from None


def _audit_policy(model_class: type[Model]) -> AuditPolicy | None:
    from scaleserve.audit.policy import audit_policy

    return audit_policy(model_class.audit)


def _feature_needs(model_class: type[Model]) -> tuple[FeatureNeed, ...]:
    needs = tuple(model_class.features or ())
    if not needs:
        return ()
    from scaleserve.features.join import FeatureNeed

    for need in needs:
        if not isinstance(need, FeatureNeed):
            raise ConfigError(
                f"{model_class.__name__}.features must list scaleserve.features.FeatureNeed "
                f"objects, not {need!r}"
            )
    return needs


def _drift_spec(drift: Any) -> DriftSpec | None:
    """The model's drift settings; the statistics libraries load only for a model that
    asks for them."""
    if drift is False or drift is None:
        return None
    from scaleserve.observe.drift.spec import DriftSpec

    if drift is True:
        return DriftSpec()
    if isinstance(drift, DriftSpec):
        return drift
    raise ConfigError(f"drift must be True, False or a DriftSpec, not {drift!r}")


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


def _chunk_type(model_class: type[Model], input_type: Any) -> Any:
    """Read ``predict_stream(self, item: In) -> Iterator[Chunk]`` into ``Chunk``."""
    name = model_class.__name__
    try:
        hints = typing.get_type_hints(model_class.predict_stream, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"cannot read the type hints of {name}.predict_stream: {exc}") from exc
    params = [p for p in inspect.signature(model_class.predict_stream).parameters if p != "self"]
    if len(params) != 1:
        raise ConfigError(f"{name}.predict_stream must take exactly one argument, the item")
    item_hint = hints.get(params[0], Any)
    if item_hint is not Any and input_type is not Any and item_hint != input_type:
        raise ConfigError(
            f"{name}.predict_stream takes {item_hint!r} but predict takes list[{input_type!r}]; "
            "both must take the same item type"
        )
    return_hint = hints.get("return", Any)
    if return_hint is Any:
        return Any
    if typing.get_origin(return_hint) in _STREAM_ORIGINS:
        args = typing.get_args(return_hint)
        return args[0] if args else Any
    raise ConfigError(
        f"{name}.predict_stream must be annotated Iterator[T] or AsyncIterator[T], "
        f"not {return_hint!r}"
    )


def fitted_task(spec: ModelSpec, declared: str | None) -> Task | None:
    """The task of ``spec`` when ``declared`` (or none declared): what ``from_class`` does
    for a model, for specs made otherwise (a pipeline's)."""
    try:
        task = Task(declared) if declared else None
    except ValueError:
        raise ConfigError(f"unknown task {declared!r}") from None
    return _task(dataclasses.replace(spec, task=task))


def _task(spec: ModelSpec) -> Task | None:
    """The declared task, which the types must fit; else the task the types fit, if any (a
    model of ``str`` to vectors is an embedding model whether it says so or not)."""
    fits = {Task.EMBEDDING: _fits_embedding, Task.TEXT_GENERATION: _fits_text_generation}
    if spec.task is None:
        return next((task for task, fit in fits.items() if fit(spec)), None)
    if not fits[spec.task](spec):
        name = spec.model_class.__name__
        raise ConfigError(f"{name} has task {spec.task.value!r}, so {_NEEDS[spec.task]}")
    return spec.task


_NEEDS = {
    Task.EMBEDDING: "its predict must be (self, batch: list[str]) -> list[list[float]]",
    Task.TEXT_GENERATION: (
        "it must implement predict(self, batch: list[GenerationRequest]) -> list[Generation] "
        "and predict_stream(self, item: GenerationRequest) -> Iterator[GenerationChunk] "
        "(from scaleserve.model.tasks)"
    ),
}


def _fits_embedding(spec: ModelSpec) -> bool:
    try:
        takes = spec.input_adapter.json_schema()
        gives = spec.output_adapter.json_schema()
    except Exception:  # a type without a JSON schema is no text and no vector
        return False
    number = gives.get("items", {}).get("type") in {"number", "integer"}
    return takes.get("type") == "string" and gives.get("type") == "array" and number


def _fits_text_generation(spec: ModelSpec) -> bool:
    def subclass(hint: Any, base: type) -> bool:
        return inspect.isclass(hint) and issubclass(hint, base)

    return (
        subclass(spec.input_type, GenerationRequest)
        and subclass(spec.output_type, Generation)
        and spec.streams
        and subclass(spec.chunk_type, GenerationChunk)
    )
