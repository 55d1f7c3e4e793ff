"""Log setup shared by the gateway and the workers: plain lines, or JSON lines with
``SCALESERVE_LOG_FORMAT=json``.

A JSON line holds the time, level, logger and message, the process's own fields (a
worker's model and version), the request's (request id, tenant, model, version; see
``scaleserve.observe.log_context``), and the trace and span ids when tracing is on. Nothing
scaleserve logs holds an API key or a request's payload; the JSON formatter adds only those
fields, never a record's arbitrary extras.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

from scaleserve.observe import log_context, tracing

LOG_LEVEL_ENV = "SCALESERVE_LOG_LEVEL"
LOG_FORMAT_ENV = "SCALESERVE_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def log_format() -> str:
    """``json`` or ``text`` (the default), from the environment."""
    return "json" if os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json" else "text"


def configure_logging(level: str | None = None) -> None:
    """One line per record on stderr: text with the process id, or JSON."""
    level = (level or os.environ.get(LOG_LEVEL_ENV) or "INFO").upper()
    if log_format() != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring for its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            **log_context.process_fields(),
        }
        request = log_context.current()
        if request is not None:
            line.update(request.fields())
        fields = getattr(record, log_context.FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            line.update(fields)
        line.update(_trace_ids())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def _trace_ids() -> dict[str, str]:
    if not tracing.active():
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
