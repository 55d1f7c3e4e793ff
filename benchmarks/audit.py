"""Audit log benchmark: what recording every prediction costs while serving.

    python benchmarks/audit.py            # ~2 minutes
    python benchmarks/audit.py --quick    # ~40 s

Echo at c=64 (``wrk``, authentication on, one worker each) with the audit log off, and
with every request recorded (inputs and outputs in full) on SQLite (the embedded default)
and on PostgreSQL (127.0.0.1:5432, database ``test``, a schema of its own), all running at
once and loaded in turn, round after round (rotated); then how many records each store
holds against how many requests were answered (dropped ones are counted, never waited
for). Target (issue 14): 100 % sampling costs <= 10 % of req/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks import raw_throughput, wrk_load  # noqa: E402
from benchmarks.report import table  # noqa: E402
from benchmarks.rounds import rotated_rounds, services  # noqa: E402

from scaleserve.testing import Service  # noqa: E402

ECHO = str(ROOT / "examples" / "echo")
AUDITED = str(ROOT / "benchmarks" / "audit_echo_app.py")
PG_URL = "postgresql://127.0.0.1:5432/test"


def _records(service: Service) -> int:
    """Records of the audited echo in its store, read through the admin route's pages."""
    total, cursor = 0, None
    with httpx.Client(base_url=service.admin_url, headers=service.admin_headers) as admin:
        while True:
            params = {"model": "echo", "since": "0", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            page = admin.get("/admin/audit", params=params)
            body = page.json()
            total += len(body["records"])
            cursor = body["next"]
            if not cursor:
                return total


def _dropped(service: Service) -> float:
    text = httpx.get(service.base_url + "/metrics", headers=service.headers).text
    name = "scaleserve_audit_records_total"
    lines = [line for line in text.splitlines() if line.startswith(name)]
    return sum(float(line.split()[-1]) for line in lines if 'outcome="dropped"' in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration-s", type=int, default=5)
    args = parser.parse_args()
    rounds, duration_s = (1, 3) if args.quick else (args.rounds, args.duration_s)
    raw = raw_throughput.measure(ROOT / "examples" / "echo" / "app.py", 2.0)
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    pg_env = {"SCALESERVE_AUDIT_URL": PG_URL, "SCALESERVE_AUDIT_SCHEMA": schema}
    configs = [("off", ECHO, {}), ("audit 100% sqlite", AUDITED, {}),
               ("audit 100% postgres", AUDITED, pg_env)]  # fmt: skip
    print(f"echo at c=64, {rounds} round(s) of {duration_s} s")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
            items = [f"item-{i}" for i in range(200)]
            script = wrk_load.write_script(Path(scratch) / "echo.lua", items)
            with services(configs) as running:
                rates = rotated_rounds(running, script, rounds, duration_s)
                stored = {label: (_records(s), _dropped(s)) for label, s in running.items()
                          if label != "off"}  # fmt: skip
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    rows = []
    for label, values in rates.items():
        ratio = statistics.median(r / o for r, o in zip(values, rates["off"], strict=True))
        kept, dropped = stored.get(label, (0, 0))
        rows.append([label, f"{statistics.median(values):,.0f}", f"{ratio:.3f}",
                     f"{(1 - ratio) * 100:+.1f} %", f"{kept:,}" if label != "off" else "",
                     f"{dropped:,.0f}" if label != "off" else ""])  # fmt: skip
    print()
    print(table(["configuration", "req/s", "x off", "cost", "records", "dropped"], rows))
    print(f"\nraw in-process echo, batch 1: {raw.items_per_s[1]:,.0f} items/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
