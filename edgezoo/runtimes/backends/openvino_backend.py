"""OpenVINO: CPU, GPU and NPU plugins, compiled with the LATENCY hint.

The CPU and GPU plugins are compiled with the ``INFERENCE_PRECISION_HINT`` that the
artifact's precision means (:func:`inference_precision`): f32 for fp32 artifacts, f16 for
fp16 ones where the device computes in f16, else f32. Left alone, the CPU plugin computes
in bf16 on CPUs with AVX512-BF16 or AMX, fp32 and fp16 IR alike, which no log line
reports: about 57 dB from the reference for fp32 instead of 80+, and for fp16 IR below the
40 dB fp16 gate (bf16 keeps 7 mantissa bits, fp16 10). The export's parity gate loads
artifacts through this same :meth:`OpenVinoBackend.load`, so its figure is what the
runtime executes. ``describe()`` shows the precision read back from the compiled model,
why it was chosen, and the ``EXECUTION_DEVICES`` the plugin really used.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.runtimes.backends.base import (
    Backend, Device, DeviceKind, Runner, TensorInfo, check_artifact_file, load_failure,
)

_KINDS: dict[str, DeviceKind] = {"CPU": "cpu", "GPU": "gpu", "NPU": "npu"}


def inference_precision(precision: str | None, kind: DeviceKind, capabilities: Any = ()) -> tuple[str | None, str]:
    """The ``INFERENCE_PRECISION_HINT`` (``"f32"``, ``"f16"``, or None: the plugin's own
    choice) for an artifact of ``precision`` (None: fp32) on a device of ``kind`` whose
    ``OPTIMIZATION_CAPABILITIES`` are ``capabilities``, and a few words saying why.

    fp32 always runs in f32: never silently bf16. fp16 runs in f16 where the device
    reports ``FP16`` compute, else in f32: the CPU plugin computes f16 only on some CPUs
    (AVX512-FP16 or AMX-FP16, Sapphire Rapids and later), and its fallback would be bf16,
    which keeps 3 mantissa bits fewer than fp16 (7 against 10) and so computes worse than
    the artifact's own precision. int8 is left to the plugin: its quantized ops run in
    int8 whatever the hint, and its recipe (weights-only or float layers) is gated by
    parity in exactly this configuration. The NPU takes no precision hint (it computes
    in f16)."""
    if kind not in ("cpu", "gpu"):
        return None, f"{kind} plugin's own precision"
    if precision in (None, "fp32"):
        return "f32", "fp32 artifact: f32, never the plugin's bf16"
    if precision == "fp16":
        if "FP16" in {str(c) for c in capabilities or ()}:
            return "f16", "fp16 artifact: f16 (the device has FP16 compute)"
        return "f32", "fp16 artifact: f32 (the device has no FP16 compute; bf16 would lose 3 mantissa bits)"
    return None, f"{precision} artifact: the plugin's own precision for float ops"


def _dims(partial_shape: Any) -> list[Any]:
    return [d.get_length() if d.is_static else "?" for d in partial_shape]


# An fp16 ONNX keeps float32 I/O through a Cast at each input and output, and OpenVINO
# gives the cast's tensor name to the same port ({"image", "graph_input_cast_0"})
_CAST_NAME = re.compile(r"graph_(input|output)_cast_\d+$")


def _port_name(port: Any, fallback: str, preferred: str | None = None) -> str:
    """The name a port answers to: ``preferred`` (an input's parameter name) where the
    port has it, else its first name that is not an fp16 cast's, else ``fallback``."""
    names = port.get_names()  # converted PyTorch graphs may leave outputs unnamed
    if preferred in names:
        return str(preferred)
    own = sorted(n for n in names if not _CAST_NAME.match(n))
    return (own or sorted(names) or [fallback])[0]


class OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, compiled: Any, device: Device, precision_reason: str | None = None) -> None:
        self.compiled, self.device = compiled, device
        self.precision_reason = precision_reason  # why the inference precision hint is what it is
        self._local = threading.local()  # an infer request per thread
        self.inputs = [
            TensorInfo(_port_name(p, f"input_{i}", p.get_node().get_friendly_name()), _dims(p.get_partial_shape()),
                       p.get_element_type().to_dtype().name)
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
        if self.precision_reason:
            info["precision_reason"] = self.precision_reason
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
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        core = self._core()
        config: dict[str, Any] = {hints.performance_mode: hints.PerformanceMode.LATENCY}
        capabilities: Any = ()
        if precision == "fp16" and dev.kind in ("cpu", "gpu"):
            try:
                capabilities = core.get_property(dev.name, props.device.capabilities)
            except Exception:  # a plugin that does not say: no f16 assumed, f32 is safe
                capabilities = ()
        hint, reason = inference_precision(precision, dev.kind, capabilities)
        if hint is not None:
            config[hints.inference_precision] = {"f32": ov.Type.f32, "f16": ov.Type.f16}[hint]
        if threads and dev.kind == "cpu":
            config[props.inference_num_threads] = threads
        try:
            compiled = core.compile_model(str(path), dev.name, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
            raise load_failure(self.name, path, exc) from None
        return OpenVinoRunner(compiled, dev, reason)
