"""OpenVINO: CPU, GPU and NPU plugins, compiled with the LATENCY hint."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.runtimes.backends.base import (
    Backend, Device, DeviceKind, Runner, TensorInfo, check_artifact_file, load_failure,
)

_KINDS: dict[str, DeviceKind] = {"CPU": "cpu", "GPU": "gpu", "NPU": "npu"}


def _dims(partial_shape: Any) -> list[Any]:
    return [d.get_length() if d.is_static else "?" for d in partial_shape]


class OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, compiled: Any, device: Device) -> None:
        self.compiled, self.device = compiled, device
        self._local = threading.local()  # an infer request per thread
        self.inputs = [
            TensorInfo(p.get_any_name(), _dims(p.get_partial_shape()), p.get_element_type().to_dtype().name)
            for p in compiled.inputs
        ]
        self.outputs = [
            TensorInfo(p.get_any_name(), _dims(p.get_partial_shape()), p.get_element_type().to_dtype().name)
            for p in compiled.outputs
        ]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer(feeds)
        return [np.array(result[port]) for port in self.compiled.outputs]

    def describe(self) -> dict[str, Any]:
        executing = list(self.compiled.get_property("EXECUTION_DEVICES"))
        return {
            "backend": self.backend, "device": self.device.name, "kind": self.device.kind,
            "execution_devices": executing,
            "fallback_to_cpu": self.device.name != "CPU" and all(d.startswith("CPU") for d in executing),
        }


class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("openvino", "onnx")
    package = "openvino"
    install_hint = "pip install openvino"

    def version(self) -> str | None:
        if not self.available():
            return None
        import openvino

        return openvino.__version__.split("-")[0]

    def _core(self) -> Any:
        import openvino

        if not hasattr(self, "_core_obj"):
            self._core_obj = openvino.Core()
        return self._core_obj

    def devices(self) -> list[Device]:
        if not self.available():
            return []
        core = self._core()
        found = []
        for name in core.available_devices:
            kind = _KINDS.get(name.split(".")[0])
            if kind is None:
                continue
            try:
                detail = core.get_property(name, "FULL_DEVICE_NAME")
            except Exception:  # some plugins do not report a name
                detail = name
            found.append(Device(self.name, kind, name, detail=str(detail)))
        return found

    def load(self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None) -> Runner:
        self.require()
        path = check_artifact_file(artifact)
        dev = self.device(device)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads and dev.kind == "cpu":
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            compiled = self._core().compile_model(str(path), dev.name, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
            raise load_failure(self.name, path, exc) from None
        return OpenVinoRunner(compiled, dev)
