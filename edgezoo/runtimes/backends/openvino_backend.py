"""OpenVINO: CPU, GPU and NPU plugins, compiled with the LATENCY hint.

fp32 artifacts are compiled with ``INFERENCE_PRECISION_HINT=f32`` (CPU, GPU): on CPUs with
AVX512-BF16 or AMX the CPU plugin otherwise computes in bf16 (about 57 dB from the
reference instead of 80+), which no log line reports. ``describe()`` shows the
precision and ``EXECUTION_DEVICES`` the plugin really used.
"""

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


def _port_name(port: Any, fallback: str) -> str:
    names = port.get_names()  # converted PyTorch graphs may leave outputs unnamed
    return sorted(names)[0] if names else fallback


class OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, compiled: Any, device: Device) -> None:
        self.compiled, self.device = compiled, device
        self._local = threading.local()  # an infer request per thread
        self.inputs = [
            TensorInfo(_port_name(p, f"input_{i}"), _dims(p.get_partial_shape()), p.get_element_type().to_dtype().name)
            for i, p in enumerate(compiled.inputs)
        ]
        self.outputs = [
            TensorInfo(_port_name(p, f"output_{i}"), _dims(p.get_partial_shape()), p.get_element_type().to_dtype().name)
            for i, p in enumerate(compiled.outputs)
        ]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({i: feeds[info.name] for i, info in enumerate(self.inputs)})
        return [np.array(result[port]) for port in self.compiled.outputs]

    def describe(self) -> dict[str, Any]:
        executing = [str(d) for d in self.compiled.get_property("EXECUTION_DEVICES")]
        info: dict[str, Any] = {
            "backend": self.backend, "device": self.device.name, "kind": self.device.kind,
            "execution_devices": executing,
            "fallback_to_cpu": self.device.name != "CPU" and all(d.startswith("CPU") for d in executing),
        }
        for key, prop in (("inference_precision", "INFERENCE_PRECISION_HINT"), ("threads", "INFERENCE_NUM_THREADS")):
            try:
                value = self.compiled.get_property(prop)
                info[key] = value.to_string() if hasattr(value, "to_string") else str(value)
            except Exception:  # not every plugin reports every property
                pass
        return info


class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("openvino", "onnx")
    package = "openvino"
    install_hint = "pip install openvino"

    def __init__(self) -> None:
        self._core_obj: Any = None
        self._core_lock = threading.Lock()

    def _core(self) -> Any:
        with self._core_lock:
            if self._core_obj is None:
                import openvino

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

    def load(
        self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None,
        precision: str | None = None,
    ) -> Runner:
        self.require()
        path = check_artifact_file(artifact)
        if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
            raise load_failure(self.name, path, FileNotFoundError(f"{path.with_suffix('.bin').name} is missing"))
        dev = self.device(device)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision in (None, "fp32") and dev.kind in ("cpu", "gpu"):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if threads and dev.kind == "cpu":
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            compiled = self._core().compile_model(str(path), dev.name, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
            raise load_failure(self.name, path, exc) from None
        return OpenVinoRunner(compiled, dev)
