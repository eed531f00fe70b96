"""Where an export's time goes: wall-clock and CPU seconds per stage (conversion per
format, calibration, sensitivity search, task quality, parity, ...), for
``benchmarks/bench_export_time.py``.

Stages nest; each second is booked to the innermost stage only (a parity check inside
an int8 attempt counts as parity, not as quantization), so the stages add up to the
time spent inside any of them. CPU seconds are the process's (every thread, the
runtimes' pools included): on a shared host, where wall time mostly measures the
other processes, they say what the work itself costs. Timing is always on: it costs
four clock reads per stage.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Iterator

_local = threading.local()
_totals: dict[str, float] = {}
_cpu: dict[str, float] = {}
_counts: dict[str, int] = {}
_lock = threading.Lock()


def _stack() -> list[list]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Book the block's wall-clock and CPU time (less that of stages nested in it) to ``name``."""
    stack = _stack()
    now, cpu = time.perf_counter(), time.process_time()
    if stack:  # pause the enclosing stage
        outer = stack[-1]
        outer[2] += now - outer[1]
        outer[4] += cpu - outer[3]
    frame = [name, now, 0.0, cpu, 0.0]
    stack.append(frame)
    try:
        yield
    finally:
        end, end_cpu = time.perf_counter(), time.process_time()
        stack.pop()
        frame[2] += end - frame[1]
        frame[4] += end_cpu - frame[3]
        with _lock:
            _totals[name] = _totals.get(name, 0.0) + frame[2]
            _cpu[name] = _cpu.get(name, 0.0) + frame[4]
            _counts[name] = _counts.get(name, 0) + 1
        if stack:  # resume the enclosing stage
            stack[-1][1], stack[-1][3] = end, end_cpu


def stage_times() -> dict[str, dict[str, float]]:
    """``{stage: {"seconds": wall, "cpu_seconds": cpu, "count": n}}`` booked in this
    process since the last reset."""
    with _lock:
        return {name: {"seconds": round(_totals[name], 3), "cpu_seconds": round(_cpu.get(name, 0.0), 3),
                       "count": _counts[name]} for name in sorted(_totals)}


def merge(times: dict[str, dict[str, float]]) -> None:
    """Add stage times measured in another process (a format exported in a worker)."""
    with _lock:
        for name, entry in times.items():
            _totals[name] = _totals.get(name, 0.0) + float(entry["seconds"])
            _cpu[name] = _cpu.get(name, 0.0) + float(entry.get("cpu_seconds", 0.0))
            _counts[name] = _counts.get(name, 0) + int(entry["count"])


def reset() -> None:
    """Forget every booked stage."""
    with _lock:
        _totals.clear()
        _cpu.clear()
        _counts.clear()


THREADS_ENV = "EDGEZOO_EXPORT_THREADS"  # set by the export for its worker processes


def runtime_threads() -> int | None:
    """Threads a runtime may use while the export gates and measures an artifact: the
    share of the cores the export gave this worker process (formats exported side by
    side each get theirs, rather than every runtime spinning a pool the size of the
    machine), or None (the runtime's default) outside a worker."""
    value = os.environ.get(THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
