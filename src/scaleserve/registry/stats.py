"""Where a rollout's tallies are kept: in this gateway (embedded), or added up across every
gateway in Redis (distributed), per model and window (one rollout step)."""

from __future__ import annotations

from typing import Protocol

from scaleserve.registry.window import WindowTally


class RolloutStats(Protocol):
    def record(self, model: str, window: str, lane: str, latency_s: float, *, ok: bool) -> None:
        """Count one request of ``lane`` (answered or shadowed) in ``window``."""
        ...

    def record_agreement(self, model: str, window: str, agreed: bool) -> None: ...

    async def read(self, model: str, window: str) -> WindowTally:
        """Everything counted for ``model`` in ``window`` (by every gateway)."""
        ...


class LocalRolloutStats:
    """Tallies of this gateway alone (the embedded default: it is the only one)."""

    MAX_WINDOWS = 64

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], WindowTally] = {}

    def record(self, model: str, window: str, lane: str, latency_s: float, *, ok: bool) -> None:
        self._tally(model, window).lane(lane).observe(latency_s, ok)

    def record_agreement(self, model: str, window: str, agreed: bool) -> None:
        tally = self._tally(model, window)
        if agreed:
            tally.agreed += 1
        else:
            tally.disagreed += 1

    async def read(self, model: str, window: str) -> WindowTally:
        return self._windows.get((model, window), WindowTally())

    def take(self) -> dict[tuple[str, str], WindowTally]:
        """Every tally counted so far, which starts again from nothing."""
        taken, self._windows = self._windows, {}
        return taken

    def give_back(self, taken: dict[tuple[str, str], WindowTally]) -> None:
        """Add tallies taken but not stored elsewhere back to what is counted here."""
        for (model, window), tally in taken.items():
            self._tally(model, window).add(tally)

    def _tally(self, model: str, window: str) -> WindowTally:
        key = (model, window)
        tally = self._windows.get(key)
        if tally is None:
            if len(self._windows) >= self.MAX_WINDOWS:  # old windows are never read again
                del self._windows[next(iter(self._windows))]
            tally = self._windows[key] = WindowTally()
        return tally
