"""Dask: a dataframe's partitions scored by a scaleserve deployment's workers.

``predict_partitions(frame, "embeddings", "http://scaleserve:8000")`` maps every partition,
on whichever Dask worker holds it, through the deployment's job batch API: the rows are
batched with the deployment's other traffic by its own workers, under the tenant's key and
limits. The result is the frame with an ``output`` column and an ``error`` column (the
reason a row failed, else null); a failing row never fails its partition.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from scaleserve.batch.predictor import RowResult
from scaleserve.batch.remote import ServerPredictor

OUTPUT_COLUMN = "output"
ERROR_COLUMN = "error"
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Deployment:
    """Where a partition's rows go (pickled to each Dask worker)."""

    model: str
    server: str
    api_key: str | None = None
    job_items: int = 32


def predict_partitions(
    frame: Any,
    model: str,
    server: str,
    *,
    column: str | None = None,
    api_key: str | None = None,
    job_items: int = 32,
) -> Any:
    """``frame`` (a ``dask.dataframe.DataFrame``) with each row's output and error added.
    Each row's input is ``column``'s value, or the row's columns as an object."""
    import pandas as pd

    meta = frame._meta.assign(
        **{OUTPUT_COLUMN: pd.Series(dtype=object), ERROR_COLUMN: pd.Series(dtype=object)}
    )
    deployment = Deployment(model, server, api_key, job_items)
    return frame.map_partitions(score_partition, deployment, column, meta=meta)


def score_partition(part: Any, deployment: Deployment, column: str | None) -> Any:
    """One pandas partition with its outputs and errors (runs on a Dask worker)."""
    items = part[column].tolist() if column is not None else part.to_dict(orient="records")
    results = asyncio.run(_predict(items, deployment)) if items else []
    return part.assign(
        **{
            OUTPUT_COLUMN: [result.output for result in results],
            ERROR_COLUMN: [result.error for result in results],
        }
    )


async def _predict(items: list[Any], deployment: Deployment) -> list[RowResult]:
    import httpx

    key = deployment.api_key
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(
        base_url=deployment.server.rstrip("/"), headers=headers, timeout=TIMEOUT_S
    ) as client:
        predictor = ServerPredictor(client, deployment.model, deployment.job_items)
        return await predictor.predict(items)
