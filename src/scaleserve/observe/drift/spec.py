"""What a drift monitor watches, and its bounds: one frozen settings object per monitor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scaleserve.errors import ConfigError
from scaleserve.observe.drift.types import FieldKind, Statistic

# Checked by tests/observe/test_drift_statistics.py: over 50 unshifted streams of 20,000 items
# (checked every 250) no alert fired, the highest KS was 0.073, PSI 0.040, JS 0.063 (6
# labels; 30 labels reach 0.104, which their noise floor of ~0.13 absorbs) and mean shift
# 0.055; while a one-standard-deviation shift scores KS ~0.38 once the recent window holds it.
# PSI 0.2 is also the customary "significant shift" mark; JS 0.1 (base 2) is a move of about
# 7 % of the mass between two labels.
DEFAULT_THRESHOLDS: Mapping[Statistic, float] = {
    Statistic.KS: 0.1,
    Statistic.PSI: 0.2,
    Statistic.JS: 0.1,
    Statistic.MEAN_SHIFT: 0.1,
}


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """What to watch and how, for one model version.

    ``fields`` declares kinds by path (``"input.age"``, ``"output.label"``,
    ``"input.messages[].content"``), overriding inference; ``only_declared`` watches nothing
    else. Windows count sampled items: the reference is the first ``reference_items``; the
    recent window is two halves of ``window_items // 2``, so it always covers the last half to
    whole ``window_items``. A feature is scored once it has ``min_count`` values in both
    windows. At most ``max_items_per_s`` items a second are summarised (``None``: all).
    """

    fields: Mapping[str, FieldKind] = field(default_factory=dict)
    only_declared: bool = False
    thresholds: Mapping[Statistic, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    feature_thresholds: Mapping[str, Mapping[Statistic, float]] = field(default_factory=dict)
    reference_items: int = 4000
    window_items: int = 4000
    min_count: int = 1000
    max_items_per_s: float | None = 200.0
    max_fields: int = 64
    rearm_ratio: float = 0.8  # an alert re-arms once its score is below threshold * rearm_ratio

    def __post_init__(self) -> None:
        if self.reference_items < 2 or self.window_items < 2:
            raise ConfigError("drift windows must hold at least 2 items")
        if not 1 <= self.min_count <= min(self.reference_items // 2, self.window_items // 2):
            raise ConfigError(
                "drift min_count must be between 1 and half the smaller window "
                f"({min(self.reference_items, self.window_items) // 2}), not {self.min_count}"
            )
        if self.max_items_per_s is not None and self.max_items_per_s <= 0:
            raise ConfigError("drift max_items_per_s must be positive (or None for no cap)")
        if not 1 <= self.max_fields <= 1024:
            raise ConfigError("drift max_fields must be between 1 and 1024")
        if not 0 < self.rearm_ratio <= 1:
            raise ConfigError("drift rearm_ratio must be in (0, 1]")
        overrides = [*self.thresholds.values()]
        overrides += [v for per in self.feature_thresholds.values() for v in per.values()]
        if any(not value > 0 for value in overrides):
            raise ConfigError("drift thresholds must be positive")
        missing = set(Statistic) - set(self.thresholds)
        if missing:
            raise ConfigError(f"drift thresholds lack {sorted(missing)}")

    def threshold(self, feature: str, statistic: Statistic) -> float:
        """The threshold of one feature's statistic: its own if declared, else the default."""
        return self.feature_thresholds.get(feature, {}).get(statistic, self.thresholds[statistic])
