"""ONNX Runtime: every execution provider this build has, CPU last.

``describe()`` tells which providers really took nodes: the first run of a session is
profiled (ORT's own per-node trace), then profiling stops, so a CUDA or QNN session
whose nodes silently fell back to the CPU provider says so.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.runtimes.backends.base import (
    Backend, Device, DeviceKind, Runner, TensorInfo, check_artifact_file, load_failure,
)

# provider -> (device name, kind). Order is ORT's own preference order.
PROVIDERS: dict[str, tuple[str, DeviceKind]] = {
    "TensorrtExecutionProvider": ("tensorrt", "gpu"),
    "CUDAExecutionProvider": ("cuda", "gpu"),
    "ROCMExecutionProvider": ("rocm", "gpu"),
    "MIGraphXExecutionProvider": ("migraphx", "gpu"),
    "DmlExecutionProvider": ("directml", "gpu"),
    "QNNExecutionProvider": ("qnn", "npu"),
    "NnapiExecutionProvider": ("nnapi", "npu"),
    "CoreMLExecutionProvider": ("coreml", "npu"),
    "OpenVINOExecutionProvider": ("openvino-ep", "cpu"),
    "CPUExecutionProvider": ("cpu", "cpu"),
}
_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
          "tensor(int8)": "int8", "tensor(int64)": "int64", "tensor(int32)": "int32"}


def nodes_by_provider(profile_path: str | Path) -> dict[str, int]:
    """Count the graph nodes each execution provider ran, from an ORT profile trace."""
    with open(profile_path, encoding="utf-8") as handle:
        events = json.load(handle)
    nodes: dict[str, str] = {}
    for event in events:
        args = event.get("args") or {}
        if event.get("cat") == "Node" and "provider" in args:
            name = event.get("name", "").rsplit("_kernel_time", 1)[0]
            nodes[name] = args["provider"]
    return dict(Counter(nodes.values()))


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, session: Any, device: Device, profiling: bool) -> None:
        self.session, self.device = session, device
        self.inputs = [TensorInfo(i.name, list(i.shape), _TYPES.get(i.type, i.type)) for i in session.get_inputs()]
        self.outputs = [TensorInfo(o.name, list(o.shape), _TYPES.get(o.type, o.type)) for o in session.get_outputs()]
        self._profiling = profiling
        self._profile_lock = threading.Lock()
        self._placement: dict[str, int] | None = None

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._profiling:
            with self._profile_lock:
                if self._profiling:  # first run: read the node placement, then stop profiling
                    outputs = self.session.run(None, feeds)
                    path = self.session.end_profiling()
                    try:
                        self._placement = nodes_by_provider(path)
                    except (OSError, ValueError):
                        self._placement = None
                    finally:
                        Path(path).unlink(missing_ok=True)
                    self._profiling = False
                    return outputs
        return self.session.run(None, feeds)  # InferenceSession.run is thread-safe

    def __del__(self) -> None:
        # a runner loaded and never run still profiles: ONNX Runtime would write its
        # profile into the temp folder when the session goes; end it and remove the file
        if getattr(self, "_profiling", False):
            try:
                Path(self.session.end_profiling()).unlink(missing_ok=True)
            except Exception:  # interpreter shutdown, or the session already gone: nothing to clean
                pass

    def describe(self) -> dict[str, Any]:
        registered = self.session.get_providers()
        wanted = self.device.detail or "CPUExecutionProvider"
        info: dict[str, Any] = {
            "backend": self.backend, "device": self.device.name, "kind": self.device.kind,
            "providers_registered": registered,
        }
        if self._placement is not None:
            took = {p: n for p, n in self._placement.items() if n}
            info["nodes_by_provider"] = took
            info["fallback_to_cpu"] = wanted != "CPUExecutionProvider" and took.get(wanted, 0) == 0
            info["partial_fallback"] = wanted != "CPUExecutionProvider" and len(took) > 1
        else:
            info["nodes_by_provider"] = "known after the first run"
            info["fallback_to_cpu"] = wanted not in registered
        return info


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    formats = ("onnx",)
    package = "onnxruntime"
    distributions = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-qnn",
                     "onnxruntime-directml", "onnxruntime-silicon")
    install_hint = "pip install onnxruntime (or onnxruntime-gpu, onnxruntime-qnn, ...)"

    def devices(self) -> list[Device]:
        if not self.available():
            return []
        import onnxruntime

        present = set(onnxruntime.get_available_providers())
        return [
            Device(self.name, kind, name, detail=provider)
            for provider, (name, kind) in PROVIDERS.items() if provider in present
        ]

    def load(
        self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None,
        precision: str | None = None,
    ) -> Runner:
        self.require()
        import onnxruntime

        path = check_artifact_file(artifact)
        dev = self.device(device)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.enable_profiling = True  # only the first run; see OnnxRuntimeRunner._run
        options.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"edgezoo-ort-{os.getpid()}")
        if threads:
            options.intra_op_num_threads = threads
        provider = dev.detail or "CPUExecutionProvider"
        providers = [provider] + (["CPUExecutionProvider"] if provider != "CPUExecutionProvider" else [])
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # ORT raises several untyped errors for bad files
            raise load_failure(self.name, path, exc) from None
        return OnnxRuntimeRunner(session, dev, profiling=True)
