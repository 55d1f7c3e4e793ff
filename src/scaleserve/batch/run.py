"""One batch run: read chunks, predict them, commit them, join them.

Chunks are predicted a few at a time (``Predictor.chunks_in_flight``), so reading and
writing overlap the model's work, and memory holds only those chunks whatever the file's
size. A chunk committed by an earlier run of the same command is read past, not predicted
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from scaleserve.background import stop_tasks
from scaleserve.batch.checkpoint import RunDir, Summary
from scaleserve.batch.files import Chunk, InputFile, file_identity, read_chunks
from scaleserve.batch.items import ItemColumns
from scaleserve.batch.predictor import Predictor, RowResult
from scaleserve.batch.progress import Progress

_T = TypeVar("_T")
ROW_COLUMN = "row"
OUTPUT_COLUMN = "output"
ERROR_FIELD = "error"


@dataclass(frozen=True)
class BatchPlan:
    source: InputFile
    output: Path
    errors_file: Path
    model: str
    """The model and its version, as ``name`` or ``name@version``: a resumed run must match."""
    items: ItemColumns
    keys: tuple[str, ...]
    """Input columns copied beside each output, so it can be joined back."""
    chunk_rows: int

    def manifest(self) -> dict[str, Any]:
        return {
            "input": file_identity(self.source.path),
            "model": self.model,
            "items": asdict(self.items),
            "keys": list(self.keys),
            "chunk_rows": self.chunk_rows,
        }


async def run_batch(
    plan: BatchPlan, predictor: Predictor, progress: Progress, *, restart: bool = False
) -> Summary:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-files") as files:
        return await _run(plan, predictor, progress, restart, _InThread(files))


class _InThread:
    """File work (reading, committing, joining) off the event loop, on one thread: a pool's
    several threads would each grow a malloc arena of their own, and memory with them."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    async def __call__(self, work: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)


async def _run(
    plan: BatchPlan, predictor: Predictor, progress: Progress, restart: bool, in_thread: _InThread
) -> Summary:
    run = RunDir(plan.output)
    done = run.begin(plan.manifest(), restart)
    progress.start(plan.source.rows, run.committed_counts(done))
    columns = list(dict.fromkeys([*plan.items.columns, *plan.keys]))
    chunks = read_chunks(plan.source, columns, plan.chunk_rows)
    slots = asyncio.Semaphore(predictor.chunks_in_flight)
    running: set[asyncio.Task[None]] = set()
    count = 0
    try:
        while (chunk := await in_thread(_next, chunks)) is not None:
            count += 1
            if chunk.index in done:
                continue
            await slots.acquire()
            task = asyncio.create_task(
                _predict_chunk(plan, predictor, run, progress, chunk, in_thread)
            )
            task.add_done_callback(lambda _: slots.release())
            running.add(task)
            running = _raise_failures(running)
        await asyncio.gather(*running)
    finally:
        await stop_tasks(running)
    return await in_thread(run.finish, count, plan.errors_file)


def _next(chunks: Iterator[Chunk]) -> Chunk | None:
    return next(chunks, None)


def _raise_failures(running: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
    """The tasks still running; the first failure of a finished one is raised."""
    for task in running:
        if task.done() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return {task for task in running if not task.done()}


async def _predict_chunk(  # noqa: PLR0917 - the run's parts, passed down once
    plan: BatchPlan,
    predictor: Predictor,
    run: RunDir,
    progress: Progress,
    chunk: Chunk,
    in_thread: _InThread,
) -> None:
    items = [plan.items.item(row) for row in chunk.rows]
    results = await predictor.predict(items, f"{run.key}-{chunk.index}")
    table, errors = _chunk_tables(plan, chunk, results)
    await in_thread(run.commit, chunk.index, table, errors)
    progress.advance(len(results) - len(errors), len(errors))


def _chunk_tables(
    plan: BatchPlan, chunk: Chunk, results: list[RowResult]
) -> tuple[Any, list[dict[str, Any]]]:
    """The chunk's outputs as an Arrow table, and its failed rows."""
    import pyarrow as pa  # type: ignore[import-untyped]

    columns: dict[str, list[Any]] = {ROW_COLUMN: [], **{key: [] for key in plan.keys}}
    columns[OUTPUT_COLUMN] = []
    errors: list[dict[str, Any]] = []
    for offset, (row, result) in enumerate(zip(chunk.rows, results, strict=True)):
        number = chunk.first_row + offset
        if result.error is not None:
            errors.append({ROW_COLUMN: number, **{k: row[k] for k in plan.keys},
                           ERROR_FIELD: result.error})  # fmt: skip
            continue
        columns[ROW_COLUMN].append(number)
        for key in plan.keys:
            columns[key].append(row[key])
        columns[OUTPUT_COLUMN].append(result.output)
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    return table.set_column(0, ROW_COLUMN, pa.array(columns[ROW_COLUMN], pa.int64())), errors
