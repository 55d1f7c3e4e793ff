"""HTTP load with ``wrk``: a Lua script that rotates request bodies, and a parser for its report.

Every run uses one wrk thread (``-t1``) so the load generator takes as little CPU from
the server as it can, and ``--latency`` so wrk prints its latency percentiles.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRK_TIMEOUT = "30s"  # a slow answer is a latency to report, not a socket error

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS_PER_S = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles and failures."""

    concurrency: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def failures(self) -> int:
        return self.non_2xx + self.socket_errors


def write_script(path: Path, bodies: list[Any]) -> Path:
    """Write a wrk Lua script that POSTs ``{"inputs": [body]}`` for each body in turn."""
    literals = ",\n".join(_lua_string(_request_json(body)) for body in bodies)
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'local authorization = os.getenv("BENCH_AUTHORIZATION")\n'
        'if authorization then wrk.headers["Authorization"] = authorization end\n'
        f"local bodies = {{\n{literals}\n}}\n"
        "local requests = {}\n"
        "local next_index = 0\n"
        "init = function(args)\n"
        "  for i, body in ipairs(bodies) do requests[i] = wrk.format(nil, nil, nil, body) end\n"
        "end\n"
        "request = function()\n"
        "  next_index = next_index % #requests + 1\n"
        "  return requests[next_index]\n"
        "end\n"
    )
    return path


def run(url: str, script: Path, concurrency: int, duration_s: int) -> LoadResult:
    """Load ``url`` with ``concurrency`` connections for ``duration_s`` and parse the report."""
    argv = [
        _wrk(),
        "-t1",
        f"-c{concurrency}",
        f"-d{duration_s}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout, concurrency)


def version() -> str:
    """wrk's name and version, as ``wrk -v`` prints them."""
    done = subprocess.run([_wrk(), "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return " ".join(first[0].split()[:2]) if first else "wrk"


def parse(report: str, concurrency: int) -> LoadResult:
    """Read throughput, p50/p99 and failure counts out of wrk's ``--latency`` report."""
    percentiles = {int(p): float(v) * _UNITS_MS[unit] for p, v, unit in _PERCENTILE.findall(report)}
    rate, total = _REQUESTS_PER_S.search(report), _REQUESTS.search(report)
    if rate is None or total is None or set(percentiles) != {50, 99}:
        raise ValueError(f"cannot parse wrk's report:\n{report}")
    non_2xx = _NON_2XX.search(report)
    sockets = _SOCKET_ERRORS.search(report)
    return LoadResult(
        concurrency=concurrency,
        requests=int(total.group(1)),
        requests_per_s=float(rate.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, sockets.groups())) if sockets else 0,
    )


def _request_json(item: Any) -> str:
    # ASCII-only JSON: the Lua literal below then needs no escaping beyond \ and ".
    return json.dumps({"inputs": [item]}, ensure_ascii=True, separators=(",", ":"))


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise FileNotFoundError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return path
