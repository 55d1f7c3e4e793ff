"""scaleserve's serving benchmark: raw model throughput, served throughput and latency, the
FastAPI baseline, and peak memory, measured side by side in one run.

    python benchmarks/serving.py            # full run, ~8 s per configuration
    python benchmarks/serving.py --quick    # smoke run, a few seconds per configuration

Prints an aligned report with each target marked PASS or MISS and writes the numbers to
``benchmarks/results/<timestamp>.json``. A missed target does not fail the run; a request
that fails does (exit code 1), as does a server that does not start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import processes
import raw_throughput
import report
import wrk_load
from corpus import inputs_for
from cpu import CpuSnapshot
from procstat import environ_var, peak_rss_mb
from results import BASELINE, CONCURRENCIES, Results, ServedRun
from service_metrics import ServiceMetrics, batching

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
RESULTS_DIR = HERE / "results"
MODELS = ("echo", "embeddings")
QUICK = {"duration_s": 2, "warmup_s": 1, "raw_duration_s": 1.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark scaleserve against its models' raw speed and a FastAPI baseline."
    )
    parser.add_argument(
        "--duration-s",
        type=int,
        default=8,
        help="measured seconds per served configuration (default 8)",
    )
    parser.add_argument(
        "--warmup-s",
        type=int,
        default=2,
        help="warm-up seconds before each served configuration (default 2)",
    )
    parser.add_argument(
        "--raw-duration-s",
        type=float,
        default=None,
        help="seconds per batch size in the raw run (default: --duration-s)",
    )
    parser.add_argument(
        "--only", choices=MODELS, help="benchmark one model (echo includes the FastAPI baseline)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s per configuration, 1 s warm-up, 1 s per batch size",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8150,
        help="first of the three loopback ports used (default 8150)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    if args.raw_duration_s is None:
        args.raw_duration_s = float(args.duration_s)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = [args.only] if args.only else list(MODELS)
    results = Results(
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        machine=machine(),
        settings={k: getattr(args, k) for k in ("duration_s", "warmup_s", "raw_duration_s")},
    )
    for model in models:
        _progress(f"raw in-process throughput of {model}")
        app = EXAMPLES / model / "app.py"
        results.raw[model] = raw_throughput.measure(app, args.raw_duration_s)
    with tempfile.TemporaryDirectory(prefix="scaleserve-bench-") as scripts:
        for i, model in enumerate(models):
            script = wrk_load.write_script(Path(scripts) / f"{model}.lua", inputs_for(model))
            results.served[model] = serve_model(model, args.port + 2 * i, script, args)
            if model == "echo":
                results.served[BASELINE] = serve_baseline(args.port + 1, script, args)
    results.machine["loadavg_end"] = _loadavg()
    results.machine["torch_threads"] = _torch_threads(results)
    print(report.render(results))
    print(f"\nresults written to {save(results)}")
    return 1 if results.failures else 0


@dataclass(frozen=True)
class UnderTest:
    """A server under load: where requests go, its processes, and (scaleserve) its metrics."""

    url: str
    server_pid: int
    worker_pids: list[int] = field(default_factory=list)
    metrics: ServiceMetrics | None = None


def serve_model(model: str, port: int, script: Path, args: argparse.Namespace) -> ServedRun:
    """Load one model's ``scaleserve serve`` at each concurrency, then read its peak memory."""
    with processes.scaleserve_service(EXAMPLES / model, port) as service:
        url = f"{service.base_url}/v1/models/{model}/predict"
        _check(url, model)
        workers = service.worker_pids(model)
        run = ServedRun(model)
        metrics = ServiceMetrics(service.base_url, model)
        sweep(run, UnderTest(url, service.pid, workers, metrics), script, args)
        if service.worker_pids(model) != workers:
            raise RuntimeError(f"a {model} worker was restarted during the run:\n{service.logs()}")
        run.server_peak_rss_mb = peak_rss_mb(service.pid)
        run.worker_peak_rss_mb = [peak_rss_mb(pid) for pid in workers]
        run.worker_threads = environ_var(workers[0], "SCALESERVE_CPU_THREADS") if workers else None
    return run


def serve_baseline(port: int, script: Path, args: argparse.Namespace) -> ServedRun:
    """Load the hand-written FastAPI echo at each concurrency, then read its peak memory."""
    with processes.fastapi_baseline(port) as baseline:
        url = f"{baseline.base_url}/predict"
        _check(url, "echo")
        run = ServedRun(BASELINE)
        sweep(run, UnderTest(url, baseline.pid), script, args)
        run.server_peak_rss_mb = peak_rss_mb(baseline.pid)
    return run


def sweep(run: ServedRun, target: UnderTest, script: Path, args: argparse.Namespace) -> None:
    """A warm-up then a measured wrk run at each concurrency, recorded in ``run``.

    The warm-up's numbers are discarded, and what it left in flight is drained before the
    measured run; CPU use and batching cover the measured run only.
    """
    for concurrency in CONCURRENCIES:
        _progress(f"{run.label}: c={concurrency}")
        wrk_load.run(target.url, script, concurrency, args.warmup_s)
        metrics_before = _drained_metrics(target.metrics)
        before = CpuSnapshot.take(target.server_pid, target.worker_pids)
        load = wrk_load.run(target.url, script, concurrency, args.duration_s)
        after = CpuSnapshot.take(target.server_pid, target.worker_pids)
        run.loads[concurrency] = load
        run.cpu[concurrency] = after.since(before, load.requests)
        if target.metrics is not None:
            elapsed_s = after.at_s - before.at_s
            metrics_after = target.metrics.scrape()
            run.batching[concurrency] = batching(metrics_before, metrics_after, elapsed_s)


def _drained_metrics(metrics: ServiceMetrics | None) -> dict[str, float]:
    """Wait out the warm-up's leftovers, then read the service's metrics (none: baseline)."""
    if metrics is None:
        return {}
    waited_s = metrics.wait_idle()
    if waited_s > 0.5:
        _progress(f"  waited {waited_s:.1f} s for requests wrk left in flight")
    return metrics.scrape()


def machine() -> dict[str, object]:
    """What the numbers were measured on (``torch_threads`` is filled in from the raw run)."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torch_threads": None,
        "wrk": wrk_load.version(),
        "loadavg_start": _loadavg(),
    }


def save(results: Results) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results.to_json(), indent=2) + "\n")
    return path


def _check(url: str, model: str) -> None:
    """One request before the load: the server answers 200 with the right output."""
    item = inputs_for(model)[0]
    outputs = processes.check_answer(url, item)
    expectations: dict[str, Callable[[object], bool]] = {
        "echo": lambda out: out == item,
        "embeddings": lambda out: isinstance(out, list) and len(out) == 384,
    }
    if not expectations[model](outputs[0]):
        raise RuntimeError(f"{url} answered {outputs[0]!r:.200} to {item!r}")


def _torch_threads(results: Results) -> int | None:
    threads = [raw.torch_threads for raw in results.raw.values() if raw.torch_threads]
    return threads[0] if threads else None


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
