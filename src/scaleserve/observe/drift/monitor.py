"""``DriftMonitor``: the drift of one model version's inputs and outputs, in bounded memory.

Plain synchronous code, no threads: the caller feeds it batches (``observe``) and decides
when to score them (``check``). Its clock is injected (for the sampler and alert times).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scaleserve.observe.drift.alerts import Alarms
from scaleserve.observe.drift.compare import compare
from scaleserve.observe.drift.features import FeatureBatch, FeatureExtractor
from scaleserve.observe.drift.sampler import StrideSampler
from scaleserve.observe.drift.spec import DriftSpec
from scaleserve.observe.drift.summary import InvalidSummary, WindowSummary
from scaleserve.observe.drift.types import DriftAlert, DriftScore, Statistic

log = logging.getLogger(__name__)

Listener = Callable[[DriftAlert], None]
FLUSH_ITEMS = 32  # sampled items held, then summarised together (numpy's per-call cost, shared)


class DriftMonitor:
    """Summarises one model version's items and compares a recent window with a reference.

    The reference is the first ``spec.reference_items`` sampled items (again on
    ``capture_reference()``), or one set with ``set_reference(bytes)``. The recent window
    starts when a reference is ready and rolls as two halves of ``spec.window_items // 2``.
    ``check()`` scores the features and sends a ``DriftAlert`` to every listener when a score
    passes its threshold (once, until it falls back below; see ``alerts``).

    ``observe`` never raises: values it cannot use are counted in ``skipped`` by reason. It
    holds up to ``FLUSH_ITEMS`` sampled items (references to them: do not mutate items after
    observing them) and summarises them together; anything that reads the windows flushes.
    """

    def __init__(
        self,
        model: str,
        version: str,
        spec: DriftSpec | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.version = version
        self.spec = spec or DriftSpec()
        self.seen_items = 0  # items offered to observe()
        self.observed_items = 0  # items sampled and summarised
        self.last_scores: list[DriftScore] = []  # of the latest check()
        self.alerts_sent: Counter[tuple[str, Statistic]] = Counter()
        self._clock = clock
        self._sampler = StrideSampler(self.spec.max_items_per_s, clock)
        self._extractor = FeatureExtractor(self.spec)
        self._alarms = Alarms(model, version, self.spec.rearm_ratio)
        self._listeners: list[Listener] = []
        self._reference: WindowSummary | None = None
        self._capture: WindowSummary | None = None
        self._previous: WindowSummary | None = None
        self._current: WindowSummary | None = None
        self._held_inputs: list[Any] = []
        self._held_outputs: list[Any] = []
        self._held_items = 0
        self._flush_at = 1
        self.capture_reference()

    @property
    def skipped(self) -> Mapping[str, int]:
        """Values passed over, by reason (``null``, ``non_finite``, ``type_mismatch``, ...)."""
        return self._extractor.skipped

    @property
    def firing(self) -> frozenset[tuple[str, Statistic]]:
        """The (feature, statistic) pairs whose alert is active."""
        return frozenset(self._alarms.firing)

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    @property
    def capturing(self) -> bool:
        """Whether a reference is being captured from the items observed now."""
        return self._capture is not None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def observe(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        """Summarise a batch: ``inputs[i]`` and ``outputs[i]`` are one item (JSON-like)."""
        try:
            self._observe(_as_list(inputs), _as_list(outputs))
        except Exception:  # drift must never fail the request that fed it
            if not self._extractor.skipped["error"]:
                log.exception("drift monitor of %s %s failed on a batch", self.model, self.version)
            self._extractor.skipped["error"] += 1

    def _observe(self, inputs: list[Any], outputs: list[Any]) -> None:
        count = max(len(inputs), len(outputs))
        self.seen_items += count
        taken = self._sampler.select(count)
        while taken:
            room = self._flush_at - self._held_items
            chunk, taken = taken[:room], taken[room:]
            self._held_inputs += [inputs[i] for i in chunk if i < len(inputs)]
            self._held_outputs += [outputs[i] for i in chunk if i < len(outputs)]
            self._held_items += len(chunk)
            if self._held_items >= self._flush_at:
                self._flush()

    def _flush(self) -> None:
        """Summarise the items held; then hold no more than fit in every window being filled."""
        if self._held_items:
            batch = self._extractor.extract(self._held_inputs, self._held_outputs, self._held_items)
            self._held_inputs, self._held_outputs, self._held_items = [], [], 0
            self._add(batch)
        room = FLUSH_ITEMS
        if self._capture is not None:
            room = min(room, self.spec.reference_items - self._capture.items)
        if self._current is not None:
            room = min(room, self.spec.window_items // 2 - self._current.items)
        self._flush_at = max(room, 1)

    def _add(self, batch: FeatureBatch) -> None:
        self.observed_items += batch.items
        if self._current is not None:
            self._current.add(batch)
            if self._current.items >= self.spec.window_items // 2:
                self._previous, self._current = self._current, self._new_recent()
        if self._capture is not None:
            self._capture.add(batch)
            if self._capture.items >= self.spec.reference_items:
                self._use_reference(self._capture)

    def _new_recent(self) -> WindowSummary:
        anchors = self._reference.anchors if self._reference is not None else None
        return WindowSummary(anchors)

    def _use_reference(self, reference: WindowSummary) -> None:
        """Compare with ``reference`` from now on: recent windows and alerts start afresh."""
        self._reference, self._capture = reference, None
        self._previous, self._current = None, self._new_recent()
        self._alarms.firing.clear()
        self.last_scores = []

    def capture_reference(self) -> None:
        """Make the next ``spec.reference_items`` sampled items the reference.

        Until they are in, scores keep comparing with the reference in use (if any).
        """
        self._flush()
        self._capture = WindowSummary(anchor_after=max(self.spec.reference_items // 2, 1))
        self._flush()

    def set_reference(self, data: bytes) -> None:
        """Use a stored summary (``reference_bytes()`` of this or another monitor).

        Raises ``InvalidSummary`` (a ``RequestError``) when ``data`` is not one. Fields get the
        kinds the reference gives them, unless the spec declares theirs.
        """
        reference = WindowSummary.from_bytes(data)
        if len(reference.kinds) > 2 * self.spec.max_fields:
            raise InvalidSummary(f"a reference of {len(reference.kinds)} features is too many")
        self._flush()
        self._extractor.adopt(reference.kinds)
        self._capture = None
        self._use_reference(reference)
        self._flush()

    def reference_bytes(self) -> bytes | None:
        """The reference in use, serialised (None before one is ready)."""
        self._flush()
        return None if self._reference is None else self._reference.to_bytes()

    def recent_summary(self) -> WindowSummary | None:
        """The recent window: the last ``window_items // 2`` to ``window_items`` items."""
        self._flush()
        if self._current is None or self._previous is None:
            return self._current
        return self._previous.merged(self._current)

    def scores(self) -> list[DriftScore]:
        """Every feature's scores now (none before the reference is ready)."""
        recent = self.recent_summary()
        if self._reference is None or recent is None:
            return []
        return compare(self._reference, recent, self.spec)

    def check(self) -> list[DriftAlert]:
        """Score the features, keep the scores (``last_scores``) and send the new alerts."""
        self.last_scores = self.scores()
        alerts = self._alarms.update(self.last_scores, self._clock())
        for alert in alerts:
            self.alerts_sent[alert.feature, alert.statistic] += 1
            for listener in list(self._listeners):
                try:
                    listener(alert)
                except Exception:  # one failing listener must not keep the alert from the rest
                    log.exception("drift alert listener %r failed", listener)
        return alerts


def _as_list(items: Any) -> list[Any]:
    if isinstance(items, list):
        return items
    return list(items) if isinstance(items, tuple) else []
