"""A worker told to stop (SIGTERM: a drain, a scale-down, a spot machine taken away) stops
reading at once and finishes the batch in hand; if that takes longer than its grace period,
what it holds goes back to the queue for another worker, at once, and it exits.

The signal is taken by a Python handler rather than the event loop's: a model computing a
batch holds the loop, and the grace period must run from the signal, not from the batch's
end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from scaleserve.queue.broker import WorkSource

log = logging.getLogger(__name__)

GRACE_ENV = "SCALESERVE_STOP_GRACE_S"
DEFAULT_GRACE_S = 25.0
"""Under the supervisor's drain timeout (30 s) and Kubernetes' termination grace (which
the rendered manifests set above it)."""


def grace_s() -> float:
    raw = os.environ.get(GRACE_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_GRACE_S
    except ValueError:
        return DEFAULT_GRACE_S


class GracefulStop:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        source: WorkSource,
        grace_s: float,
        hand_back: Callable[[], int] | None = None,
    ) -> None:
        self._loop = loop
        self._source = source
        self._grace_s = grace_s
        self._hand_back = hand_back
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def finished(self) -> None:
        """The worker is leaving on its own: the grace period no longer matters."""
        if self._timer is not None:
            self._timer.cancel()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._timer is not None:
            return
        self._loop.call_soon_threadsafe(self._source.request_stop)
        self._timer = threading.Timer(self._grace_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        """The batch in hand outlived the grace period: hand it back and leave now."""
        handed = 0
        if self._hand_back is not None:
            try:
                handed = self._hand_back()
            except Exception:  # leaving anyway: the queue takes the items over later
                log.exception("handing items back failed; they are taken over after a while")
        log.warning(
            "worker %d stops after its %gs grace period, %d items handed back",
            os.getpid(), self._grace_s, handed,
        )  # fmt: skip
        os._exit(0)
