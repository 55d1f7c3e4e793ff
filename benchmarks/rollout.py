"""Rollout benchmark: what versions cost while serving, and what a swap costs.

    python benchmarks/rollout.py            # ~3 minutes
    python benchmarks/rollout.py --quick    # ~1 minute

1. **Routing overhead**: echo at c=64 (``wrk``, authentication on), served from a file
   (one version), from the registry with one version, and from the registry during a 50 %
   canary (the split, the version header and the tallies on every request), each with two
   worker processes. All three run at once and are loaded in turn, round after round, so
   that each round compares runs seconds apart; the table shows the median of each round's
   ratio. Target: the canary within 3 % of the file-served model's requests/s.
2. **A swap under load**: 16 clients send echo requests one after another; after a steady
   period ``production`` moves to another version (a new worker starts, warms up, takes
   the traffic; the old one drains). Failed requests during the swap (target 0) and p99
   during the swap / steady p99 (target <= 2).
3. **Deploy to first answer**: the embeddings example (all-MiniLM-L6-v2) from the registry;
   seconds from moving ``production`` to version 2 until the first request answered by it
   (a worker process starting, loading the model and warming up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import wrk_load  # noqa: E402
from benchmarks.report import table  # noqa: E402
from benchmarks.rounds import rotated_rounds  # noqa: E402

from scaleserve.testing import Service, embedded_registry, running_service  # noqa: E402

ECHO = str(ROOT / "examples" / "echo")
CLIENTS = 16
"""Clients of the swap run: enough to keep the gateway busy, few enough that the Python
client itself does not set the latency."""
EMBEDDINGS = str(ROOT / "examples" / "embeddings")
ENV: dict[str, str] = {}  # the defaults, as users run it


async def register(data_dir: Path, model: str, target: str, versions: int) -> None:
    async with embedded_registry(data_dir) as registry:
        for _ in range(versions):
            await registry.register(model, model_class=f"{target}:{_class_of(target)}")


def _class_of(target: str) -> str:
    return {"echo": "Echo", "embeddings": "Embeddings"}[Path(target).name]


@contextlib.contextmanager
def service(target: str, data_dir: Path, workers: int | None = None) -> Iterator[Service]:
    args = ["--data-dir", str(data_dir)]
    with running_service(
        target, auth=True, args=args, env=ENV, workers=workers, ready_timeout_s=300
    ) as running:
        yield running


# -- 1. routing overhead ---------------------------------------------------------------------


CONFIGS = (
    # label, target, versions registered, workers per version: two worker processes each,
    # so the only difference is the routing (a third process would take the gateway's CPU)
    ("file", ECHO, 0, 2),
    ("registry", "models:/echo", 1, 2),
    ("canary 50%", "models:/echo", 2, 1),
)


def overhead(rounds: int, duration_s: int, scratch: Path) -> dict[str, list[float]]:
    """Requests/s of each configuration, all three running at once and loaded in turn, so
    that each round compares runs seconds apart (this machine's speed drifts by up to 2x
    over minutes)."""
    script = wrk_load.write_script(scratch / "echo.lua", [f"item-{i}" for i in range(200)])
    with contextlib.ExitStack() as stack:
        running: dict[str, Service] = {}
        for label, target, versions, workers in CONFIGS:
            data_dir = scratch / f"overhead-{versions}"
            if versions:
                asyncio.run(register(data_dir, "echo", ECHO, versions))
            running[label] = stack.enter_context(service(target, data_dir, workers))
            if label.startswith("canary"):
                asyncio.run(_start_canary(running[label]))
        return rotated_rounds(running, script, rounds, duration_s)


async def _start_canary(running: Service) -> None:
    async with httpx.AsyncClient(
        base_url=running.admin_url, headers=running.admin_headers, timeout=60
    ) as admin:
        started = await admin.post(
            "/admin/models/echo/rollout", json={"version": "2", "weight": 50}
        )
        started.raise_for_status()
    async with httpx.AsyncClient(
        base_url=running.base_url, headers=running.headers, timeout=60
    ) as client:
        async with asyncio.timeout(120):
            while True:  # until the candidate's worker is warm and takes its share
                seen = set()
                for _ in range(20):
                    answer = await client.post("/v1/models/echo/predict", json={"inputs": ["x"]})
                    seen.add(answer.headers["x-model-version"])
                if seen == {"1", "2"}:
                    return


# -- 2. a swap under load --------------------------------------------------------------------


@dataclass
class Timed:
    at: float
    latency_s: float
    ok: bool
    version: str


@dataclass
class SwapRun:
    answers: list[Timed] = field(default_factory=list)
    swap_asked: float = 0.0
    swap_done: float = 0.0


async def _client_loop(client: httpx.AsyncClient, run: SwapRun, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            answer = await client.post("/v1/models/echo/predict", json={"inputs": ["x"]})
            ok, version = answer.status_code == 200, answer.headers.get("x-model-version", "")
        except httpx.HTTPError:
            ok, version = False, ""
        run.answers.append(Timed(started, time.perf_counter() - started, ok, version))


async def swap_under_load(running: Service, steady_s: float, after_s: float) -> SwapRun:
    run, stop = SwapRun(), asyncio.Event()
    limits = httpx.Limits(max_connections=64)
    async with (
        httpx.AsyncClient(
            base_url=running.base_url, headers=running.headers, timeout=30, limits=limits
        ) as client,
        httpx.AsyncClient(
            base_url=running.admin_url, headers=running.admin_headers, timeout=120
        ) as admin,
    ):
        loops = [asyncio.create_task(_client_loop(client, run, stop)) for _ in range(CLIENTS)]
        await asyncio.sleep(steady_s)  # the steady period is a measured window, not a wait
        run.swap_asked = time.perf_counter()
        moved = await admin.put("/admin/models/echo/aliases/production", json={"version": "2"})
        moved.raise_for_status()
        run.swap_done = time.perf_counter()
        await asyncio.sleep(after_s)  # the old version drains and stops in this window
        stop.set()
        await asyncio.gather(*loops)
    return run


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 100 else max(latencies)


# -- 3. deploy to first answer ---------------------------------------------------------------


async def deploy_to_first_answer(running: Service) -> float:
    async with (
        httpx.AsyncClient(base_url=running.base_url, headers=running.headers, timeout=60) as c,
        httpx.AsyncClient(
            base_url=running.admin_url, headers=running.admin_headers, timeout=600
        ) as admin,
    ):
        started = time.perf_counter()
        moving = asyncio.create_task(
            admin.put("/admin/models/embeddings/aliases/production", json={"version": "2"})
        )
        while True:
            answer = await c.post("/v1/models/embeddings/predict", json={"inputs": ["hello"]})
            answer.raise_for_status()
            if answer.headers["x-model-version"] == "2":
                elapsed = time.perf_counter() - started
                break
        (await moving).raise_for_status()
        return elapsed


# -- the run -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s; short swap")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration-s", type=int, default=5)
    parser.add_argument("--skip-embeddings", action="store_true")
    args = parser.parse_args()
    rounds, duration_s = (1, 3) if args.quick else (args.rounds, args.duration_s)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as scratch_name:
        scratch = Path(scratch_name)
        print(f"1. routing overhead: echo at c=64, {rounds} round(s) of {duration_s} s")
        rates = overhead(rounds, duration_s, scratch)
        medians = {label: statistics.median(values) for label, values in rates.items()}
        ratios = {
            label: statistics.median(r / f for r, f in zip(values, rates["file"], strict=True))
            for label, values in rates.items()
        }
        results["overhead"] = {"rates": rates, "medians": medians, "ratios": ratios}

        print(f"2. a swap under load ({CLIENTS} clients)")
        swap_dir = scratch / "swap"
        asyncio.run(register(swap_dir, "echo", ECHO, 2))
        with service("models:/echo", swap_dir) as running:
            run = asyncio.run(swap_under_load(running, 3 if args.quick else 6, 3))
        steady = [a.latency_s for a in run.answers if a.at < run.swap_asked]
        swapping = [a for a in run.answers if run.swap_asked <= a.at <= run.swap_done + 2]
        failed = sum(not a.ok for a in run.answers)
        swap = {
            "requests": len(run.answers),
            "failed": failed,
            "steady_p99_ms": 1000 * _p99(steady),
            "swap_p99_ms": 1000 * _p99([a.latency_s for a in swapping]),
            "swap_s": run.swap_done - run.swap_asked,
            "versions": sorted({a.version for a in run.answers}),
        }
        results["swap"] = swap

        if not args.skip_embeddings:
            print("3. deploy to first answer: the embeddings example")
            embed_dir = scratch / "embeddings"
            asyncio.run(register(embed_dir, "embeddings", EMBEDDINGS, 2))
            with service("models:/embeddings", embed_dir) as running:
                results["deploy_to_first_answer_s"] = asyncio.run(deploy_to_first_answer(running))
    print(render(results))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"rollout-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=2)
    )
    return 1 if swap["failed"] else 0


def render(results: dict[str, object]) -> str:
    overhead_ = results["overhead"]
    assert isinstance(overhead_, dict)
    medians, ratios = overhead_["medians"], overhead_["ratios"]
    rows = [[label, f"{rate:,.0f}", f"{ratios[label]:.3f}x"] for label, rate in medians.items()]
    lines = ["", "Routing overhead (echo, c=64; median req/s, median of each round's ratio)"]
    lines.append(table(["served", "req/s", "vs file"], rows))
    swap = results["swap"]
    assert isinstance(swap, dict)
    ratio = swap["swap_p99_ms"] / swap["steady_p99_ms"]
    lines += [
        "",
        f"A swap under load ({CLIENTS} clients, echo)",
        table(
            ["requests", "failed", "steady p99", "p99 during swap", "ratio", "swap took"],
            [
                [
                    f"{swap['requests']:,}",
                    str(swap["failed"]),
                    f"{swap['steady_p99_ms']:.1f} ms",
                    f"{swap['swap_p99_ms']:.1f} ms",
                    f"{ratio:.2f}",
                    f"{swap['swap_s']:.2f} s",
                ]
            ],
        ),
    ]
    canary_cost = 1 - ratios["canary 50%"]
    targets = [
        ["canary routing overhead < 3 %", f"{canary_cost:.1%}", _verdict(canary_cost < 0.03)],
        ["requests failed in a swap = 0", str(swap["failed"]), _verdict(swap["failed"] == 0)],
        ["p99 in a swap / steady <= 2", f"{ratio:.2f}", _verdict(ratio <= 2)],
    ]
    if "deploy_to_first_answer_s" in results:
        seconds = results["deploy_to_first_answer_s"]
        targets.append(["deploy -> first answer (embeddings)", f"{seconds:.1f} s", "reported"])
    lines += ["", "Targets", table(["target", "measured", ""], targets)]
    return "\n".join(lines)


def _verdict(passed: bool) -> str:
    return "met" if passed else "MISSED"


if __name__ == "__main__":
    raise SystemExit(main())
