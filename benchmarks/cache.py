"""The result cache's benchmark: what a cache hit costs, and what the cache saves.

    python benchmarks/cache.py              # full run: 8 s per configuration, ~2.5 minutes
    python benchmarks/cache.py --quick      # smoke run: 2 s per configuration
    python benchmarks/cache.py --no-model   # skip the embeddings runs (no torch needed)

One run, one load generator (``wrk -t1 -c64 --latency``), one request = one item:

1. ``constant``: a hand-written FastAPI endpoint returning a constant body (the same bytes a
   cache hit returns), one uvicorn process: the ceiling of a Python HTTP answer.
2. ``memory hit``: ``scaleserve serve`` of ``CachedEcho`` below, every request an exact hit
   in the gateway's memory tier (200 different bodies, all answered once beforehand).
3. ``redis hit``: the same with the memory tier off and Redis as the only tier.
4. ``embeddings 0% / 50% hits``: the embeddings example (all-MiniLM-L6-v2, exact cache on),
   with every request new, then with every other request one answered before: the model
   compute the cache saves, in requests/s and in items the workers computed.

This file is also what the runs serve: ``CachedEcho`` (for ``scaleserve serve``) and
``constant`` (for uvicorn) live here so the comparison is in one place. Results print as a
table and go to ``benchmarks/results/cache-<timestamp>.json``. Target: memory-tier hits
>= 0.9x the constant endpoint's requests/s.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response

import scaleserve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
CONCURRENCY = 64
TARGET_RATIO = 0.9
ECHO_ITEMS = [f"cached item number {n}" for n in range(200)]
CONSTANT_BODY = b'{"model":"cached-echo","version":"1","outputs":["cached item number 0"]}'


class CachedEcho(scaleserve.Model):
    """Echo with the exact cache on: after one pass, every item is a hit."""

    name = "cached-echo"
    max_batch_size = 64
    cache = "exact"

    def predict(self, batch: list[str]) -> list[str]:
        return batch


constant = FastAPI()


@constant.post("/predict")
async def predict() -> Response:
    return Response(CONSTANT_BODY, media_type="application/json")


@dataclass(frozen=True)
class Row:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    gateway_cpu_us: float | None  # CPU of the server process per request
    hit_ratio: float | None  # items answered by the cache / requests
    computed_per_request: float | None  # items the workers computed / requests


def main() -> int:
    args = parse_args()
    import wrk_load  # the benchmarks' own helpers, beside this file

    print(f"{wrk_load.version()}, -t1 -c{CONCURRENCY}, {args.duration_s} s per run")
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    rows = [run_constant(args), run_memory_hits(args)]
    if redis_reachable():
        rows.append(run_redis_hits(args))
    else:
        print("Redis is not reachable on 127.0.0.1:6379: skipping the redis-hit run")
    if args.model:
        rows += run_embeddings(args)
    print_table(rows)
    save(rows, args)
    return 1 if any(r.errors for r in rows) else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=int, default=8)
    parser.add_argument("--warmup-s", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 s warm-ups")
    parser.add_argument("--no-model", dest="model", action="store_false")
    args = parser.parse_args()
    if args.quick:
        args.duration_s, args.warmup_s = 2, 1
    return args


# -- the runs ------------------------------------------------------------------------------


def run_constant(args: argparse.Namespace) -> Row:
    with uvicorn_constant() as (url, pid):
        return measure("constant (FastAPI)", url, rotating(ECHO_ITEMS), args, server_pid=pid)


def run_memory_hits(args: argparse.Namespace) -> Row:
    with scaleserve_service(f"{Path(__file__)}:CachedEcho", {}) as service:
        return measure_cached_echo("memory hit", service, args)


def run_redis_hits(args: argparse.Namespace) -> Row:
    env = {
        "SCALESERVE_REDIS_URL": REDIS_URL,
        "SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "SCALESERVE_CACHE_MEMORY_TIER": "off",
    }
    with scaleserve_service(f"{Path(__file__)}:CachedEcho", env) as service:
        try:
            return measure_cached_echo("redis hit (memory tier off)", service, args)
        finally:
            post(service.admin_url + "/admin/models/cached-echo/cache", None, method="DELETE")


def measure_cached_echo(name: str, service: Any, args: argparse.Namespace) -> Row:
    url = service.base_url + "/v1/models/cached-echo/predict"
    for item in ECHO_ITEMS:  # every body answered once: the measured run is all hits
        post(url, {"inputs": [item]})
    return measure(name, url, rotating(ECHO_ITEMS), args, service, "cached-echo")


def run_embeddings(args: argparse.Namespace) -> list[Row]:
    from corpus import inputs_for

    sentences = inputs_for("embeddings")[:200]
    rows = []
    with scaleserve_service(ROOT / "examples" / "embeddings", {}) as service:
        url = service.base_url + "/v1/models/embeddings/predict"
        for sentence in sentences:
            post(url, {"inputs": [sentence]})
        for name, warm_every in (("embeddings, 0% hits", 0), ("embeddings, 50% hits", 2)):
            script = functools.partial(lua_mixed, sentences, warm_every)
            rows.append(measure(name, url, script, args, service, "embeddings"))
    return rows


# -- measuring -----------------------------------------------------------------------------


def measure(
    name: str,
    url: str,
    script: Callable[[], Path],
    args: argparse.Namespace,
    service: Any = None,
    model: str | None = None,
    server_pid: int | None = None,
) -> Row:
    import wrk_load
    from cpu import CpuSnapshot
    from service_metrics import ServiceMetrics

    metrics = ServiceMetrics(service.base_url, model) if service and model else None
    pid = server_pid or service.pid
    wrk_load.run(url, script(), CONCURRENCY, args.warmup_s)
    if metrics is not None:
        metrics.wait_idle()
    before_metrics = _scrape(metrics)
    before_cpu = CpuSnapshot.take(pid, [])
    result = wrk_load.run(url, script(), CONCURRENCY, args.duration_s)
    cpu = CpuSnapshot.take(pid, []).since(before_cpu, result.requests)
    if metrics is not None:
        metrics.wait_idle()
    after_metrics = _scrape(metrics)
    row = Row(
        name=name,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.failures,
        gateway_cpu_us=cpu.server_us_per_req,
        hit_ratio=_ratio(_hits(before_metrics, after_metrics), result.requests),
        computed_per_request=_ratio(
            _delta(before_metrics, after_metrics, "scaleserve_batch_size_sum"), result.requests
        ),
    )
    print(f"  {name}: {row.requests_per_s:,.0f} req/s")
    return row


_CACHE_HIT = re.compile(r"^scaleserve_cache_lookups_total\{([^}]*)\}\s+(\S+)$", re.MULTILINE)


def _scrape(metrics: Any) -> dict[str, float]:
    """The model's own samples, and its cache hits (of every tier) as ``cache_hits``."""
    if metrics is None:
        return {}
    samples = metrics.scrape()
    with urllib.request.urlopen(metrics.base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    samples["cache_hits"] = sum(
        float(value)
        for labels, value in _CACHE_HIT.findall(text)
        if f'model="{metrics.model}"' in labels and 'result="hit"' in labels
    )
    return samples


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float | None:
    if not after:
        return None
    return after.get(name, 0.0) - before.get(name, 0.0)


def _hits(before: dict[str, float], after: dict[str, float]) -> float | None:
    return _delta(before, after, "cache_hits")


def _ratio(part: float | None, whole: int) -> float | None:
    return part / whole if part is not None and whole else None


# -- load scripts ----------------------------------------------------------------------------


def rotating(items: list[str]) -> Callable[[], Path]:
    """A script that rotates through ``items``, the same for every run."""
    import wrk_load

    path = wrk_load.write_script(_script_path(), list(items))
    return lambda: path


def lua_mixed(sentences: list[str], warm_every: int) -> Path:
    """Every ``warm_every``-th request one of ``sentences`` (answered before); the others a
    sentence never seen (``warm_every=0``: all new), new for every script written."""
    run_id = uuid.uuid4().hex[:8]
    bodies = ",\n".join(_lua_quote(json.dumps({"inputs": [s]})) for s in sentences)
    warm = (
        f"  if n % {warm_every} == 0 then\n"
        f"    return wrk.format(nil, nil, nil, warm[math.floor(n / {warm_every}) % #warm + 1])\n"
        "  end\n"
        if warm_every
        else ""
    )
    path = _script_path()
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"local warm = {{\n{bodies}\n}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f"{warm}"
        '  local text = "Request ' + run_id + ' number " .. n .. " asks something new."\n'
        "  return wrk.format(nil, nil, nil, '{\"inputs\":[\"' .. text .. '\"]}')\n"
        "end\n"
    )
    return path


