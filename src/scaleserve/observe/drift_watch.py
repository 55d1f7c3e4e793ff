"""The gateway's drift monitors: one per model version that asks for drift monitoring
(``drift = True`` or a ``DriftSpec`` on the model class), fed by the predict route.

A monitor starts capturing its reference from the first items its version answers, so a
newly deployed version is compared with its own first traffic unless an operator sets a
reference through the admin API. Items are decoded from JSON only when sampled (at most
``spec.max_items_per_s`` a second), so an unsampled item costs a counter. Each monitor
checks its scores at most once a second, on the request path, and an alert is logged and
kept for the admin API and the dashboard.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

from scaleserve.model.spec import ModelSpec

if TYPE_CHECKING:
    from scaleserve.observe.drift import DriftAlert, DriftMonitor, DriftSpec

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
RECENT_ALERTS = 50


class _Fed:
    """One monitor and how much it was fed this second."""

    def __init__(self, monitor: DriftMonitor, clock: Callable[[], float]) -> None:
        self.monitor = monitor
        self._clock = clock
        self._cap = monitor.spec.max_items_per_s
        self._second = 0
        self._taken = 0
        self._checked_at = 0.0

    def feed(self, payloads: Sequence[bytes], outputs: Sequence[bytes]) -> None:
        now = self._clock()
        room = len(payloads) if self._cap is None else self._room(now)
        if room > 0:
            take = min(room, len(payloads))
            self._taken += take
            inputs = [orjson.loads(p) for p in payloads[:take]]
            self.monitor.observe(inputs, [orjson.loads(o) for o in outputs[:take]])
        if now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self.monitor.check()

    def _room(self, now: float) -> int:
        second = int(now)
        if second != self._second:
            self._second, self._taken = second, 0
        assert self._cap is not None
        return int(self._cap) - self._taken


class DriftWatch:
    def __init__(self, specs: Iterable[ModelSpec], clock: Callable[[], float] = time.time) -> None:
        self._specs: dict[str, DriftSpec] = {s.name: s.drift for s in specs if s.drift is not None}
        self._fed: dict[tuple[str, str], _Fed] = {}
        self._clock = clock
        self.recent_alerts: deque[DriftAlert] = deque(maxlen=RECENT_ALERTS)
        from scaleserve.observe.drift import DriftCollector  # numpy and scipy: only when used

        self.collector = DriftCollector(self.monitors)

    def watches(self, model: str) -> bool:
        return model in self._specs

    def observe(
        self, model: str, version: str, payloads: Sequence[bytes], outputs: Sequence[bytes]
    ) -> None:
        """Items ``model`` answered at ``version`` (each as JSON); never raises."""
        fed = self._fed.get((model, version))
        if fed is None:
            spec = self._specs.get(model)
            if spec is None:
                return
            fed = self._fed[model, version] = _Fed(self._monitor(model, version, spec), self._clock)
        try:
            fed.feed(payloads, outputs)
        except (orjson.JSONDecodeError, ValueError):  # our own JSON: only a bug gets here
            log.exception("drift monitor of %s %s could not read an item", model, version)

    def _monitor(self, model: str, version: str, spec: DriftSpec) -> DriftMonitor:
        from scaleserve.observe.drift import DriftMonitor

        monitor = DriftMonitor(model, version, spec, clock=self._clock)
        monitor.add_listener(self._alerted)
        return monitor

    def _alerted(self, alert: DriftAlert) -> None:
        self.recent_alerts.append(alert)
        log.warning(
            "drift: %s %s %s %s=%.3f over %.3f",
            alert.model,
            alert.version,
            alert.feature,
            alert.statistic.value,
            alert.value,
            alert.threshold,
        )

    def monitors(self) -> list[DriftMonitor]:
        return [fed.monitor for fed in self._fed.values()]

    def find(self, model: str, version: str) -> DriftMonitor | None:
        fed = self._fed.get((model, version))
        return None if fed is None else fed.monitor

    def report(self) -> list[dict[str, Any]]:
        """Every monitor's state and latest scores, for the admin API."""
        return [
            {
                "model": monitor.model,
                "version": monitor.version,
                "has_reference": monitor.has_reference,
                "capturing": monitor.capturing,
                "seen_items": monitor.seen_items,
                "observed_items": monitor.observed_items,
                "scores": [_plain(asdict(score)) for score in monitor.last_scores],
            }
            for monitor in self.monitors()
        ]

    def alerts(self) -> list[dict[str, Any]]:
        return [_plain(asdict(alert)) for alert in self.recent_alerts]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in values.items()}
