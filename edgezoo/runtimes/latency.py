"""Latency tables: p50/p90 and peak memory of each artifact x backend x device of an
export dir on this device profile, written back into its manifest.

Peak memory is the process's resident-set high-water mark during load and runs minus
the resident set just before the load. On Linux the kernel's own high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs``) is exact; elsewhere psutil's RSS
is sampled every 2 ms by a thread (can miss short spikes); without psutil it is not
measured. :func:`peak_method` says which is in use.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgezoo.errors import BadInputError, EdgezooError
from edgezoo.manifests.schema import Latency
from edgezoo.runtimes.backends import get_backend
from edgezoo.runtimes.backends.base import Runner
from edgezoo.runtimes.inventory import Inventory, probe_inventory
from edgezoo.runtimes.planner import is_static, multiple_of
from edgezoo.runtimes.profile import HostRate, device_profile, host_rate
from edgezoo.runtimes.store import ExportDir
from edgezoo.runtimes.tiling import round_up
from edgezoo.tasks.feeds import example_feeds, sizes_from_shape

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field_name: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _can_reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return _status_kb("VmHWM") is not None
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def peak_method() -> str:
    """How peak memory is measured on this host (see the module doc)."""
    if _can_reset_hwm():
        return "rss-hwm: Linux VmHWM (reset via clear_refs) minus RSS before load"
    try:
        import psutil  # noqa: F401

        return "rss-sampled: psutil RSS every 2 ms minus RSS before load"
    except ImportError:
        return "none: peak memory needs Linux or psutil"



class PeakMemory:
    """Context manager: ``.peak_mb`` after the block (None when it cannot be measured)."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._max = 0

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        if peak_method().startswith("rss-hwm"):
            _CLEAR_REFS.write_text("5")
            self._base = _status_kb("VmRSS") or 0
        elif peak_method().startswith("rss-sampled"):
            import psutil

            proc = psutil.Process()
            self._base = self._max = proc.memory_info().rss // 1024

            def sample() -> None:
                while not self._stop.wait(0.002):
                    self._max = max(self._max, proc.memory_info().rss // 1024)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if peak_method().startswith("rss-hwm"):
            peak = _status_kb("VmHWM")
            self.peak_mb = None if peak is None else max(0, peak - self._base) / 1024
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(0, self._max - self._base) / 1024


def time_runs(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def time_round_robin(fns: dict[str, Callable[[], Any]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds of each callable's ``runs`` calls, made in rounds whose order rotates
    (a b c, b c a, ...), so drift and background load hit every one alike: for ratios."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs if names else 0):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


@dataclass
class LatencyRow:
    model: str
    artifact: str
    file: str
    format: str
    precision: str
    backend: str
    device: str
    kind: str
    input_shape: list[int] = field(default_factory=list)
    p50_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    min_ms: float | None = None
    peak_mb: float | None = None
    runs: int = 0
    warmup: int = 0
    load_s: float | None = None
    runtime: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    host_load_share: float | None = None  # matmul rate after the runs / this profile's best
    loaded: bool = False  # still busy after every retry: the figure reads high
    tries: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("p50_ms", "p90_ms", "mean_ms", "min_ms", "peak_mb", "load_s"):
            if data[key] is not None:
                data[key] = round(data[key], 3)
        return data


def bench_input_shape(export: ExportDir, artifact: Any, size: int) -> list[int]:
    """The shape an artifact is timed at: its own where every dim is a number (a static
    artifact, or a dynamic group's fixed-shape text encoder), else ``size`` x ``size``
    rounded to the model's multiple."""
    if is_static(artifact) or all(isinstance(d, int) for d in artifact.input_shape):
        return [int(d) for d in artifact.input_shape]
    side = round_up(size, multiple_of(export.manifest))
    channels = next((d for d in artifact.input_shape[1:2] if isinstance(d, int)), 3)
    return [1, channels, side, side]


def _cast(feeds: dict[str, np.ndarray], runner: Runner) -> dict[str, np.ndarray]:
    """``feeds`` in the dtypes the loaded artifact takes (an fp16 artifact takes fp16)."""
    dtypes = {i.name: i.dtype for i in runner.inputs}
    if len(feeds) == len(runner.inputs) == 1:  # converters may rename a single input
        dtypes = {next(iter(feeds)): runner.inputs[0].dtype}
    return {k: v.astype(np.dtype(dtypes.get(k, v.dtype)), copy=False) for k, v in feeds.items()}


def bench_export(
    export: ExportDir,
    backend: str | None = None,
    device: str | None = None,
    runs: int = 20,
    warmup: int = 3,
    size: int = 256,
    inventory: Inventory | None = None,
    threads: int | None = None,
    save: bool = True,
    progress: Callable[[str], None] | None = None,
    load_retries: int = 1,
    load_check: Callable[[], HostRate] | None = None,
) -> list[LatencyRow]:
    """Measure every artifact of ``export`` on every usable backend x device (or the
    ones named), on one fixed random input per artifact (its static shape, or
    ``size`` x ``size`` rounded to the model's multiple for dynamic artifacts).
    With ``save``, the results replace this profile's entries in the manifest.

    After each measurement the host's matmul rate is timed again (``load_check``,
    default :func:`edgezoo.runtimes.profile.host_rate` fresh): below half the best this
    profile has seen, other work was sharing the CPU, and the measurement is taken
    again, up to ``load_retries`` times, keeping the least disturbed; a row still
    measured under load says so (``loaded``)."""
    if runs < 1 or warmup < 0:
        raise BadInputError(f"--runs must be >= 1 and --warmup >= 0 (got {runs}, {warmup})")
    inventory = inventory if inventory is not None else probe_inventory()
    load_check = load_check or (lambda: host_rate(fresh=True))
    rows: list[LatencyRow] = []
    rng = np.random.default_rng(0)
    spec = export.manifest.model_spec()
    for artifact in export.manifest.artifacts:
        targets = [t for t in inventory.for_format(artifact.format)
                   if (backend is None or t.backend == backend)
                   and (device is None or device in (t.device.name, t.kind))]
        tensors = spec.component(artifact.component).inputs  # the artifact's own component's
        shape = bench_input_shape(export, artifact, size)
        # every input the contract names, sized from the first (a x4 step graph's condition is a quarter of it)
        feeds = example_feeds(tensors, sizes_from_shape(tensors[0], shape), rng)
        for t in targets:
            row = LatencyRow(export.name, artifact.key, artifact.file, artifact.format, artifact.precision,
                             t.backend, t.device.name, t.kind, shape, runs=runs, warmup=warmup)
            if progress:
                progress(f"{artifact.key} on {t.key}")
            runner: Runner | None = None
            try:
                for attempt in range(1 + max(0, load_retries)):
                    with PeakMemory() as memory:
                        start = time.perf_counter()
                        runner = get_backend(t.backend).load(export.path / artifact.file, t.device, threads,
                                                             precision=artifact.precision)
                        load_s = time.perf_counter() - start
                        feed = _cast(feeds, runner)
                        times = time_runs(lambda: runner.run(feed), runs, warmup)
                    p50 = float(np.percentile(times, 50))
                    if row.p50_ms is None or p50 < row.p50_ms:  # of several tries, the least disturbed
                        row.load_s, row.peak_mb = load_s, memory.peak_mb
                        row.p50_ms, row.p90_ms = p50, float(np.percentile(times, 90))
                        row.mean_ms, row.min_ms = float(np.mean(times)), float(np.min(times))
                        row.runtime = runner.describe()
                    busy = load_check()
                    row.host_load_share = round(busy.share, 3)
                    row.tries = attempt + 1
                    row.loaded = busy.loaded
                    if not busy.loaded:
                        break
                    if progress and attempt == load_retries:
                        progress(f"  warning: measured under load (matmul at {busy.share:.0%} of this profile's "
                                 "best after the runs); the figure reads high: bench again on a quieter host")
                    if progress and attempt < load_retries:
                        progress(f"  the host was busy (matmul at {busy.share:.0%} of this profile's best): "
                                 "measuring again")
                    del runner
                    runner = None
            except EdgezooError as exc:
                row.error = str(exc)
            finally:
                del runner
            rows.append(row)
    if not rows:
        raise BadInputError(
            f"nothing to measure in {export.path}: no artifact there has a usable backend"
            + (f" matching backend={backend}" if backend else "") + (f" device={device}" if device else "")
        )
    if save:
        record_latency(export, rows)
    return rows


def record_latency(export: ExportDir, rows: list[LatencyRow]) -> Path:
    """Write rows into ``export``'s manifest (replacing entries of the same profile,
    backend, device and input shape) and rewrite it atomically."""
    profile = device_profile().id
    by_key = {a.key: a for a in export.manifest.artifacts}
    for row in rows:
        artifact = by_key.get(row.artifact)
        if artifact is None or row.error or row.p50_ms is None:
            continue
        entry = Latency(device_profile=profile, backend=row.backend, device=row.device, input_shape=row.input_shape,
                        p50_ms=round(row.p50_ms, 3), p90_ms=round(row.p90_ms, 3),
                        peak_mb=None if row.peak_mb is None else round(row.peak_mb, 1), runs=row.runs)
        artifact.latency = [
            e for e in artifact.latency
            if (e.device_profile, e.backend, e.device, list(e.input_shape)) != (profile, row.backend, row.device, row.input_shape)
        ] + [entry]
    return export.manifest.save(export.path / "manifest.yaml")
