"""Inference backends behind one interface (see ``base.Backend``)."""

from __future__ import annotations

from edgezoo.errors import BackendUnavailableError
from edgezoo.runtimes.backends.base import Backend, Device, Runner
from edgezoo.runtimes.backends.coreml_backend import CoreMlBackend
from edgezoo.runtimes.backends.litert_backend import LiteRtBackend
from edgezoo.runtimes.backends.onnxruntime_backend import OnnxRuntimeBackend
from edgezoo.runtimes.backends.openvino_backend import OpenVinoBackend

__all__ = ["Backend", "Device", "Runner", "all_backends", "get_backend", "backend_for_format"]

# Preference when several backends read a format: the format's native runtime first.
_BACKENDS: dict[str, Backend] = {
    b.name: b for b in (OnnxRuntimeBackend(), OpenVinoBackend(), LiteRtBackend(), CoreMlBackend())
}


def all_backends() -> list[Backend]:
    return list(_BACKENDS.values())


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise BackendUnavailableError(f"unknown backend '{name}'; known: {', '.join(_BACKENDS)}") from None


def backend_for_format(fmt: str) -> Backend:
    """The native backend of an artifact format (onnx -> onnxruntime, ...)."""
    native = {"onnx": "onnxruntime", "openvino": "openvino", "tflite": "litert", "coreml": "coreml"}
    return get_backend(native[fmt])
