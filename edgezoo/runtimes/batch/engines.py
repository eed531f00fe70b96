"""Where the workers run: a local process pool, or actors on Ray Data. Each engine
takes the items and yields one result dict per item (as :meth:`Worker.process` makes
it), in the order they finish."""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
from typing import Any, Iterable, Iterator

from edgezoo.errors import BadInputError
from edgezoo.runtimes.batch.worker import BatchItem, SessionSpec, Worker, one_line

RAY_HINT = "--engine ray needs Ray: pip install 'edgezoo[ray]' (or pip install 'ray[data]')"

_worker: Worker | None = None  # the session of this pool process
_worker_error = ""  # why it has none


def _start_pool_worker(spec: dict[str, Any]) -> None:
    global _worker, _worker_error
    try:
        _worker = Worker(SessionSpec.from_dict(spec))
    except Exception as exc:  # noqa: BLE001 - said once per item, not as a child's traceback
        _worker_error = f"the worker could not load its session: {one_line(exc)}"


def _run_in_pool(item: BatchItem) -> dict[str, Any]:
    if _worker is None:
        return _failed(item, _worker_error)
    return _worker.process(item)


def _failed(item: BatchItem, reason: str) -> dict[str, Any]:
    return {"index": item.index, "input": item.input, "output": item.output, "ok": False, "bad_input": False,
            "error": reason, "ms": 0.0, "input_sha256": "", "output_sha256": ""}


def run_local(items: list[BatchItem], spec: SessionSpec, workers: int) -> Iterator[dict[str, Any]]:
    """A pool of ``workers`` processes (spawned: no backend state is forked), each
    holding one session; at most a few items per worker in flight, so a huge folder
    is not queued all at once."""
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_pool_worker,
                                     initargs=(spec.to_dict(),)) as pool:
        pending: dict[futures.Future, BatchItem] = {}
        queue = iter(items)
        window = 4 * workers
        broken: str | None = None
        while True:
            while broken is None and len(pending) < window:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(_run_in_pool, item)] = item
            if not pending:
                break
            done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    yield future.result()
                except futures.process.BrokenProcessPool as exc:
                    broken = broken or _broken_reason(exc)
                    yield _failed(item, broken)
        for item in queue:  # the pool died: the rest are failures with its reason
            yield _failed(item, broken or "not run")


def _broken_reason(exc: BaseException) -> str:
    return f"a worker process died ({one_line(exc)})"


def load_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`BadInputError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs Ray Data, not only Ray core
    except ImportError:
        raise BadInputError(RAY_HINT) from None
    return ray


class _RayWorker:
    """A Ray Data actor: one session, one item per batch."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.worker = Worker(SessionSpec.from_dict(spec))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results = [self.worker.process(BatchItem(int(i), str(a), str(b)))
                   for i, a, b in zip(batch["index"], batch["input"], batch["output"])]
        return {key: [r[key] for r in results] for key in results[0]} if results else {}


def run_ray(items: list[BatchItem], spec: SessionSpec, workers: int, address: str | None = None,
            cpus_per_worker: float = 1.0) -> Iterator[dict[str, Any]]:
    """The same job on Ray Data: ``workers`` actors (an actor pool) that each hold one
    session, fed one item at a time. Ray starts locally (``ray.init()``) unless it is
    running already or ``address`` names a cluster; inputs and outputs must be on a
    filesystem every node sees."""
    ray = load_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, runtime_env=_runtime_env())
    import logging

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the CLI draws its own progress and summary
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    rows = [{"index": it.index, "input": it.input, "output": it.output} for it in items]
    dataset = ray.data.from_items(rows).map_batches(
        _RayWorker, fn_constructor_kwargs={"spec": spec.to_dict()}, batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus_per_worker,
    )
    for row in dataset.iter_rows():
        yield {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}


def _runtime_env() -> dict[str, Any]:
    """The driver's import path for the workers, so a source checkout (PYTHONPATH) runs too."""
    import os

    path = os.environ.get("PYTHONPATH")
    return {"env_vars": {"PYTHONPATH": path}} if path else {}


def run_engine(engine: str, items: list[BatchItem], spec: SessionSpec, workers: int,
               address: str | None = None) -> Iterable[dict[str, Any]]:
    if engine == "local":
        if address:
            raise BadInputError("--address is for --engine ray; drop it or add --engine ray")
        return run_local(items, spec, workers)
    if engine == "ray":
        return run_ray(items, spec, workers, address)
    raise BadInputError(f"unknown engine '{engine}': use local or ray")
