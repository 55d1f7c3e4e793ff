"""How a batch run reports its progress: a progress bar for people, JSON lines for scripts."""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Protocol

import orjson

from scaleserve.batch.checkpoint import Summary

JSON_EVERY_S = 1.0


class Progress(Protocol):
    def start(self, total_rows: int, done: Summary) -> None:
        """The run begins; ``done`` counts what earlier runs committed."""
        ...

    def advance(self, rows: int, errors: int) -> None: ...

    def finish(self, summary: Summary, extra: dict[str, Any]) -> None: ...


class BarProgress:
    """A rich progress bar on stderr: rows, rows/s, errors and the time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]batch"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("rows · {task.fields[rate]} rows/s · {task.fields[errors]} errors · ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: Any = None
        self._errors = 0
        self._rows = 0
        self._began = time.monotonic()

    def start(self, total_rows: int, done: Summary) -> None:
        self._errors = done.errors
        self._bar.start()
        self._task = self._bar.add_task(
            "batch", total=total_rows, completed=done.rows + done.errors,
            rate="-", errors=done.errors,
        )  # fmt: skip

    def advance(self, rows: int, errors: int) -> None:
        self._rows += rows + errors
        self._errors += errors
        rate = self._rows / max(time.monotonic() - self._began, 1e-9)
        self._bar.update(
            self._task, advance=rows + errors, rate=f"{rate:,.0f}", errors=self._errors
        )

    def finish(self, summary: Summary, extra: dict[str, Any]) -> None:
        self._bar.stop()
        message = f"{summary.rows:,} rows written to {extra['output']}"
        if summary.errors:
            message += f"; {summary.errors:,} failed rows in {extra['errors_file']}"
        print(message, file=sys.stderr)


class JsonProgress:
    """One JSON object per line on stdout, at most every second, and a last one at the end."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._total = 0
        self._rows = 0
        self._errors = 0
        self._new_rows = 0
        self._began = time.monotonic()
        self._last = 0.0

    def start(self, total_rows: int, done: Summary) -> None:
        self._total = total_rows
        self._rows, self._errors = done.rows, done.errors
        self._emit("started")

    def advance(self, rows: int, errors: int) -> None:
        self._rows += rows
        self._errors += errors
        self._new_rows += rows + errors
        if time.monotonic() - self._last >= JSON_EVERY_S:
            self._emit("progress")

    def finish(self, summary: Summary, extra: dict[str, Any]) -> None:
        self._rows, self._errors = summary.rows, summary.errors
        self._emit("finished", **extra)

    def _emit(self, event: str, **extra: Any) -> None:
        self._last = time.monotonic()
        rate = self._new_rows / max(self._last - self._began, 1e-9)
        left = max(self._total - self._rows - self._errors, 0)
        line = {
            "event": event,
            "rows": self._rows,
            "errors": self._errors,
            "total_rows": self._total,
            "rows_per_s": round(rate, 1),
            "eta_s": round(left / rate, 1) if rate > 0 else None,
            **extra,
        }
        self._out.write(orjson.dumps(line).decode() + "\n")
        self._out.flush()
