"""The class a user subclasses to serve a model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from scaleserve.cache.policy import CachePolicy
from scaleserve.scale.autoscale import Autoscale


class Model:
    """A model served by scaleserve.

    Subclass it, set the class attributes that differ from the defaults, and write
    ``load`` and ``predict``. Annotate ``predict`` as ``(self, batch: list[In]) -> list[Out]``
    with pydantic-compatible types: scaleserve validates every input and output item against
    them and publishes them in the OpenAPI document.

    Each worker process creates one instance, calls ``load()`` once, warms up with
    ``example_input`` when one is given, and only then takes traffic. Keep heavy imports
    (torch, transformers) inside ``load()``: the gateway imports the class to learn its types
    and must stay small.
    """

    name: ClassVar[str] = ""
    """Public name in URLs; lowercase letters, digits, ``.``, ``_``, ``-``. Defaults to the
    lowercased class name."""
    version: ClassVar[str] = "1"
    max_batch_size: ClassVar[int] = 1
    """Most items handed to one ``predict`` call."""
    max_wait_ms: ClassVar[float] = 0.0
    """Longest a queued item waits for a batch to fill before the batch runs anyway."""
    workers: ClassVar[int] = 1
    """Worker processes for this model (``scaleserve serve --workers`` overrides)."""
    timeout_s: ClassVar[float] = 30.0
    """Default deadline of a request."""
    max_queue_items: ClassVar[int] = 4096
    """Bound on items queued or running; beyond it requests are refused with 503."""
    max_items_per_request: ClassVar[int] = 1024
    example_input: ClassVar[Any] = None
    """One valid input item, used to warm up each worker and as the OpenAPI example."""
    task: ClassVar[str | None] = None
    """``"embedding"`` or ``"text-generation"``: what the OpenAI-compatible routes serve the
    model as. The types must fit the task (see ``scaleserve.model.tasks``); left unset, the
    task is the one the types fit, if any."""
    fallback: ClassVar[str | None] = None
    """Name of another served model (a smaller or CPU one) that answers in this model's place
    when it is overloaded or has no worker ready. It takes the same input items; the response
    names the model that answered."""
    price_per_compute_s: ClassVar[float | None] = None
    """What one second of this model's compute costs (usage reports turn it into cost)."""
    price_per_1k_items: ClassVar[float | None] = None
    """What 1000 predicted items cost, added to any compute price."""
    autoscale: ClassVar[Autoscale | None] = None
    """Autoscaling on the backlog (``scaleserve.Autoscale``): between ``min_workers`` and
    ``max_workers`` instead of a fixed ``workers``."""
    worker_cpus: ClassVar[float] = 1.0
    """CPU cores one worker needs: no more workers start than the machine's cores hold."""
    worker_memory_mb: ClassVar[int] = 0
    """Memory one worker needs (0: not counted)."""
    worker_gpus: ClassVar[int] = 0
    """GPUs one worker needs; each worker gets its own in ``CUDA_VISIBLE_DEVICES``."""
    half_precision: ClassVar[bool] = False
    """Run in half precision on a GPU (``scaleserve.use_half_precision(device)`` and
    ``scaleserve.torch_dtype(device)`` say so to ``load``); a worker without CUDA runs in
    float32 and logs that it does."""
    slo_latency_ms: ClassVar[float | None] = None
    """The p95 latency target in ms: exported as ``scaleserve_slo_latency_seconds`` for the
    shipped alert ``ScaleserveLatencyP95OverTarget``."""
    slo_availability: ClassVar[float | None] = None
    """The availability target (e.g. 0.999): exported as
    ``scaleserve_slo_availability_ratio`` for the shipped error-budget burn-rate alerts."""
    features: ClassVar[Sequence[Any]] = ()
    """Online features joined into each input before it is validated: a list of
    ``scaleserve.features.FeatureNeed`` (a view, the input field holding the entity id). A
    missing or stale feature takes its view's default, or the request gets a 422 naming it."""
    audit: ClassVar[Any] = None
    """Record predictions in the audit log: ``True`` (every error, every success, inputs and
    outputs as sha256), or a ``scaleserve.audit.policy.AuditPolicy``."""
    drift: ClassVar[Any] = False
    """Watch inputs and outputs for drift: ``True`` (defaults), or a
    ``scaleserve.observe.drift.DriftSpec`` for fields, thresholds and window sizes."""
    agreement: ClassVar[Any] = "equal"
    """How a shadowed candidate version's output is compared with the stable version's during
    a rollout: ``"equal"``, ``"cosine>=0.99"`` (vectors), ``"field:label"`` (the same value
    of one field, e.g. a classifier's top label), or a function ``(a, b) -> bool``."""
    cache: ClassVar[CachePolicy | str] = "off"
    """Result cache: ``"off"``, ``"exact"``, ``"semantic"``, or a ``CachePolicy`` for TTL,
    size bounds, stale fallback, scope and the semantic settings (``scaleserve.cache``)."""

    artifact_dir: Path | None = None
    """The folder of this version's artifact when it is served from the model registry
    (``scaleserve models register``), set before ``load()``; ``None`` otherwise."""

    def load(self) -> None:
        """Load weights and anything slow; runs once per worker process before it is ready."""

    def predict(self, batch: list[Any]) -> list[Any] | Awaitable[list[Any]]:
        """Return one output per input item, in order. May be ``async``."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict()")

    def predict_stream(self, item: Any) -> Iterator[Any] | AsyncIterator[Any]:
        """Optional: yield one item's output in chunks, as they are produced.

        Annotate it ``(self, item: In) -> Iterator[Chunk]`` (or ``AsyncIterator[Chunk]``) with
        the same ``In`` as ``predict``. Each chunk reaches the client as soon as it is yielded
        (``POST /v1/models/{name}/stream``, Server-Sent Events). Streamed items run one at a
        time, never batched. When the client goes away the generator is closed at its next
        ``yield``, so ``finally`` blocks run and no more work is spent on it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement predict_stream()")
