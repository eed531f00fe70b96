"""Core ML: runs only on macOS. Elsewhere it is listed as unavailable, never imported."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.errors import BackendUnavailableError
from edgezoo.runtimes.backends.base import (
    Backend, Device, DeviceKind, LockedRunner, Runner, TensorInfo, check_artifact_file, load_failure,
)

COMPUTE_UNITS: dict[str, DeviceKind] = {"CPU_ONLY": "cpu", "CPU_AND_GPU": "gpu", "CPU_AND_NE": "npu", "ALL": "npu"}


class CoreMlRunner(LockedRunner):
    backend = "coreml"

    def __init__(self, model: Any, device: Device) -> None:
        super().__init__()
        self.model, self.device = model, device
        spec = model.get_spec()
        self.inputs = [TensorInfo(i.name, list(i.type.multiArrayType.shape), "float32") for i in spec.description.input]
        self.outputs = [TensorInfo(o.name, list(o.type.multiArrayType.shape), "float32") for o in spec.description.output]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = self.model.predict(feeds)
        return [np.asarray(result[o.name]) for o in self.outputs]

    def describe(self) -> dict[str, Any]:
        # Core ML does not say from Python which unit ran each op; report the request.
        return {"backend": self.backend, "device": self.device.name, "kind": self.device.kind,
                "compute_units": self.device.name,
                "note": "Core ML may place ops on the CPU under any compute-unit choice; "
                        "Xcode's performance report shows where each ran"}


class CoreMlBackend(Backend):
    name = "coreml"
    formats = ("coreml",)
    package = "coremltools"
    install_hint = "pip install coremltools (prediction needs macOS)"

    def available(self) -> bool:
        return platform.system() == "Darwin" and super().available()

    def unavailable_reason(self) -> str:
        if platform.system() != "Darwin":
            return f"unusable on {platform.system()}: Core ML predicts only on macOS"
        return super().unavailable_reason()

    def version(self) -> str | None:
        from importlib.metadata import PackageNotFoundError, version

        try:  # reported on every OS (it is installed), though it predicts only on macOS
            return version("coremltools")
        except PackageNotFoundError:
            return None

    def devices(self) -> list[Device]:
        if not self.available():
            return []
        return [Device(self.name, kind, unit) for unit, kind in COMPUTE_UNITS.items()]

    def load(
        self, artifact: str | Path, device: Device | str = "CPU_AND_NE", threads: int | None = None,
        precision: str | None = None,
    ) -> Runner:
        if platform.system() != "Darwin":
            raise BackendUnavailableError("Core ML prediction needs macOS; on this host use the ONNX, TFLite or OpenVINO artifact")
        self.require()
        import coremltools as ct

        path = check_artifact_file(artifact)
        dev = self.device(device)
        try:
            model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, dev.name))
        except Exception as exc:
            raise load_failure(self.name, path, exc) from None
        return CoreMlRunner(model, dev)

