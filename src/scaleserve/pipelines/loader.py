"""Finds the ``Pipeline`` classes the served targets declare and reads their graphs."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from scaleserve.errors import ConfigError
from scaleserve.model.loader import import_target
from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.declare import Pipeline
from scaleserve.pipelines.graph import PipelineGraph, read_graph


def load_pipelines(targets: Sequence[str], specs: Sequence[ModelSpec]) -> list[PipelineGraph]:
    """The graph of every pipeline ``targets`` declare, over the served ``specs``; names
    must differ from every model's and each other's."""
    models = {spec.name: spec for spec in specs}
    graphs: list[PipelineGraph] = []
    for target in targets:
        module = import_target(target.partition(":")[0])
        for cls in declared_pipelines(module):
            graph = read_graph(cls, models)
            if graph.name in models or any(g.name == graph.name for g in graphs):
                raise ConfigError(f"{target!r}: the name {graph.name!r} is served twice")
            graphs.append(graph)
    return graphs


def declared_pipelines(module: object) -> list[type[Pipeline]]:
    """The ``Pipeline`` subclasses a module defines, in order."""
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Pipeline)
        and obj is not Pipeline
        and obj.__module__ == getattr(module, "__name__", None)
    ]
