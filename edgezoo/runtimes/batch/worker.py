"""What one batch worker does: hold one session and turn an input file into an output
file (an image, or a classifier's answer as JSON), reporting a one-line reason on failure."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgezoo.errors import BadInputError, EdgezooError
from edgezoo.files import atomic_write_text, sha256_file


@dataclass(frozen=True)
class BatchItem:
    """One input file and where its output goes (absolute paths, so a Ray worker on
    another node that shares the filesystem finds them)."""

    index: int
    input: str
    output: str


@dataclass(frozen=True)
class SessionSpec:
    """How a worker loads its session: the driver's chosen option, pinned (export dir,
    artifact file, backend, device kind) so every worker runs what the plan chose."""

    export_dir: str
    artifact: str
    backend: str
    kind: str
    precision: str
    label: str  # the plan's option label, checked against each worker's
    threads: int | None = None
    image_size: tuple[int, int] = (256, 256)
    tile_overlap: int | None = None
    max_memory_mb: float | None = None
    # what each request says besides its picture (an instruction-driven restorer's
    # instruction and strength), the same for every picture of the batch
    request: dict[str, Any] = field(default_factory=dict)
    # set by run_batch: where each worker journals the outputs it lands, and their fingerprint
    out_dir: str | None = None
    made_with: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionSpec":
        data = dict(data)
        data["image_size"] = tuple(data.get("image_size") or (256, 256))
        return cls(**data)


def one_line(exc: BaseException) -> str:
    """An exception as one line: edgezoo's own messages as they are, others with their type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EdgezooError):
        return text or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


class Worker:
    """One session, loaded once; :meth:`process` handles one item. Used by the local
    process pool (one per process) and by the Ray actors (one per actor)."""

    def __init__(self, spec: SessionSpec) -> None:
        from edgezoo.runtimes.session import load

        self.spec = spec
        self.session = load(spec.export_dir, backend=spec.backend, artifact=spec.artifact, prefer=(spec.kind,),
                            precision=spec.precision, image_size=spec.image_size, threads=spec.threads,
                            tile_overlap=spec.tile_overlap, max_memory_mb=spec.max_memory_mb)
        if self.session.option.label != spec.label:
            raise EdgezooError(f"a worker loaded {self.session.option.label}, not the planned {spec.label}: "
                               "the export dir changed during the batch; run it again")
        self.returns_image = self.session.spec.program.kind != "single" or self.session.returns_image

    def process(self, item: BatchItem) -> dict[str, Any]:
        """Run ``item``: a result dict with ``ok``, the hashes, the time, or the reason it failed."""
        from edgezoo.imageio import read_image, write_image

        result: dict[str, Any] = {"index": item.index, "input": item.input, "output": item.output, "ok": False,
                                  "bad_input": False, "error": "", "ms": 0.0, "input_sha256": "", "output_sha256": ""}
        try:
            result["input_sha256"] = sha256_file(item.input)
            picture = read_image(item.input, keep_channels=self.returns_image)
            start = time.perf_counter()
            answer = self.session(picture, **self.spec.request)
            result["ms"] = (time.perf_counter() - start) * 1000
            if self.returns_image:
                write_image(item.output, answer)
            else:
                atomic_write_text(item.output, json.dumps(answer, indent=1, sort_keys=True) + "\n")
            result["output_sha256"] = sha256_file(item.output)
            self._journal(result)
            result["ok"] = True
        except BadInputError as exc:
            result.update(bad_input=True, error=one_line(exc))
        except (OSError, SyntaxError) as exc:  # unreadable, or vanished between listing and reading
            result.update(bad_input=isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)),
                          error=f"{item.input}: {one_line(exc)}")
        except Exception as exc:  # noqa: BLE001 - one bad picture must not end the batch; the reason is kept
            result["error"] = f"{item.input}: {one_line(exc)}"
        return result

    def _journal(self, result: dict[str, Any]) -> None:
        """Record a landed output in this worker's own journal file (see ``journal``)."""
        if not self.spec.out_dir:
            return
        from edgezoo.runtimes.batch.journal import WORKER_JOURNALS, append_line, make_record

        out = Path(self.spec.out_dir)
        record = make_record(out, result["input"], result["output"], result["input_sha256"],
                             result["output_sha256"], self.spec.made_with)
        append_line(out / WORKER_JOURNALS / f"{socket.gethostname()}-{os.getpid()}.jsonl", record)
