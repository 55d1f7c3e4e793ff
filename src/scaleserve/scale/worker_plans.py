"""The worker processes a pool runs: their command lines and environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from scaleserve.model.spec import ModelSpec
from scaleserve.scale.supervisor import Pool, WorkerPlan
from scaleserve.settings import ServeSettings
from scaleserve.worker.runtime import THREADS_ENV


def queue_args(settings: ServeSettings, socket_path: str) -> tuple[str, ...]:
    """Where workers take work from: the gateway's socket, Redis, RabbitMQ or NATS."""
    if settings.queue_url is not None:
        return ("--queue", settings.queue_url, "--redis-prefix", settings.redis_prefix)
    if settings.redis_url is not None:
        return ("--redis", settings.redis_url, "--redis-prefix", settings.redis_prefix)
    return ("--socket", socket_path)


def worker_env(total_workers: int) -> dict[str, str]:
    """Each worker's environment, with an equal share of this machine's CPUs."""
    env = dict(os.environ)
    env.setdefault(THREADS_ENV, str(max(1, (os.cpu_count() or 1) // max(1, total_workers))))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def target_pool(spec: ModelSpec, source: Sequence[str], env: dict[str, str]) -> Pool:
    """The pool of a model of a target (a file or module)."""
    argv = ("--target", spec.target, "--model", spec.name, *source)
    return _pool(spec, argv, env)


def version_pool(
    spec: ModelSpec,
    source: Sequence[str],
    env: dict[str, str],
    *,
    record: Path,
    artifact_dir: Path | None,
    code_dir: Path | None,
) -> Pool:
    """The pool of one version of a registry model (its lane)."""
    argv: tuple[str, ...] = ("--model", spec.name, "--version-record", str(record), *source)
    if artifact_dir is not None:
        argv += ("--artifact-dir", str(artifact_dir))
    if code_dir is not None:
        argv += ("--code-dir", str(code_dir))
    command = (sys.executable, "-m", "scaleserve.worker", *argv)
    # a new version warms up before any traffic moves to it, even one that may sleep later
    return Pool(WorkerPlan(spec.queue_name, 0, command, env), max(1, spec.initial_workers))


def _pool(spec: ModelSpec, argv: tuple[str, ...], env: dict[str, str]) -> Pool:
    command = (sys.executable, "-m", "scaleserve.worker", *argv)
    return Pool(WorkerPlan(spec.queue_name, 0, command, env), spec.initial_workers)
