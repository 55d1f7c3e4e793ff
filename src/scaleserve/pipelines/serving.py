"""The pipelines a service serves, put in front of its broker and beside its models."""

from __future__ import annotations

from collections.abc import Sequence

from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.broker import PipelineBroker
from scaleserve.pipelines.executor import PipelineExecutor
from scaleserve.pipelines.graph import PipelineGraph
from scaleserve.pipelines.spec import public_spec
from scaleserve.pipelines.steps import StepLog
from scaleserve.queue.broker import Broker
from scaleserve.vectors.store import VectorStore


class PipelineServing:
    def __init__(
        self, graphs: Sequence[PipelineGraph], log: StepLog, vectors: VectorStore | None
    ) -> None:
        self.graphs = list(graphs)
        self._log = log
        self._vectors = vectors

    def attach(self, broker: Broker, specs: Sequence[ModelSpec]) -> tuple[Broker, list[ModelSpec]]:
        """The broker the routes and the job runner use, and every public spec."""
        if not self.graphs:
            return broker, list(specs)
        executors = {
            g.name: PipelineExecutor(g, broker, self._log, self._vectors) for g in self.graphs
        }
        pipelines = [public_spec(g) for g in self.graphs]
        return PipelineBroker(broker, executors), [*specs, *pipelines]

    def is_pipeline(self, name: str) -> bool:
        return any(g.name == name for g in self.graphs)
