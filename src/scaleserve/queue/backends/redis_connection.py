"""Connecting to Redis: short timeouts so a dead or stalled Redis fails requests fast (503)
instead of hanging them, and the durability check made at start."""

from __future__ import annotations

import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from scaleserve.errors import ConfigError, QueueUnavailable

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 1.0
REDIS_ERRORS = (RedisError, OSError, TimeoutError)


MAX_CONNECTIONS = 100
"""redis-py connections per process. The hot paths use their own ``RedisLink``s; past this
many concurrent calls a caller waits for a free connection (up to the socket timeout)
instead of failing at once, as redis-py's default pool does."""


def connect(url: str) -> Redis:
    """A client for ``url``; no command is sent until it is used."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=SOCKET_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=10,
        retry_on_timeout=False,
    )
    return Redis.from_pool(pool)


def unavailable(exc: BaseException) -> QueueUnavailable:
    return QueueUnavailable(f"the queue (Redis) is unreachable: {type(exc).__name__}")


async def check_durability(redis: Redis, durable: bool) -> None:
    """Refuse a durable start on a Redis that may lose accepted work; warn otherwise.

    Durable means: keys are never evicted (``maxmemory-policy noeviction``) and writes reach
    the disk (``appendonly yes``). Without both, an accepted job can vanish.
    """
    try:
        config = await redis.config_get("maxmemory-policy")
        config |= await redis.config_get("appendonly")
    except REDIS_ERRORS as exc:
        raise ConfigError(f"cannot read the Redis configuration: {exc}") from exc
    problems = []
    if config.get("maxmemory-policy", "noeviction") != "noeviction":
        problems.append(
            f"maxmemory-policy is {config['maxmemory-policy']!r}: set it to 'noeviction' "
            "(CONFIG SET maxmemory-policy noeviction) so queued jobs are never evicted"
        )
    if config.get("appendonly", "no") != "yes":
        problems.append(
            "appendonly is 'no': set 'appendonly yes' (and appendfsync everysec or always) "
            "so accepted jobs survive a Redis restart"
        )
    if not problems:
        return
    if durable:
        raise ConfigError("Redis is not durable: " + "; ".join(problems))
    for problem in problems:
        log.warning("non-durable mode: %s", problem)
