"""A batch run from start to summary: lock the output folder, clear what a killed run
left, skip what the journal proves finished, run the rest on an engine, journal each
output as it lands, and sum up."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from edgezoo import __version__
from edgezoo.errors import BadInputError, EdgezooError, OutputWriteError
from edgezoo.files import folder_lock, remove_path
from edgezoo.runtimes.batch.engines import run_engine
from edgezoo.runtimes.batch.journal import Journal, fingerprint
from edgezoo.runtimes.batch.worker import BatchItem, SessionSpec, one_line

LOCK_FILE = ".edgezoo-batch.lock"


@dataclass
class Failure:
    input: str
    reason: str
    bad_input: bool


@dataclass
class BatchSummary:
    """What a batch did: counts, failures with their reasons, and its throughput."""

    images: int
    done: int
    skipped: int
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "local"
    workers: int = 1
    option: str = ""
    leftovers_removed: int = 0

    @property
    def throughput(self) -> float:
        """Images made per second of the run (skipped ones not counted)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when all went well, 2 when every failure was bad input, else 1."""
        if not self.failures:
            return 0
        return 2 if all(f.bad_input for f in self.failures) else 1

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "done": self.done, "skipped": self.skipped, "failed": len(self.failures),
                "failures": [vars(f) for f in self.failures], "seconds": round(self.seconds, 3),
                "images_per_s": round(self.throughput, 3), "engine": self.engine, "workers": self.workers,
                "option": self.option}


def options_fingerprint(spec: SessionSpec, artifact_sha256: str) -> str:
    """The fingerprint of what decides an output's content: the artifact (by sha256),
    its backend and device kind, the tiling overlap, the request's parameters (an
    instruction: another one remakes every output) and edgezoo's version."""
    request = {k: v for k, v in spec.request.items() if v is not None}
    return fingerprint({"artifact": spec.artifact, "artifact_sha256": artifact_sha256, "backend": spec.backend,
                        "kind": spec.kind, "tile_overlap": spec.tile_overlap, "edgezoo": __version__,
                        **({"request": request} if request else {})})


def remove_leftovers(out_dir: Path) -> int:
    """Remove the temporaries of writes a killed run left (``atomic_path``'s ``.partial``
    folders), anywhere under ``out_dir``; call while holding its batch lock."""
    left = [p for p in out_dir.rglob(".*.partial") if p.is_dir()]
    for path in left:
        remove_path(path)
    return len(left)


def run_batch(
    items: list[BatchItem],
    spec: SessionSpec,
    out_dir: str | os.PathLike,
    artifact_sha256: str,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Run ``items`` (inputs to outputs under ``out_dir``) with the session ``spec`` pins.

    Parameters
    ----------
    items : the work; outputs must lie under ``out_dir``.
    spec : the pinned plan every worker loads.
    out_dir : the output folder; it holds the journal and the batch lock.
    artifact_sha256 : the pinned artifact's sha256 (part of each output's fingerprint).
    engine : ``local`` (process pool) or ``ray`` (Ray Data actors).
    workers : processes or actors, each with one session.
    address : a Ray cluster's address (``ray`` only; default: a local Ray).
    progress : called with each result (skipped ones with ``skipped=True``).

    Returns
    -------
    BatchSummary. Raises :class:`BadInputError` if another batch holds ``out_dir``.
    """
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _only_batch_in(out):
        left = remove_leftovers(out)
        journal = Journal(out)
        made_with = options_fingerprint(spec, artifact_sha256)
        spec = dataclasses.replace(spec, out_dir=str(out.resolve()), made_with=made_with)
        todo: list[BatchItem] = []
        skipped = 0
        for item in items:
            if journal.is_done(item.input, item.output, made_with):
                skipped += 1
                if progress:
                    progress({"index": item.index, "input": item.input, "output": item.output, "ok": True,
                              "skipped": True})
            else:
                todo.append(item)
        summary = BatchSummary(images=len(items), done=0, skipped=skipped, engine=engine, workers=workers,
                               option=spec.label, leftovers_removed=left)
        started = time.perf_counter()
        try:
            if todo:
                for result in run_engine(engine, todo, spec, min(workers, len(todo)), address):
                    if result["ok"]:
                        try:
                            journal.record(result["input"], result["output"], result["input_sha256"],
                                           result["output_sha256"], made_with)
                        except OSError as exc:
                            raise OutputWriteError(
                                f"cannot write the batch journal in {out}: {exc.strerror or one_line(exc)}; "
                                "free some space and rerun to resume") from None
                        summary.done += 1
                    else:
                        summary.failures.append(Failure(result["input"], result["error"], bool(result["bad_input"])))
                    if progress:
                        progress({**result, "skipped": False})
        except EdgezooError:
            raise
        except Exception as exc:  # an engine's own failure (Ray, the pool): one line, the journal kept
            raise EdgezooError(f"the {engine} engine failed: {one_line(exc)}; rerun to resume") from None
        finally:
            summary.seconds = time.perf_counter() - started
            with contextlib.suppress(OSError):  # the appended journal stays valid; compaction can wait
                journal.compact()
        summary.failures.sort(key=lambda f: f.input)
        return summary



@contextlib.contextmanager
def _only_batch_in(out: Path) -> Iterator[None]:
    """The output folder's batch lock, taken without waiting: two batches writing one
    folder would race on its journal."""
    try:
        with folder_lock(out, True, LOCK_FILE, wait=False):
            yield
    except BlockingIOError:
        raise BadInputError(f"another batch is writing into {out}; wait for it, or pass another -o") from None
