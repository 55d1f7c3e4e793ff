"""What one benchmark run measured, the ratios derived from it, and the project's targets.

The targets come from the project's goals; a miss is reported, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cpu import CpuUse
from raw_throughput import RawResult
from service_metrics import Batching
from wrk_load import LoadResult

CONCURRENCIES = (1, 16, 64)
BASELINE = "fastapi"
EMBEDDINGS_MIN_RATIO = 0.85  # served c=64 items/s over raw batch-32 items/s
ECHO_MIN_RATIO = 1.0  # served c=64 req/s over FastAPI c=64 req/s
ECHO_MAX_P50_GAP_MS = 1.0  # echo p50 minus FastAPI p50, at c=1
GATEWAY_MAX_MB = 150.0
WORKER_MAX_OVERHEAD_MB = 100.0  # over the model's own in-process peak RSS


@dataclass
class ServedRun:
    """One server under HTTP load: a scaleserve service of one model, or the baseline."""

    system: str
    loads: dict[int, LoadResult] = field(default_factory=dict)
    server_peak_rss_mb: float = 0.0
    """The gateway's peak RSS (the uvicorn process, for the baseline)."""
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    worker_threads: str | None = None
    """``SCALESERVE_CPU_THREADS`` as the workers received it."""
    cpu: dict[int, CpuUse] = field(default_factory=dict)
    batching: dict[int, Batching] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "FastAPI echo" if self.system == BASELINE else f"scaleserve {self.system}"

    @property
    def failures(self) -> int:
        return sum(load.failures for load in self.loads.values())


@dataclass(frozen=True)
class Target:
    """One goal of the project with what this run measured against it."""

    name: str
    measured: str
    goal: str
    passed: bool


@dataclass
class Results:
    """Everything one run measured, keyed by model (raw, served) or system (served)."""

    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    raw: dict[str, RawResult] = field(default_factory=dict)
    served: dict[str, ServedRun] = field(default_factory=dict)

    def embeddings_ratio(self, concurrency: int) -> float | None:
        """Served embeddings items/s at ``concurrency`` over raw batch-32 items/s."""
        served, raw = self._load("embeddings", concurrency), self.raw.get("embeddings")
        if served is None or raw is None or not raw.items_per_s.get(32):
            return None
        return served.requests_per_s / raw.items_per_s[32]

    def echo_ratio(self, concurrency: int) -> float | None:
        """Served echo req/s over the FastAPI baseline's req/s, both at ``concurrency``."""
        echo, baseline = self._load("echo", concurrency), self._load(BASELINE, concurrency)
        if echo is None or baseline is None or not baseline.requests_per_s:
            return None
        return echo.requests_per_s / baseline.requests_per_s

    def echo_p50_gap_ms(self) -> float | None:
        """Echo's p50 minus the FastAPI baseline's p50 at concurrency 1, in ms."""
        echo, baseline = self._load("echo", 1), self._load(BASELINE, 1)
        return None if echo is None or baseline is None else echo.p50_ms - baseline.p50_ms

    @property
    def failures(self) -> int:
        return sum(run.failures for run in self.served.values())

    def targets(self) -> list[Target]:
        """Each target this run has the numbers for, with PASS or MISS."""
        found = [self._embeddings_target(), self._echo_throughput_target(), self._echo_p50_target()]
        return [t for t in found if t is not None] + self._memory_targets()

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "machine": self.machine,
            "settings": self.settings,
            "raw": {name: asdict(raw) for name, raw in self.raw.items()},
            "served": {name: asdict(run) for name, run in self.served.items()},
            "ratios": {
                "embeddings_served_over_raw_batch32": _by_concurrency(self.embeddings_ratio),
                "echo_served_over_fastapi_req_s": _by_concurrency(self.echo_ratio),
                "echo_p50_minus_fastapi_p50_ms_c1": self.echo_p50_gap_ms(),
            },
            "targets": [asdict(t) for t in self.targets()],
            "failures": self.failures,
        }

    def _load(self, system: str, concurrency: int) -> LoadResult | None:
        run = self.served.get(system)
        return None if run is None else run.loads.get(concurrency)

    def _embeddings_target(self) -> Target | None:
        ratio = self.embeddings_ratio(64)
        if ratio is None:
            return None
        return Target(
            "embeddings served c=64 / raw batch-32",
            f"{ratio:.2f}x",
            f">= {EMBEDDINGS_MIN_RATIO:.2f}x",
            ratio >= EMBEDDINGS_MIN_RATIO,
        )

    def _echo_throughput_target(self) -> Target | None:
        ratio = self.echo_ratio(64)
        if ratio is None:
            return None
        return Target(
            "echo served c=64 req/s / FastAPI c=64",
            f"{ratio:.2f}x",
            f">= {ECHO_MIN_RATIO:.2f}x",
            ratio >= ECHO_MIN_RATIO,
        )

    def _echo_p50_target(self) -> Target | None:
        gap = self.echo_p50_gap_ms()
        if gap is None:
            return None
        return Target(
            "echo p50 c=1 - FastAPI p50 c=1",
            f"{gap:+.2f} ms",
            f"<= {ECHO_MAX_P50_GAP_MS:.0f} ms",
            gap <= ECHO_MAX_P50_GAP_MS,
        )

    def _memory_targets(self) -> list[Target]:
        found = []
        for name, run in self.served.items():
            if name == BASELINE:
                continue
            gateway_mb = run.server_peak_rss_mb
            found.append(
                Target(
                    f"{name}: gateway peak RSS",
                    f"{gateway_mb:.0f} MB",
                    f"< {GATEWAY_MAX_MB:.0f} MB",
                    gateway_mb < GATEWAY_MAX_MB,
                )
            )
            raw = self.raw.get(name)
            if raw is None:
                continue
            limit = raw.peak_rss_mb + WORKER_MAX_OVERHEAD_MB
            for i, worker_mb in enumerate(run.worker_peak_rss_mb):
                found.append(
                    Target(
                        f"{name}: worker {i} peak RSS",
                        f"{worker_mb:.0f} MB",
                        f"< {raw.peak_rss_mb:.0f} + {WORKER_MAX_OVERHEAD_MB:.0f} MB",
                        worker_mb < limit,
                    )
                )
        return found


def _by_concurrency(ratio: Callable[[int], float | None]) -> dict[int, float | None]:
    return {c: ratio(c) for c in CONCURRENCIES}
