"""This host's device profile: what a latency measurement was taken on.

The id is stable across runs on the same host with the same backend versions, and
changes when any of them changes, so latency measured elsewhere (or before an
upgrade) is never taken for this host's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# CPU features that change kernel choice in ORT, OpenVINO and XNNPACK.
FLAGS_OF_INTEREST = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "asimddp", "sve",
)


@dataclass(frozen=True)
class DeviceProfile:
    """``id``: a short stable name (``amd-epyc-2c-1a2b3c4d``); ``info``: what it hashes."""

    id: str
    info: dict[str, Any] = field(hash=False, compare=False)


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    path = Path("/proc/cpuinfo")
    if path.is_file():
        text = path.read_text(errors="replace")
        for key in ("model name", "Hardware", "Processor", "cpu model"):
            match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.M)
            if match:
                model = match.group(1).strip()
                break
        match = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
        if match:
            present = set(match.group(1).split())
            flags = [f for f in FLAGS_OF_INTEREST if f in present]
    elif platform.system() == "Darwin":
        model = platform.processor() or "apple"
    return model, flags


def _slug(text: str) -> str:
    text = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*$", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:32] or "cpu"


def backend_versions() -> dict[str, str]:
    """Installed backend versions from package metadata (nothing is imported)."""
    from edgezoo.runtimes.backends import all_backends

    return {b.name: v for b in all_backends() if (v := b.version()) and b.available()}


@functools.lru_cache(maxsize=1)
def _cached_profile() -> DeviceProfile:
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    info: dict[str, Any] = {
        "cpu_model": model,
        "cpu_flags": flags,
        "cores": os.cpu_count() or 1,
        "cores_usable": usable,
        "machine": platform.machine(),
        "system": platform.system(),
        "backends": backend_versions(),
    }
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:8]
    return DeviceProfile(f"{_slug(model)}-{info['cores']}c-{digest}", info)


def device_profile(refresh: bool = False) -> DeviceProfile:
    """This host's :class:`DeviceProfile` (computed once per process)."""
    if refresh:
        _cached_profile.cache_clear()
    return _cached_profile()


@functools.lru_cache(maxsize=1)
def matmul_peak_gflops(n: int = 512, repeats: int = 5) -> float:
    """This machine's achieved fp32 matmul rate through numpy's BLAS, in GFLOP/s
    (best of ``repeats``): the reference for how far a backend is from the host's peak."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b  # warm the BLAS threads
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


RATE_FILE = "host-rate.json"
LOADED_SHARE = 0.5  # a matmul running below half this profile's best rate means the host is busy


@dataclass(frozen=True)
class HostRate:
    """A matmul timing now beside the best this device profile has seen."""

    now_gflops: float
    best_gflops: float

    @property
    def share(self) -> float:
        """The rate now as a share of the best (1.0: the host is as free as ever seen)."""
        return self.now_gflops / self.best_gflops if self.best_gflops > 0 else 1.0

    @property
    def loaded(self) -> bool:
        """Whether the host is busy now: other work takes over half of what a timing needs."""
        return self.share < LOADED_SHARE


def host_rate(profile_id: str | None = None, fresh: bool = False) -> HostRate:
    """This device profile's fp32 matmul rate now and the best of every measurement on
    the same profile (kept in ``$EDGEZOO_CACHE/host-rate.json``, raised when beaten).
    ``fresh`` times the matmul again instead of reusing this process's timing: what a
    check for load needs. An unwritable cache only loses the memory."""
    from edgezoo.files import atomic_write_text, cache_root

    profile_id = profile_id or device_profile().id
    path = cache_root() / RATE_FILE
    try:
        seen = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        seen = {}
    now = matmul_peak_gflops.__wrapped__() if fresh else matmul_peak_gflops()
    best = max(now, float(seen.get(profile_id, 0.0)))
    if best > float(seen.get(profile_id, 0.0)):
        try:
            atomic_write_text(path, json.dumps({**seen, profile_id: round(best, 3)}, indent=1))
        except OSError:
            pass
    return HostRate(now, best)


def host_rate_gflops(profile_id: str | None = None) -> float:
    """This device profile's fp32 matmul rate for estimates: the best of a measurement
    now and every earlier one on the same profile. A timing taken under load reads low,
    by 10x on a busy 2-core host, and a peak cannot be exceeded, so the best ever seen
    is the steadiest figure."""
    return host_rate(profile_id).best_gflops
