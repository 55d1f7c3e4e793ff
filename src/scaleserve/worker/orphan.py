"""A worker never outlives its supervisor.

Workers run in sessions of their own (a Ctrl-C at the terminal reaches the supervisor
alone, which then drains them in order), so nothing else stops them when the supervisor
dies: a ``kill -9`` of ``scaleserve serve`` or ``scaleserve worker`` would leave them
running unmanaged, still taking work from Redis. The supervisor names itself in
``SCALESERVE_SUPERVISOR_PID``; the worker asks the kernel for SIGTERM when its parent dies
(Linux ``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent pid), so it drains and
exits as on any other SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

SUPERVISOR_PID_ENV = "SCALESERVE_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 1.0

log = logging.getLogger(__name__)


def exit_with_supervisor(environ: Mapping[str, str] = os.environ) -> None:
    """Arrange for SIGTERM when the supervisor named in ``environ`` dies (no-op without one)."""
    raw = environ.get(SUPERVISOR_PID_ENV, "")
    if not raw.isdigit():
        return
    supervisor = int(raw)
    if not _ask_kernel():
        threading.Thread(target=_watch, args=(supervisor,), daemon=True).start()
    # The supervisor may have died before the request above was made: check once now.
    if os.getppid() != supervisor:
        log.warning("supervisor %d is gone; worker %d stops", supervisor, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)


def _ask_kernel() -> bool:
    """Linux: SIGTERM to this process when its parent exits. False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    return False


def _watch(supervisor: int) -> None:
    stopped = threading.Event()
    while not stopped.wait(WATCH_INTERVAL_S):
        if os.getppid() != supervisor:
            os.kill(os.getpid(), signal.SIGTERM)
            return
