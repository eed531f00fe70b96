"""The edge runtime. Imports nothing heavy: no torch, no converters, no coremltools
(a test enforces this), so a device can install it with one backend alone.

    >>> from edgezoo import runtimes
    >>> session = runtimes.load("denoise", budget_ms=200)   # a model, a task or an export dir
    >>> session.plan.reasons                                 # what was chosen, and why
    >>> restored = session(image)                            # uint8/float, HWC/NCHW, any size
"""

from edgezoo.runtimes.inventory import Inventory, Target, probe_inventory, target
from edgezoo.runtimes.latency import LatencyRow, bench_export, record_latency
from edgezoo.runtimes.planner import Option, Plan, Rejected, plan
from edgezoo.runtimes.profile import DeviceProfile, device_profile, matmul_peak_gflops
from edgezoo.runtimes.session import Session, load
from edgezoo.runtimes.store import ExportDir, artifact_roots, default_artifact_dir, find_exports, resolve

__all__ = [
    "DeviceProfile", "ExportDir", "Inventory", "LatencyRow", "Option", "Plan", "Rejected", "Session", "Target",
    "artifact_roots", "bench_export", "default_artifact_dir", "device_profile", "find_exports", "load",
    "matmul_peak_gflops", "plan", "probe_inventory", "record_latency", "resolve", "target",
]
