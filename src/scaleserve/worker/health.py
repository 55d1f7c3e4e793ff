"""A worker's heartbeat for probes that cannot speak to it (a worker serves no HTTP): once
warm, it touches ``SCALESERVE_HEALTH_FILE`` every few seconds from its event loop.

``python -m scaleserve.worker.health FILE`` exits 0 when the file exists (ready: warm), and
with ``--max-age-s N`` only if it was touched in the last N seconds: a worker stuck in a
batch or a dead loop stops touching it, and the liveness probe restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

HEALTH_ENV = "SCALESERVE_HEALTH_FILE"
BEAT_EVERY_S = 5.0


def start_beating() -> asyncio.Task[None] | None:
    """Touch the health file now and every ``BEAT_EVERY_S`` (``None``: no file asked for)."""
    path = os.environ.get(HEALTH_ENV)
    if not path:
        return None
    return asyncio.create_task(_beat(Path(path)))


async def _beat(path: Path) -> None:
    # a few bytes on a local disk: cheaper inline than a thread hop
    try:
        while True:
            path.write_text(f"{time.time():.3f}\n")  # noqa: ASYNC240
            await asyncio.sleep(BEAT_EVERY_S)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # noqa: ASYNC240 - leaving: no longer ready


def check(path: Path, max_age_s: float | None, now: float) -> str | None:
    """What is wrong with the worker whose health file is ``path`` (``None``: nothing)."""
    try:
        touched = path.stat().st_mtime
    except OSError:
        return "not warm (no heartbeat yet)"
    if max_age_s is not None and now - touched > max_age_s:
        return f"no heartbeat for {now - touched:.0f}s: the worker is stuck"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaleserve.worker.health")
    parser.add_argument("file", type=Path)
    parser.add_argument("--max-age-s", type=float, default=None)
    args = parser.parse_args(argv)
    problem = check(args.file, args.max_age_s, time.time())
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
