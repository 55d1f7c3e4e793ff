"""Registry-served services for the end-to-end tests: versions of the ``Scaler`` fixture
registered straight into a service's data directory, and a steady client load."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scaleserve.registry.registry import Registry
from scaleserve.testing import Service, running_service
from tests.registry.conftest import FIXTURES

SCALER = f"{FIXTURES}/registry_app.py:Scaler"


async def register_scaler(
    registry: Registry, tmp_path: Path, model: str = "scaler", cls: str = SCALER, **config: Any
) -> str:
    """A version of the scaler whose artifact holds ``config``; its version."""
    folder = Path(tempfile.mkdtemp(prefix="weights-", dir=tmp_path))
    (folder / "config.json").write_text(json.dumps(config))
    version = await registry.register(model, model_class=cls, artifact=folder)
    return version.version


@contextlib.contextmanager
def registry_service(data_dir: Path, *models: str, **kwargs: Any) -> Iterator[Service]:
    targets = [f"models:/{m}" for m in models]
    args = ["--data-dir", str(data_dir), *kwargs.pop("args", [])]
    env = {"SCALESERVE_ROLLOUT_TICK_S": "0.05", **kwargs.pop("env", {})}
    with running_service(targets, args=args, env=env, **kwargs) as service:
        yield service


@dataclass
class Answer:
    value: float
    status: int
    version: str | None
    body: dict[str, Any]
    started: float


@dataclass
class Load:
    """Clients sending predict requests one after another until stopped."""

    client: httpx.AsyncClient
    model: str = "scaler"
    clients: int = 4
    headers: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _run(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        n = 0
        while not self._stop.is_set():
            value = float(index * 100_000 + n)
            n += 1
            started = loop.time()
            response = await self.client.post(
                f"/v1/models/{self.model}/predict", json={"inputs": [value]}, headers=self.headers
            )
            self.answers.append(
                Answer(
                    value,
                    response.status_code,
                    response.headers.get("x-model-version"),
                    response.json(),
                    started,
                )
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        tasks = [asyncio.create_task(self._run(i)) for i in range(self.clients)]
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)

    async def until(self, count: int, timeout_s: float = 60) -> None:
        """Wait until ``count`` more answers have come."""
        target = len(self.answers) + count
        async with asyncio.timeout(timeout_s):
            while len(self.answers) < target:  # noqa: ASYNC110 - answers have no event of their own
                await asyncio.sleep(0.01)


async def wait_for_state(
    admin: httpx.AsyncClient, model: str, check: Any, timeout_s: float = 90
) -> dict[str, Any]:
    """Read the model's state on the admin listener until ``check(state)`` holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            state: dict[str, Any] = (await admin.get(f"/admin/models/{model}")).json()
            if check(state):
                return state
            await asyncio.sleep(0.05)
