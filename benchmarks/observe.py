"""Observability benchmark: what traces, logs, tenant labels and drift cost while serving.

    python benchmarks/observe.py            # ~4 minutes
    python benchmarks/observe.py --quick    # ~1 minute

Echo at c=64 (``wrk``, authentication on, one worker each), in these configurations, all
running at once and loaded in turn, round after round (rotated), so that each round
compares runs seconds apart; the table shows each one's median requests/s and the median
of its per-round ratio to ``off``:

- ``off``: the defaults (no tracing, plain logs, tenant labels on metrics).
- ``no tenant labels``: ``SCALESERVE_METRICS_TENANTS=0`` (every tenant counted as ``other``).
- ``trace 10%`` / ``trace 100%``: OTLP/HTTP export to a collector on loopback (a sink that
  reads and discards), ``parentbased_traceidratio`` at 0.1 and ``parentbased_always_on``.
- ``json logs``: ``SCALESERVE_LOG_FORMAT=json``, an access line per request.
- ``drift``: the echo model with ``drift = True`` (inputs and outputs summarised).

Targets (issue 12): tracing off within noise of today, 10 % sampling <= 5 % cost, drift
<= 5 % cost. Raw in-process throughput of echo is printed beside, for the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks import raw_throughput, wrk_load  # noqa: E402
from benchmarks.report import table  # noqa: E402
from benchmarks.rounds import rotated_rounds, services  # noqa: E402

ECHO = str(ROOT / "examples" / "echo")
DRIFT_ECHO = str(ROOT / "benchmarks" / "drift_echo_app.py")


class SpanSink:
    """An OTLP/HTTP endpoint that reads each export and answers 200 (a collector's floor)."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.bytes += len(self.rfile.read(int(self.headers.get("content-length", 0))))
                sink.exports += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def configurations(sink: SpanSink) -> list[tuple[str, str, dict[str, str]]]:
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url}
    return [
        ("off", ECHO, {}),
        ("no tenant labels", ECHO, {"SCALESERVE_METRICS_TENANTS": "0"}),
        (
            "trace 10%",
            ECHO,
            {
                **tracing,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
            },
        ),
        ("trace 100%", ECHO, {**tracing, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}),
        ("json logs", ECHO, {"SCALESERVE_LOG_FORMAT": "json"}),
        ("drift", DRIFT_ECHO, {}),
    ]


def measure(rounds: int, duration_s: int, scratch: Path) -> dict[str, list[float]]:
    script = wrk_load.write_script(scratch / "echo.lua", [f"item-{i}" for i in range(200)])
    sink = SpanSink()
    configs = configurations(sink)
    with services(configs) as running:
        rates = rotated_rounds(running, script, rounds, duration_s)
    print(f"  the collector received {sink.exports} exports, {sink.bytes / 1e6:.1f} MB")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration-s", type=int, default=5)
    args = parser.parse_args()
    rounds, duration_s = (1, 3) if args.quick else (args.rounds, args.duration_s)
    raw = raw_throughput.measure(ROOT / "examples" / "echo" / "app.py", 2.0)
    raw_items_per_s = raw.items_per_s[1]
    print(f"echo at c=64, {rounds} round(s) of {duration_s} s")
    with tempfile.TemporaryDirectory(prefix="bench-observe-") as scratch:
        rates = measure(rounds, duration_s, Path(scratch))
    rows = []
    for label, values in rates.items():
        ratio = statistics.median(r / o for r, o in zip(values, rates["off"], strict=True))
        median = statistics.median(values)
        rows.append(
            [
                label,
                f"{median:,.0f}",
                f"{ratio:.3f}",
                f"{(1 - ratio) * 100:+.1f} %",
                f"{median / raw_items_per_s:.4f}",
            ]
        )
    headers = ["configuration", "req/s", "x off", "cost", "x raw (batch 1)"]
    print()
    print(table(headers, rows))
    print(f"\nraw in-process echo, batch 1: {raw_items_per_s:,.0f} items/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
