"""Configurations compared in rotated rounds: each round loads every running service in
turn (a different one first each round), so that each round compares runs seconds apart
(this machine's speed drifts by up to 2x over minutes)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from benchmarks import wrk_load

from scaleserve.testing import Service, running_service


@contextlib.contextmanager
def services(configs: list[tuple[str, str, dict[str, str]]]) -> Iterator[dict[str, Service]]:
    """A running service (one worker, with keys) per ``(label, target, env)``."""
    with contextlib.ExitStack() as stack:
        yield {
            label: stack.enter_context(
                running_service(target, auth=True, workers=1, env=env, ready_timeout_s=300)
            )
            for label, target, env in configs
        }


def rotated_rounds(
    running: dict[str, Service], script: Path, rounds: int, duration_s: int, model: str = "echo"
) -> dict[str, list[float]]:
    """Requests/s of each service at c=64, one value per round."""
    rates: dict[str, list[float]] = {label: [] for label in running}
    labels = list(running)
    for round_ in range(rounds):
        order = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]
        for label in order:
            served = running[label]
            url = f"{served.base_url}/v1/models/{model}/predict"
            os.environ["BENCH_AUTHORIZATION"] = f"Bearer {served.api_key}"  # wrk's script
            wrk_load.run(url, script, 64, 1)  # warm-up, discarded
            result = wrk_load.run(url, script, 64, duration_s)
            if result.failures:
                raise RuntimeError(f"{label}: {result.failures} requests failed")
            rates[label].append(result.requests_per_s)
            print(f"  round {round_ + 1} {label}: {result.requests_per_s:,.0f} req/s")
    return rates
