"""Scale-out across hosts: items/s with 1 to 32 worker hosts behind one gateway.

    python benchmarks/scaleout.py            # needs root (network namespaces) and wrk

Every host is a network namespace on this machine (``scaleserve.testing_hosts``): Redis on
its own host, one gateway host, N worker hosts each running one worker. The model sleeps
50 ms per batch of up to 4 items, as a GPU-bound model spends its batch off the CPU, so that
growth is visible on two cores: one worker serves about 80 items/s. wrk loads the gateway
at 32 connections per worker host (one item per request). Printed per fleet: items/s, the
speed-up and efficiency per added host, the gateway's and Redis's CPU per request, and
Redis commands per request; the saturation point is where efficiency drops below 70 %.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import wrk_load  # noqa: E402
from benchmarks.procstat import cpu_s  # noqa: E402
from benchmarks.report import table  # noqa: E402

from scaleserve.testing import tenants_command  # noqa: E402
from scaleserve.testing_hosts import IP, Host, HostLab  # noqa: E402

SLEEPER = str(ROOT / "tests" / "fixtures" / "autoscale_app.py") + ":Sleeper"
PER_WORKER_ITEMS_S = 80.0


def _pids(host: Host) -> list[int]:
    done = subprocess.run([IP, "netns", "pids", host.namespace], capture_output=True,
                          text=True, check=False)  # fmt: skip
    return [int(pid) for pid in done.stdout.split()]


def _host_cpu_s(host: Host) -> float:
    total = 0.0
    for pid in _pids(host):
        with contextlib.suppress(OSError):
            total += cpu_s(pid)
    return total


@contextlib.contextmanager
def cluster() -> Iterator[tuple[HostLab, Host, str, dict[str, str], str]]:
    with HostLab() as lab:
        _, url = lab.add_redis()
        _wait(lambda: redis.Redis.from_url(url).ping())
        key = tenants_command("--redis", url, "create", "bench")["key"]
        env = {"SCALESERVE_REDIS_URL": url}
        gateway = lab.add("gw")
        gateway.start([sys.executable, "-m", "scaleserve", "api", SLEEPER,
                       "--host", gateway.address, "--port", "8000"], env)  # fmt: skip
        yield lab, gateway, f"http://{gateway.address}:8000", env, key


def _wait(check: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("a host did not come up")
        time.sleep(0.1)


def _ready(url: str, key: str, workers: int) -> None:
    def ready() -> bool:
        answer = httpx.get(f"{url}/readyz", timeout=2).json()
        return bool(answer["models"]["sleeper"] >= workers)

    _wait(ready, 120)
    headers = {"Authorization": f"Bearer {key}"}
    httpx.post(f"{url}/v1/models/sleeper/predict", json={"inputs": [1.0]}, headers=headers,
               timeout=30).raise_for_status()  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,2,4,8,16,32")
    parser.add_argument("--duration-s", type=int, default=8)
    args = parser.parse_args()
    why = HostLab.available()
    if why is not None:
        print(f"cannot build hosts here: {why}")
        return 2
    fleets = [int(n) for n in args.hosts.split(",")]
    rows = []
    with cluster() as (lab, gateway, url, env, key), tempfile.TemporaryDirectory() as scratch:
        os.environ["BENCH_AUTHORIZATION"] = f"Bearer {key}"
        script = wrk_load.write_script(Path(scratch) / "s.lua", [1.0, 2.0, 3.0])
        redis_client = redis.Redis.from_url(env["SCALESERVE_REDIS_URL"])
        workers: list[Host] = []
        for fleet in fleets:
            while len(workers) < fleet:
                host = lab.add(f"w{len(workers)}")
                host.start([sys.executable, "-m", "scaleserve", "worker", SLEEPER,
                            "--workers", "1"], env)  # fmt: skip
                workers.append(host)
            _ready(url, key, fleet)
            wrk_load.run(f"{url}/v1/models/sleeper/predict", script, 32 * fleet, 2)  # warm-up
            gateway_cpu, redis_info = _host_cpu_s(gateway), redis_client.info()
            result = wrk_load.run(f"{url}/v1/models/sleeper/predict", script, 32 * fleet,
                                  args.duration_s)  # fmt: skip
            after = redis_client.info()
            requests = max(1, result.requests)
            rows.append({
                "hosts": fleet,
                "items_s": result.requests_per_s,
                "failures": result.failures,
                "p99_ms": result.p99_ms,
                "gateway_us": 1e6 * (_host_cpu_s(gateway) - gateway_cpu) / requests,
                "redis_us": 1e6 * (_redis_cpu(after) - _redis_cpu(redis_info)) / requests,
                "redis_ops": (after["total_commands_processed"]
                              - redis_info["total_commands_processed"]) / requests,
            })  # fmt: skip
            print(f"  {fleet} worker hosts: {result.requests_per_s:,.0f} items/s")
    print(render(rows))
    return 1 if any(row["failures"] for row in rows) else 0


def _redis_cpu(info: dict[str, float]) -> float:
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def render(rows: list[dict[str, float]]) -> str:
    base = rows[0]["items_s"] / rows[0]["hosts"]
    lines = []
    saturated = None
    for row in rows:
        efficiency = row["items_s"] / (base * row["hosts"])
        if saturated is None and efficiency < 0.7:
            saturated = row
        lines.append([
            str(int(row["hosts"])), f"{row['items_s']:,.0f}",
            f"{row['items_s'] / rows[0]['items_s']:.2f}x",
            f"{efficiency:.0%}", f"{row['p99_ms']:.0f} ms", f"{row['gateway_us']:.0f} us",
            f"{row['redis_us']:.0f} us", f"{row['redis_ops']:.1f}", str(int(row["failures"])),
        ])  # fmt: skip
    headers = ["worker hosts", "items/s", "speed-up", "efficiency", "p99", "gateway CPU/req",
               "Redis CPU/req", "Redis ops/req", "failed"]  # fmt: skip
    out = [f"Ideal: {PER_WORKER_ITEMS_S:.0f} items/s per worker host", table(headers, lines)]
    if saturated is None:
        out.append("No saturation up to the largest fleet.")
    else:
        gateway_share = saturated["gateway_us"] * saturated["items_s"] / 1e6
        redis_share = saturated["redis_us"] * saturated["items_s"] / 1e6
        what = "the gateway" if gateway_share >= redis_share else "Redis"
        out.append(
            f"Saturates at {int(saturated['hosts'])} worker hosts: {what} is the busiest "
            f"(gateway {gateway_share:.2f} cores, Redis {redis_share:.2f} cores of this "
            "machine's 2, which also run every host's processes)."
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
