"""ONNX Runtime: every execution provider this build has, CPU last."""

from __future__ import annotations

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
    "DmlExecutionProvider": ("directml", "gpu"),
    "QNNExecutionProvider": ("qnn", "npu"),
    "NnapiExecutionProvider": ("nnapi", "npu"),
    "CoreMLExecutionProvider": ("coreml", "npu"),
    "OpenVINOExecutionProvider": ("openvino-ep", "cpu"),
    "CPUExecutionProvider": ("cpu", "cpu"),
}
_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
          "tensor(int8)": "int8", "tensor(int64)": "int64", "tensor(int32)": "int32"}


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, session: Any, device: Device) -> None:
        self.session, self.device = session, device
        self.inputs = [TensorInfo(i.name, list(i.shape), _TYPES.get(i.type, i.type)) for i in session.get_inputs()]
        self.outputs = [TensorInfo(o.name, list(o.shape), _TYPES.get(o.type, o.type)) for o in session.get_outputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)  # InferenceSession.run is thread-safe

    def describe(self) -> dict[str, Any]:
        providers = self.session.get_providers()
        wanted = next(p for p, (name, _) in PROVIDERS.items() if name == self.device.name)
        return {
            "backend": self.backend, "device": self.device.name, "kind": self.device.kind,
            "providers": providers,
            "fallback_to_cpu": wanted not in providers,
        }


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    formats = ("onnx",)
    package = "onnxruntime"
    install_hint = "pip install onnxruntime (or onnxruntime-gpu, onnxruntime-qnn, ...)"

    def version(self) -> str | None:
        if not self.available():
            return None
        import onnxruntime

        return onnxruntime.__version__

    def devices(self) -> list[Device]:
        if not self.available():
            return []
        import onnxruntime

        present = set(onnxruntime.get_available_providers())
        return [
            Device(self.name, kind, name, detail=provider)
            for provider, (name, kind) in PROVIDERS.items() if provider in present
        ]

    def load(self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None) -> Runner:
        self.require()
        import onnxruntime

        path = check_artifact_file(artifact)
        dev = self.device(device)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        providers = [dev.detail] + (["CPUExecutionProvider"] if dev.detail != "CPUExecutionProvider" else [])
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # ORT raises several untyped errors for bad files
            raise load_failure(self.name, path, exc) from None
        return OnnxRuntimeRunner(session, dev)
