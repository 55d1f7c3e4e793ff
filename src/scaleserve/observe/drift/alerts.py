"""Turning scores into alerts: once when a score passes its threshold, again only after the
score fell below ``threshold * rearm_ratio`` (hysteresis, so a score near its threshold does
not send an alert on every check)."""

from __future__ import annotations

from collections.abc import Iterable

from scaleserve.observe.drift.types import DriftAlert, DriftScore, Statistic


class Alarms:
    """The (feature, statistic) pairs firing now, for one model version."""

    def __init__(self, model: str, version: str, rearm_ratio: float) -> None:
        self._model = model
        self._version = version
        self._rearm_ratio = rearm_ratio
        self.firing: set[tuple[str, Statistic]] = set()

    def update(self, scores: Iterable[DriftScore], at: float) -> list[DriftAlert]:
        """The alerts that these scores raise; pairs not scored keep their state."""
        alerts: list[DriftAlert] = []
        for score in scores:
            key = (score.feature, score.statistic)
            if score.drifted and key not in self.firing:
                self.firing.add(key)
                alerts.append(self._alert(score, at))
            elif key in self.firing and score.value < score.threshold * self._rearm_ratio:
                self.firing.discard(key)
        return alerts

    def _alert(self, score: DriftScore, at: float) -> DriftAlert:
        return DriftAlert(
            model=self._model,
            version=self._version,
            feature=score.feature,
            kind=score.kind,
            statistic=score.statistic,
            value=score.value,
            threshold=score.threshold,
            at=at,
        )
