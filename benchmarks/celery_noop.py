"""The Celery side of the jobs benchmark: one task that does nothing, on the same Redis."""

from __future__ import annotations

import os

from celery import Celery

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/14")

app = Celery("bench", broker=BROKER, backend=BROKER)
app.conf.update(
    task_acks_late=True,  # the durable setting, as scaleserve acks after recording the result
    worker_prefetch_multiplier=4,
    result_expires=600,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(value: object) -> object:
    return value
