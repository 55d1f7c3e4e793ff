"""Log setup shared by the gateway and the workers."""

from __future__ import annotations

import logging
import os

LOG_LEVEL_ENV = "SCALESERVE_LOG_LEVEL"


def configure_logging(level: str | None = None) -> None:
    """One line per record on stderr, with the process id so worker logs can be told apart."""
    level = (level or os.environ.get(LOG_LEVEL_ENV) or "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
