"""Raw in-process throughput of one model: ``predict`` called directly, no serving at all.

Run as a script, it imports the model class from an example's ``app.py``, calls ``load()``,
then calls ``predict`` on batches of the benchmark corpus for a fixed time per batch size,
and prints one JSON line::

    python benchmarks/raw_throughput.py examples/embeddings/app.py --duration-s 8

The parent benchmark runs it in its own process (``measure``), so the model's memory and
threads never touch the process that drives the load, and its peak RSS (``VmHWM``) is the
model's own in-process footprint. Torch keeps its default thread count (every core).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpus import inputs_for
from procstat import machine_busy_s, peak_rss_mb

BATCH_SIZES = (1, 8, 32)
_THREADS_ENV = "SCALESERVE_CPU_THREADS"  # set by scaleserve for its workers; not wanted here


@dataclass
class RawResult:
    """What one raw run measured; the dicts are keyed by batch size.

    ``cpu_us_per_item`` is this process's CPU time (all threads) per item, comparable to a
    served worker's; ``others_cores`` is the cores other processes kept busy meanwhile.
    """

    model: str
    items_per_s: dict[int, float] = field(default_factory=dict)
    cpu_us_per_item: dict[int, float] = field(default_factory=dict)
    others_cores: dict[int, float] = field(default_factory=dict)
    rss_after_load_mb: float = 0.0
    peak_rss_mb: float = 0.0
    torch_threads: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RawResult:
        by_batch = ("items_per_s", "cpu_us_per_item", "others_cores")
        data = {**data, **{key: {int(k): v for k, v in data[key].items()} for key in by_batch}}
        return cls(**data)


def measure(model_file: Path, duration_s: float, timeout_s: float = 600.0) -> RawResult:
    """Run this script on ``model_file`` in a fresh interpreter and return its result."""
    env = {k: v for k, v in os.environ.items() if k != _THREADS_ENV}
    env.setdefault("HF_HUB_OFFLINE", "1")
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        str(model_file),
        "--duration-s",
        str(duration_s),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"raw run of {model_file} failed ({done.returncode}):\n{done.stderr}")
    return RawResult.from_json(json.loads(done.stdout.strip().splitlines()[-1]))


def load_model(model_file: Path) -> Any:
    """Import ``model_file`` and return a loaded instance of the model class it defines."""
    import scaleserve

    spec = importlib.util.spec_from_file_location(f"bench_{model_file.parent.name}", model_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {model_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, scaleserve.Model)
        and v.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise ValueError(f"{model_file} must define exactly one Model subclass")
    model = classes[0]()
    model.load()
    return model


def measure_batch(
    model: Any,
    items: list[Any],
    batch_size: int,
    duration_s: float,
    result: RawResult,
) -> None:
    """Record ``model.predict``'s speed on batches rotating through ``items`` in ``result``."""
    batches = [
        [items[(start + j) % len(items)] for j in range(batch_size)]
        for start in range(0, len(items), batch_size)
    ]
    for batch in batches:  # every batch once, so no first call lands in the measured time
        model.predict(batch)
    done = 0
    busy_before, cpu_before = machine_busy_s(), time.process_time()
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < duration_s:
        model.predict(batches[done // batch_size % len(batches)])
        done += batch_size
    cpu_s = time.process_time() - cpu_before
    result.items_per_s[batch_size] = done / elapsed
    result.cpu_us_per_item[batch_size] = cpu_s * 1e6 / done
    result.others_cores[batch_size] = max(0.0, machine_busy_s() - busy_before - cpu_s) / elapsed


def run(model_file: Path, duration_s: float) -> RawResult:
    model = load_model(model_file)
    result = RawResult(model=model.name, rss_after_load_mb=peak_rss_mb("self"))
    items = inputs_for(model.name)
    for batch_size in BATCH_SIZES:
        measure_batch(model, items, batch_size, duration_s, result)
    result.peak_rss_mb = peak_rss_mb("self")
    torch = sys.modules.get("torch")
    result.torch_threads = torch.get_num_threads() if torch is not None else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_file", type=Path, help="an example's app.py")
    parser.add_argument("--duration-s", type=float, default=8.0, help="per batch size")
    args = parser.parse_args()
    print(json.dumps(asdict(run(args.model_file, args.duration_s))))


if __name__ == "__main__":
    main()
