"""Plain-text report of a benchmark run: aligned tables, ratios, and targets with PASS/MISS."""

from __future__ import annotations

from collections.abc import Sequence

from raw_throughput import BATCH_SIZES
from results import BASELINE, CONCURRENCIES, Results, ServedRun

Row = Sequence[str]


def render(results: Results) -> str:
    """The whole report, ready to print."""
    sections = [
        _header(results),
        _raw(results),
        _served(results),
        _cpu(results),
        _memory(results),
        _ratios(results),
        _targets(results),
    ]
    return "\n\n".join(s for s in sections if s)


def table(headers: Row, rows: Sequence[Row]) -> str:
    """Columns padded to their widest cell: the first left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: Row) -> str:
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *rest]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _header(results: Results) -> str:
    m, s = results.machine, results.settings
    threads = m["torch_threads"]
    torch = f"torch {m['torch']}" + (f" ({threads} threads in the raw run)" if threads else "")
    return "\n".join(
        [
            f"scaleserve serving benchmark  {results.started_at}",
            f"machine   {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
            f"{torch}, {m['wrk']}",
            f"load avg  {m['loadavg_start']} at start, {m['loadavg_end']} at end "
            "(other work on the machine skews every number)",
            f"settings  served: {s['warmup_s']} s warm-up + {s['duration_s']} s per configuration, "
            f"wrk -t1, one item per request; raw: {s['raw_duration_s']} s per batch size",
        ]
    )


def _raw(results: Results) -> str:
    if not results.raw:
        return ""
    headers = ["model", "batch", "items/s", "CPU us/item", "other work"]
    rows = [
        [
            name,
            str(b),
            _rate(raw.items_per_s[b]),
            _number(raw.cpu_us_per_item[b], ".1f" if raw.cpu_us_per_item[b] < 100 else ".0f"),
            f"{raw.others_cores[b]:.2f} cores",
        ]
        for name, raw in results.raw.items()
        for b in BATCH_SIZES
    ]
    title = "Raw in-process throughput (predict() called directly, in a process of its own)"
    return title + "\n" + table(headers, _blank_repeats(rows))


def _served(results: Results) -> str:
    if not results.served:
        return ""
    headers = ["server", "conc", "req/s", "p50 ms", "p99 ms", "requests", "errors"]
    rows = [
        [
            label,
            str(c),
            _rate(load.requests_per_s),
            _number(load.p50_ms if load.requests else None, ".2f"),
            _number(load.p99_ms if load.requests else None, ".2f"),
            str(load.requests),
            _errors(load.non_2xx, load.socket_errors),
        ]
        for label, run in _labelled(results)
        for c, load in sorted(run.loads.items())
    ]
    text = "Served over HTTP (wrk -t1, one item per request)\n" + table(
        headers, _blank_repeats(rows)
    )
    if any(not load.requests for run in results.served.values() for load in run.loads.values()):
        text += "\n(-: no request finished within the run; run longer with --duration-s)"
    return text


def _cpu(results: Results) -> str:
    if not results.served:
        return ""
    headers = [
        "server",
        "conc",
        "gateway",
        "workers",
        "wrk",
        "computed",
        "mean batch",
        "in predict",
        "other work",
    ]
    rows = [_cpu_row(label, c, run) for label, run in _labelled(results) for c in sorted(run.cpu)]
    threads = {run.worker_threads for run in results.served.values() if run.worker_threads}
    note = f"; workers had SCALESERVE_CPU_THREADS={'/'.join(sorted(threads))}" if threads else ""
    title = f"Where the time went (CPU us per request in each measured run{note})"
    return title + "\n" + table(headers, _blank_repeats(rows))


def _cpu_row(label: str, concurrency: int, run: ServedRun) -> list[str]:
    cpu, batching = run.cpu[concurrency], run.batching.get(concurrency)
    requests = run.loads[concurrency].requests
    items, mean_batch, busy = (
        (batching.items, batching.mean_batch_size, batching.predict_busy)
        if batching
        else (None, None, None)
    )
    return [
        label,
        str(concurrency),
        _number(cpu.server_us_per_req, ".0f"),
        _number(cpu.workers_us_per_req, ".0f"),
        _number(cpu.wrk_us_per_req, ".0f"),
        "-" if items is None or not requests else f"{items / requests:.0%}",
        _number(mean_batch, ".1f"),
        "-" if busy is None else f"{busy:.0%}",
        f"{cpu.others_cores:.2f} cores",
    ]


def _memory(results: Results) -> str:
    rows = [
        [f"raw {name} (the model alone)", f"{raw.rss_after_load_mb:.0f}", f"{raw.peak_rss_mb:.0f}"]
        for name, raw in results.raw.items()
    ]
    for label, run in _labelled(results):
        server = "uvicorn" if run.system == BASELINE else "gateway"
        rows.append([f"{label} {server}", "", f"{run.server_peak_rss_mb:.0f}"])
        rows += [
            [f"{label} worker {i}", "", f"{mb:.0f}"] for i, mb in enumerate(run.worker_peak_rss_mb)
        ]
    if not rows:
        return ""
    headers = ["process", "after load MB", "peak MB"]
    return "Peak memory (VmHWM; served processes read at the end of their run)\n" + table(
        headers, rows
    )


def _ratios(results: Results) -> str:
    rows = []
    for label, ratio in (
        ("embeddings served / raw batch-32 (items/s)", results.embeddings_ratio),
        ("echo served / FastAPI (req/s)", results.echo_ratio),
    ):
        values = [ratio(c) for c in CONCURRENCIES]
        if any(v is not None for v in values):
            rows.append([label, *("-" if v is None else f"{v:.2f}x" for v in values)])
    if not rows:
        return ""
    text = "Ratios\n" + table(["ratio", *(f"c={c}" for c in CONCURRENCIES)], rows)
    gap = results.echo_p50_gap_ms()
    if gap is not None:
        text += f"\necho p50 - FastAPI p50 at c=1: {gap:+.2f} ms"
    return text


def _targets(results: Results) -> str:
    rows = [[t.name, t.measured, t.goal, "PASS" if t.passed else "MISS"] for t in results.targets()]
    text = "Targets\n" + table(["target", "measured", "goal", "result"], rows)
    if results.failures:
        text += f"\nFAILED REQUESTS: {results.failures} (see the errors column)"
    return text


def _labelled(results: Results) -> list[tuple[str, ServedRun]]:
    return [(run.label, run) for run in results.served.values()]


def _blank_repeats(rows: list[list[str]]) -> list[list[str]]:
    """Leave the first column empty where it repeats the row above."""
    return [
        [*([""] if i and row[0] == rows[i - 1][0] else [row[0]]), *row[1:]]
        for i, row in enumerate(rows)
    ]


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _errors(non_2xx: int, socket_errors: int) -> str:
    if not non_2xx and not socket_errors:
        return "0"
    return f"{non_2xx} non-2xx, {socket_errors} socket"
