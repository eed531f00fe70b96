"""LiteRT (TFLite) interpreter with XNNPACK: ``ai-edge-litert``, else ``tflite-runtime``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.runtimes.backends.base import (
    Backend, Device, LockedRunner, Runner, TensorInfo, check_artifact_file, load_failure,
)

# (import name of the interpreter module, distribution name), in order of preference
INTERPRETERS = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


def _find_interpreter() -> tuple[str, str] | None:
    for module, dist in INTERPRETERS:
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return module, dist
        except (ImportError, ValueError):
            continue
    return None


class LiteRtRunner(LockedRunner):
    backend = "litert"

    def __init__(self, interpreter: Any, device: Device, package: str) -> None:
        super().__init__()
        self.interpreter, self.device, self.package = interpreter, device, package
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        self.inputs = [TensorInfo(d["name"], [int(x) for x in d["shape_signature"]] or list(d["shape"]),
                                  np.dtype(d["dtype"]).name) for d in self._in]
        self.outputs = [TensorInfo(d["name"], list(d["shape"]), np.dtype(d["dtype"]).name) for d in self._out]
        self._shapes = {d["name"]: tuple(d["shape"]) for d in self._in}

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        for detail in self._in:
            array = feeds[detail["name"]]
            if tuple(array.shape) != self._shapes[detail["name"]]:
                self.interpreter.resize_tensor_input(detail["index"], list(array.shape))
                self.interpreter.allocate_tensors()
                self._shapes[detail["name"]] = tuple(array.shape)
            self.interpreter.set_tensor(detail["index"], array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._out]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "device": self.device.name, "kind": self.device.kind,
                "interpreter": self.package, "delegate": "XNNPACK (default CPU delegate)"}


class LiteRtBackend(Backend):
    name = "litert"
    formats = ("tflite",)
    package = "ai_edge_litert"
    install_hint = "pip install ai-edge-litert (or tflite-runtime on numpy<2 systems)"

    def available(self) -> bool:
        return _find_interpreter() is not None

    def version(self) -> str | None:
        found = _find_interpreter()
        if found is None:
            return None
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{found[1]} {version(found[1])}"
        except PackageNotFoundError:
            return found[1]

    def devices(self) -> list[Device]:
        found = _find_interpreter()
        return [Device(self.name, "cpu", "cpu", detail=f"XNNPACK via {found[1]}")] if found else []

    def load(self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None) -> Runner:
        self.require()
        found = _find_interpreter()
        assert found is not None
        module = importlib.import_module(found[0])
        path = check_artifact_file(artifact)
        dev = self.device(device)
        try:
            interpreter = module.Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError on bad flatbuffers
            raise load_failure(self.name, path, exc) from None
        return LiteRtRunner(interpreter, dev, found[1])
