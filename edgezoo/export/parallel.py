"""Formats exported side by side, one worker process per format at a time.

A format's fp16 and int8 artifacts are made from its own fp32 artifact only, so the
formats of one export are independent jobs. Each worker rebuilds the reference from
the registry and the weights this export saved (checked by their sha256), builds,
gates and measures its format's artifacts exactly as one process would, and moves
each passed artifact into the folder; the parent process is the only writer of
``manifest.yaml``, adding each artifact as its worker reports it. Progress comes back
over a pipe while the workers run. Workers are fresh interpreters
(``python -m edgezoo.export.parallel``), neither forked (torch, OpenMP and the
runtimes' thread pools do not survive a fork) nor multiprocessing-spawned (which
re-imports the caller's script, and runs it again where it has no main guard).
"""

from __future__ import annotations

import os
import pickle
import queue as queue_module
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

from edgezoo import errors
from edgezoo.errors import EdgezooError, ExportError


def _send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _format_worker(settings: Any, jobs: Sequence[tuple[int, Any]], total: int, out: str, stage: str,
                   send: Callable[[Any], None]) -> None:
    """Build ``jobs`` (one format's) in this process, sending every event and, after
    each job, this process's stage times so far; the last message is ``finished``."""
    from edgezoo.export import timing

    fmt = jobs[0][1].format
    timing.reset()
    try:
        from edgezoo.export.folder import MANIFEST_FILE, WEIGHTS_FILE
        from edgezoo.export.pipeline import _progress_for, build_reference
        from edgezoo.manifests.schema import load_manifest
        from edgezoo.zoo import get_entry
        from edgezoo.zoo.weights import load_weights

        entry = get_entry(settings.name)
        model = build_reference(settings.name, settings.pretrained).eval()
        load_weights(model, Path(out) / WEIGHTS_FILE, sha256=settings.weights_sha)
        manifest = load_manifest(Path(out) / MANIFEST_FILE)  # earlier artifacts an fp32 source may come from
        work = Path(stage) / fmt
        work.mkdir(parents=True, exist_ok=True)
        run = settings.run(entry, model, Path(out), work)

        def emit(event: Any) -> None:
            send(("event", event.kind, event.index, event.message))

        for index, job in jobs:
            send(("event", "start", index, ""))
            started = time.perf_counter()
            try:
                artifact = run.build(job, manifest, _progress_for(emit, index, total, job))
            except EdgezooError as exc:
                send(("outcome", index, (type(exc).__name__, str(exc)), time.perf_counter() - started))
                continue
            send(("outcome", index, None if artifact is None else artifact.model_dump(mode="json"),
                  time.perf_counter() - started))
            send(("stages", fmt, timing.stage_times()))  # so far: an interrupted export still knows
    except BaseException as exc:  # a crash fails this format's remaining jobs, not the export
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
        send(("crashed", fmt, f"{exc.__class__.__name__}: {first}", traceback.format_exc()[-2000:]))
    finally:
        send(("stages", fmt, timing.stage_times()))
        send(("finished", fmt, timing.stage_times()))


def _exit_with_parent() -> None:
    """Stop this worker when the export that started it is gone (killed outright, so
    that its own clean-up never ran): an orphan would go on writing into the folder."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def worker_main() -> int:
    """``python -m edgezoo.export.parallel FD``: read one format's work from stdin and
    report on file descriptor FD (stdout and stderr stay free for converter chatter)."""
    _exit_with_parent()
    with os.fdopen(int(sys.argv[1]), "wb") as channel:
        settings, jobs, total, out, stage = _receive(sys.stdin.buffer)
        _format_worker(settings, jobs, total, out, stage, lambda message: _send(channel, message))
    return 0


def _spawn(group: list[tuple[int, Any]], payload: tuple, inbox: "queue_module.Queue[Any]",
           threads: int) -> subprocess.Popen:
    """Start a worker for one format, its runtimes held to ``threads``; a thread
    forwards its messages to ``inbox``."""
    from edgezoo.export.timing import THREADS_ENV

    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env[THREADS_ENV] = str(threads)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    process = subprocess.Popen(
        [sys.executable, "-m", "edgezoo.export.parallel", str(write_fd)], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_fd,), env=env,
    )
    os.close(write_fd)
    assert process.stdin is not None
    _send(process.stdin, payload)
    process.stdin.close()
    fmt = group[0][1].format

    def forward() -> None:
        with os.fdopen(read_fd, "rb") as channel:
            while True:
                try:
                    inbox.put(_receive(channel))
                except (EOFError, pickle.UnpicklingError, struct.error):
                    break
        process.wait()
        inbox.put(("exited", fmt, process.returncode))

    threading.Thread(target=forward, daemon=True).start()
    return process


def run_in_workers(
    settings: Any, groups: list[list[tuple[int, Any]]], total: int, out: Path, stage: Path, workers: int,
    emit: Callable[[Any], None], record: Callable[[int, Any, Any, float], None],
) -> None:
    """Run each format's jobs (``groups``) in its own process, at most ``workers`` at a
    time; ``emit`` receives progress events and ``record(index, job, outcome, seconds)``
    each finished job (an Artifact, None for an fp32 source not kept, or the EdgezooError)."""
    from edgezoo.export import timing
    from edgezoo.export.pipeline import ExportEvent
    from edgezoo.manifests.schema import Artifact

    by_index = {index: job for group in groups for index, job in group}
    threads = max(1, (os.cpu_count() or 1) // workers)  # the cores shared out, not each runtime taking them all
    done: set[int] = set()
    crashes: dict[str, str] = {}
    inbox: "queue_module.Queue[Any]" = queue_module.Queue()
    stages: dict[str, dict[str, Any]] = {}
    waiting = list(groups)
    running: dict[str, subprocess.Popen] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                group = waiting.pop(0)
                running[group[0][1].format] = _spawn(group, (settings, group, total, str(out), str(stage)), inbox,
                                                     threads)
            message = inbox.get()
            kind = message[0]
            if kind == "event":
                _, event_kind, index, text = message
                emit(ExportEvent(event_kind, index, total, by_index[index], message=text))
            elif kind == "outcome":
                _, index, payload, seconds = message
                done.add(index)
                if isinstance(payload, tuple):
                    cls = getattr(errors, payload[0], None)
                    outcome: Any = (cls(payload[1]) if isinstance(cls, type) and issubclass(cls, EdgezooError)
                                    else ExportError(payload[1]))
                else:
                    outcome = None if payload is None else Artifact.model_validate(payload)
                record(index, by_index[index], outcome, seconds)
            elif kind == "crashed":
                crashes[message[1]] = message[2]
            elif kind == "stages":
                stages[message[1]] = message[2]
            elif kind == "exited":
                running.pop(message[1], None)
                if message[2]:
                    crashes.setdefault(message[1], f"the worker process exited with status {message[2]}")
    finally:
        for process in running.values():  # Ctrl-C, or an error here: stop the workers too
            process.kill()
        for times in stages.values():  # the workers' stage times, as of their last report
            timing.merge(times)
    for index, job in sorted(by_index.items()):
        if index not in done:
            why = crashes.get(job.format, "its worker stopped before reaching it")
            record(index, job, ExportError(f"{job.label}: not built: {why}"), 0.0)


if __name__ == "__main__":
    sys.exit(worker_main())
