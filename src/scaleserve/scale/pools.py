"""Worker pools of registry versions on this host: one pool (and lane) per version, started
from the version's own artifact and code, retired once the version no longer serves."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from scaleserve.model.spec import ModelSpec
from scaleserve.registry.codec import version_json
from scaleserve.registry.records import ModelVersion
from scaleserve.scale.autoscaler import Autoscaler
from scaleserve.scale.capacity import Needs
from scaleserve.scale.supervisor import Supervisor
from scaleserve.scale.worker_plans import version_pool
from scaleserve.worker.main import EXIT_LOAD_FAILED, LOAD_FAILURE_ENV


class LanePools(Protocol):
    def start(
        self, spec: ModelSpec, version: ModelVersion, artifact: Path | None, code: Path | None
    ) -> None:
        """Start the workers of ``spec``'s lane."""
        ...

    async def retire(self, lane: str) -> None:
        """Drain and stop the lane's workers."""
        ...

    def load_failure(self, lane: str) -> str | None:
        """Why the lane's workers cannot start (their ``load()`` fails), if they cannot."""
        ...


class SupervisedPools:
    """``LanePools`` run by this process's supervisor."""

    def __init__(
        self,
        supervisor: Supervisor,
        source: tuple[str, ...],
        env: dict[str, str],
        state_dir: Path,
        drain_timeout_s: float,
    ) -> None:
        self._supervisor = supervisor
        self._source = source
        self._env = env
        self._state_dir = state_dir
        self._drain_timeout_s = drain_timeout_s
        self._lanes: dict[str, ModelSpec] = {}
        self._scaler: Autoscaler | None = None

    def scale_with(self, scaler: Autoscaler) -> None:
        """Let ``scaler`` size the lanes started so far and from now on (each by its own
        version's ``autoscale``; a lane without one keeps its size and its share)."""
        self._scaler = scaler
        for spec in self._lanes.values():
            self._watch(spec)

    def _watch(self, spec: ModelSpec) -> None:
        if self._scaler is None:
            return
        if spec.autoscale is not None:
            self._scaler.add(spec.queue_name, spec.autoscale, Needs.of(spec), spec.max_batch_size)
        else:
            self._scaler.add_fixed(spec.queue_name, Needs.of(spec))

    def start(
        self, spec: ModelSpec, version: ModelVersion, artifact: Path | None, code: Path | None
    ) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        record = self._state_dir / f"{spec.queue_name}.json"
        record.write_bytes(version_json(version))
        failure = self._failure_file(spec.queue_name)
        failure.unlink(missing_ok=True)
        env = {**self._env, LOAD_FAILURE_ENV: str(failure)}
        pool = version_pool(
            spec, self._source, env, record=record, artifact_dir=artifact, code_dir=code
        )
        self._supervisor.add_pool(pool)
        self._lanes[spec.queue_name] = spec
        self._watch(spec)

    async def retire(self, lane: str) -> None:
        self._lanes.pop(lane, None)
        if self._scaler is not None:
            self._scaler.remove(lane)
        await self._supervisor.retire(lane, self._drain_timeout_s)

    def load_failure(self, lane: str) -> str | None:
        supervisor = self._supervisor
        if not supervisor.is_failing(lane) or supervisor.last_exit(lane) != EXIT_LOAD_FAILED:
            return None
        try:
            why = self._failure_file(lane).read_text().strip()
        except OSError:
            why = ""
        return f"its load() failed: {why}" if why else "its load() failed (see the worker log)"

    def _failure_file(self, lane: str) -> Path:
        return self._state_dir / f"{lane}.failure"
