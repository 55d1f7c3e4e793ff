"""The worker process: load one model, warm it up, then serve batches until told to stop.

Started by the supervisor as ``python -m scaleserve.worker``; exits 0 after a drain,
``EXIT_LOAD_FAILED`` when the model cannot load, and when the gateway goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from scaleserve.background import stop_task
from scaleserve.model.base import Model
from scaleserve.model.loader import load_specs
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import log_context, tracing
from scaleserve.observe.logs import configure_logging
from scaleserve.queue import frames
from scaleserve.queue.backends.embedded_source import EmbeddedWorkSource
from scaleserve.queue.backends.message_sources import MESSAGE_ERRORS, open_message_source
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS, connect
from scaleserve.queue.backends.redis_scripts import SCRIPTS
from scaleserve.queue.backends.redis_source import RedisSourceSettings, RedisWorkSource
from scaleserve.queue.backends.redis_wire import GROUP
from scaleserve.redis_keys import RedisKeys
from scaleserve.worker import accelerator_metrics, runtime
from scaleserve.worker.health import start_beating
from scaleserve.worker.loop import batch_policy, work_loop
from scaleserve.worker.orphan import exit_with_supervisor
from scaleserve.worker.runner import ModelRunner
from scaleserve.worker.stopping import GracefulStop, grace_s

if TYPE_CHECKING:
    from scaleserve.queue.backends.nats_source import NatsWorkSource
    from scaleserve.queue.backends.rabbit_source import RabbitWorkSource

EXIT_LOAD_FAILED = 3
LOAD_FAILURE_ENV = "SCALESERVE_LOAD_FAILURE_FILE"
LANE_FAILURE_TTL_S = 60
log = logging.getLogger("scaleserve.worker")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scaleserve.worker")
    parser.add_argument("--target", default="")
    parser.add_argument("--model", required=True)
    parser.add_argument("--socket", help="the gateway's embedded queue socket")
    parser.add_argument("--redis", help="Redis URL: take work from its streams instead")
    parser.add_argument("--queue", help="RabbitMQ (amqp://) or NATS (nats://) URL: take work there")
    parser.add_argument("--redis-prefix", default="scaleserve", help="prefix of queue names")
    parser.add_argument("--slot", type=int, default=0)
    parser.add_argument(
        "--version-record", help="a registry version (JSON): serve it instead of a target's class"
    )
    parser.add_argument("--artifact-dir", help="the registry version's artifact folder")
    parser.add_argument("--code-dir", help="the registry version's code folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_with_supervisor()
    configure_logging()
    tracing.configure("worker")
    runtime.configure_threads()
    try:
        spec = _spec(args)
        log_context.set_process_fields(role="worker", model=spec.name, version=spec.version)
        runtime.configure_precision(spec.name, spec.half_precision)
        model = spec.model_class()
        if args.artifact_dir:
            model.artifact_dir = Path(args.artifact_dir)
        model.load()
    except Exception as exc:
        log.exception("model %r failed to load", args.model)
        _report_load_failure(exc, args)
        return EXIT_LOAD_FAILED
    return _run(serve(spec, model, args))


async def open_source(
    spec: ModelSpec, args: argparse.Namespace
) -> EmbeddedWorkSource | RedisWorkSource | RabbitWorkSource | NatsWorkSource:
    """Where this worker takes its work from: the gateway's socket, Redis, RabbitMQ or NATS."""
    if args.queue:
        return await open_message_source(args.queue, spec, args.redis_prefix)
    if args.redis:
        source = RedisWorkSource(
            connect(args.redis), spec, RedisKeys(args.redis_prefix), RedisSourceSettings.from_env()
        )
        await source.start()
        return source
    hello = frames.Hello(spec.queue_name, spec.version, os.getpid(), args.slot)
    return await EmbeddedWorkSource.connect(args.socket, hello)


async def serve(spec: ModelSpec, model: Model, args: argparse.Namespace) -> int:
    runner = ModelRunner(spec, model)
    try:
        await runner.warm_up()
    except Exception as exc:
        log.exception("model %r failed to warm up", spec.name)
        _report_load_failure(exc, args)
        return EXIT_LOAD_FAILED
    source = await open_source(spec, args)
    hand_back = _hand_back(args.redis, source) if isinstance(source, RedisWorkSource) else None
    stop = GracefulStop(asyncio.get_running_loop(), source, grace_s(), hand_back)
    stop.install()
    beating = start_beating()
    stop_metrics = threading.Event()
    accelerator_metrics.start(spec, stop_metrics)
    try:
        await work_loop(source, runner, batch_policy(spec))
    except (asyncio.IncompleteReadError, *REDIS_ERRORS) as exc:
        log.warning("lost the queue (%r); worker %d of %r exits", exc, os.getpid(), spec.name)
    except MESSAGE_ERRORS as exc:
        log.warning("lost the broker (%r); worker %d of %r exits", exc, os.getpid(), spec.name)
    finally:
        stop_metrics.set()
        await stop_task(beating)
        await (source.leave() if isinstance(source, RedisWorkSource) else source.close())
        stop.finished()
    return 0


def _hand_back(redis_url: str, source: RedisWorkSource) -> Callable[[], int]:
    """Give what ``source`` holds back to its stream, from the grace period's thread (its
    own connection: the event loop is busy with the batch)."""

    def hand_back() -> int:
        import redis

        entries = source.held_entries()
        if not entries:
            return 0
        with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
            script = SCRIPTS.hand_back.source
            return int(client.eval(script, 1, source.stream, GROUP, *entries))

    return hand_back


def _report_load_failure(exc: Exception, args: argparse.Namespace) -> None:
    """Tell why, so that a deployment refused because of it names the model's own error: to
    the supervisor (``SCALESERVE_LOAD_FAILURE_FILE``), and for a registry version on Redis
    to every gateway (a key that expires)."""
    why = f"{type(exc).__name__}: {exc}"[:2000]
    path = os.environ.get(LOAD_FAILURE_ENV)
    if path:
        with contextlib.suppress(OSError):
            Path(path).write_text(why)
    if args.redis and args.version_record:
        import redis

        from scaleserve.registry.code import lane_name
        from scaleserve.registry.codec import version_from_json

        with contextlib.suppress(redis.RedisError, OSError, ValueError):
            version = version_from_json(Path(args.version_record).read_bytes())
            lane = lane_name(version.model, version.version)
            key = RedisKeys(args.redis_prefix).lane_failure(lane)
            with redis.Redis.from_url(args.redis, socket_timeout=2) as client:
                client.set(key, why, ex=LANE_FAILURE_TTL_S)


def _spec(args: argparse.Namespace) -> ModelSpec:
    """The model this worker serves: a registry version, or a class of the target."""
    if args.version_record:
        from scaleserve.registry.code import version_spec
        from scaleserve.registry.codec import version_from_json

        version = version_from_json(Path(args.version_record).read_bytes())
        code_dir = Path(args.code_dir) if args.code_dir else None
        return version_spec(version, code_dir)
    return _find_spec(args.target, args.model)


def _find_spec(target: str, name: str) -> ModelSpec:
    for spec in load_specs(target):
        if spec.name == name:
            return spec
    raise LookupError(f"{target!r} declares no model named {name!r}")


def _run(coroutine: object) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return uvloop.run(coroutine)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
