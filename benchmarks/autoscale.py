"""Autoscaling benchmark: one bursty trace against a fixed fleet at the maximum size, a fixed
fleet at the minimum size, and the autoscaler.

    python benchmarks/autoscale.py              # ~7 minutes (a 110 s trace, three fleets)
    python benchmarks/autoscale.py --quick      # the trace at half length, ~4 minutes

The model (``benchmarks/autoscale_app.py``) spends 200 ms per batch of up to 8 items off the
CPU, as a GPU-bound model does: one worker serves 40 items/s, the largest fleet (6 workers)
240 items/s. Its policy: 1 to 6 workers, a 1 s latency target, a 10 s down window.

The trace (``trace()``, seed 7) is a day compressed into 110 s, with Poisson arrivals within
each step: a quiet night (15/s), a morning ramp in three steps (45, 90, 135/s), a flash
crowd (200/s for 10 s, 83 % of the largest fleet), the afternoon (60/s) and the evening
(15/s). Its shape follows what the Azure Functions trace shows of production invocation
rates (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020): rates that change by an
order of magnitude within a day, and bursts far above the mean; the numbers are ours.

Open loop: each request is sent at its time in the trace whatever the answers do, and its
latency counts from that time (no coordinated omission). Printed per fleet: SLO attainment
(answered 200 within the 1 s target, of all requests sent), refusals (429/503), other
failures (deadline 504s, errors), p50/p95/p99 of the answered, and worker-seconds over the
trace (process count sampled every 0.25 s). Target: the autoscaler within 2 points of the
largest fleet's attainment on at most 60 % of its worker-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import table  # noqa: E402

from scaleserve.testing import running_service  # noqa: E402

TARGET = str(ROOT / "benchmarks" / "autoscale_app.py") + ":Bursty"
SLO_S = 1.0
MAX_WORKERS, MIN_WORKERS = 6, 1
STEPS = (  # (seconds, requests per second)
    (15, 15),
    (15, 45),
    (15, 90),
    (15, 135),
    (10, 200),
    (15, 60),
    (25, 15),
)
SAMPLE_S = 0.25
CONNECTIONS = 512
"""aiohttp rather than httpx: one Python process must send 200 requests/s on time."""


def trace(seed: int = 7, time_scale: float = 1.0) -> list[float]:
    """Send times (seconds from the start): Poisson arrivals at each step's rate."""
    rng = random.Random(seed)
    times: list[float] = []
    start = 0.0
    for seconds, rate in STEPS:
        end = start + seconds * time_scale
        at = start + rng.expovariate(rate)
        while at < end:
            times.append(at)
            at += rng.expovariate(rate)
        start = end
    return times


@dataclass
class FleetRun:
    label: str
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    worker_samples: list[float] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.statuses)

    @property
    def attainment(self) -> float:
        within = sum(
            1 for s, lat in zip(self.statuses, self.latencies, strict=True)
            if s == 200 and lat <= SLO_S
        )  # fmt: skip
        return within / self.sent

    @property
    def refused(self) -> int:
        return sum(1 for s in self.statuses if s in (429, 503))

    @property
    def failed(self) -> int:
        return sum(1 for s in self.statuses if s not in (200, 429, 503))

    @property
    def worker_seconds(self) -> float:
        return statistics.fmean(self.worker_samples) * self.duration_s

    def percentile(self, share: float) -> float:
        answered = sorted(
            lat for s, lat in zip(self.statuses, self.latencies, strict=True) if s == 200
        )
        return answered[min(len(answered) - 1, int(share * len(answered)))] if answered else 0.0


async def _workers(client: aiohttp.ClientSession, fixed: int | None) -> float:
    if fixed is not None:
        return float(fixed)
    async with client.get("/metrics") as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        if family.name == "scaleserve_workers_current":
            return sum(s.value for s in family.samples if s.labels.get("model") == "bursty")
    raise RuntimeError("the service exports no scaleserve_workers_current")


async def _one(
    client: aiohttp.ClientSession, at: float, start: float, run: FleetRun, i: int
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start + at - loop.time()))
    try:
        async with client.post("/v1/models/bursty/predict", json={"inputs": [float(i)]}) as answer:
            await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    run.statuses[i] = status
    run.latencies[i] = loop.time() - (start + at)


async def replay(base_url: str, times: list[float], label: str, fixed: int | None) -> FleetRun:
    run = FleetRun(label, [0] * len(times), [0.0] * len(times))
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5
        sends = [asyncio.create_task(_one(client, at, start, run, i)) for i, at in
                 enumerate(times)]  # fmt: skip
        end = start + times[-1]
        while loop.time() < end:
            run.worker_samples.append(await _workers(client, fixed))
            await asyncio.sleep(SAMPLE_S)  # the sampling period of the observation
        run.duration_s = loop.time() - start
        await asyncio.gather(*sends)
    return run


def run_fleet(label: str, workers: int | None, times: list[float]) -> FleetRun:
    with running_service(TARGET, workers=workers) as service:
        result = asyncio.run(replay(service.base_url, times, label, workers))
        log = service.logs()
    decisions = [line for line in log.splitlines() if "autoscale bursty:" in line]
    if decisions:
        print(f"{label}: {len(decisions)} scale decisions:")
        for line in decisions:
            print("   ", line.split("autoscale ", 1)[1])
    return result


def _row(run: FleetRun, largest: FleetRun) -> list[str]:
    ms = [f"{1000 * run.percentile(share):.0f}" for share in (0.5, 0.95, 0.99)]
    return [
        run.label, str(run.sent), f"{100 * run.attainment:.1f} %", str(run.refused),
        str(run.failed), *ms, f"{run.worker_seconds:.0f}",
        f"{run.worker_seconds / largest.worker_seconds:.2f}x",
    ]  # fmt: skip


def render(runs: list[FleetRun]) -> str:
    largest = runs[0]
    headers = ["fleet", "sent", "SLO attained", "refused", "failed", "p50 ms", "p95 ms",
               "p99 ms", "worker-s", "vs largest"]  # fmt: skip
    rows = [_row(run, largest) for run in runs]
    auto = runs[-1]
    gap = 100 * (largest.attainment - auto.attainment)
    share = auto.worker_seconds / largest.worker_seconds
    passed = gap <= 2.0 and share <= 0.6
    verdict = "PASS" if passed else "MISS"
    return "\n".join(
        [
            table(headers, rows),
            "",
            f"target: autoscaler within 2 points of the largest fleet's attainment on <= 60 % "
            f"of its worker-seconds: {gap:+.1f} points behind, {100 * share:.0f} % of the "
            f"worker-seconds  {verdict}",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the trace at half length")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    times = trace(args.seed, 0.5 if args.quick else 1.0)
    print(f"trace: {len(times)} requests over {times[-1]:.0f} s (seed {args.seed}); "
          f"SLO {SLO_S * 1000:.0f} ms")  # fmt: skip
    runs = [
        run_fleet(f"fixed {MAX_WORKERS} (largest)", MAX_WORKERS, times),
        run_fleet(f"fixed {MIN_WORKERS} (smallest)", MIN_WORKERS, times),
        run_fleet(f"autoscaled {MIN_WORKERS}-{MAX_WORKERS}", None, times),
    ]
    print()
    print(render(runs))
    return 0 if all(run.failed == 0 for run in runs[::2]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