def _script_path() -> Path:
    return Path(tempfile.mkdtemp(prefix="scaleserve-cache-bench-")) / "load.lua"


def _lua_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- servers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def scaleserve_service(target: str | Path, env: dict[str, str]) -> Iterator[Any]:
    from scaleserve.testing import running_service

    with running_service(target, env={"HF_HUB_OFFLINE": "1", **env}, ready_timeout_s=180) as s:
        yield s


@contextlib.contextmanager
def uvicorn_constant() -> Iterator[tuple[str, int]]:
    from scaleserve.testing import free_port

    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "cache:constant", "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(argv)
    try:
        url = f"http://127.0.0.1:{port}/predict"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                post(url, {"inputs": ["x"]})
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the constant FastAPI endpoint did not start")
            time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, body: Any, method: str = "POST") -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return bytes(response.read())


def redis_reachable() -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 6379), 1):
        return True
    return False


# -- report ----------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    print()
    print("| run | req/s | p50 ms | p99 ms | gateway CPU µs/req | hits/req | computed/req |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{num(r.gateway_cpu_us, '.0f')} | {num(r.hit_ratio, '.2f')} | "
            f"{num(r.computed_per_request, '.2f')} |"
        )
    constant_rps = rows[0].requests_per_s
    memory_rps = rows[1].requests_per_s
    ratio = memory_rps / constant_rps
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"\nmemory hit / constant = {ratio:.2f} (target >= {TARGET_RATIO}): {verdict}")
    mixed = {r.name: r for r in rows if r.name.startswith("embeddings")}
    if len(mixed) == 2:
        cold, warm = mixed["embeddings, 0% hits"], mixed["embeddings, 50% hits"]
        print(f"embeddings 50% hits / 0% hits = {warm.requests_per_s / cold.requests_per_s:.2f}")


def save(rows: list[Row], args: argparse.Namespace) -> None:
    out = HERE / "results" / f"cache-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": [asdict(r) for r in rows]}, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    sys.exit(main())
