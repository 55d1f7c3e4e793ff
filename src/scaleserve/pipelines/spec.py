"""A pipeline's public spec: what the gateway's routes and the OpenAPI document need to
serve it like a model (its input and output types, whether it streams, its task)."""

from __future__ import annotations

import dataclasses

from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec, fitted_task
from scaleserve.pipelines.graph import PipelineGraph


def public_spec(graph: PipelineGraph) -> ModelSpec:
    cls = graph.pipeline
    last = graph.output_step
    streams = last.model is not None and last.model.streams
    try:
        spec = ModelSpec(
            model_class=cls,
            name=graph.name,
            version=cls.version,
            max_batch_size=1,
            max_wait_ms=0.0,
            workers=0,
            timeout_s=cls.timeout_s,
            max_queue_items=cls.max_queue_items,
            max_items_per_request=cls.max_items_per_request,
            input_type=graph.request_type,
            output_type=last.gives,
            streams=streams,
            chunk_type=last.model.chunk_type if streams and last.model else None,
            target=cls.__module__,
        )
        return dataclasses.replace(spec, task=fitted_task(spec, cls.task))
    except ConfigError as exc:
        raise ConfigError(f"pipeline {cls.__name__}: {exc}") from None
