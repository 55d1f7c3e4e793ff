"""The baseline scaleserve must beat: echo written by hand as a plain FastAPI endpoint.

Served by the benchmark as ``python -m uvicorn fastapi_baseline:app`` in one process, with
the same uvloop and httptools that the gateway's uvicorn picks.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class Req(BaseModel):
    inputs: list[Any]


class Resp(BaseModel):
    model: str
    version: str
    outputs: list[Any]


app = FastAPI()


@app.post("/predict")
async def predict(req: Req) -> Resp:
    return Resp(model="echo", version="1", outputs=req.inputs)
