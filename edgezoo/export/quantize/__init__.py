"""Reduced precision: fp16 and int8 artifacts for every format, made from the fp32
artifact of that format and gated against the PyTorch reference.

One module per format (``onnx``, ``openvino``, ``tflite``, ``coreml``), each with
``to_fp16(fp32_path, out_path, metadata)``, ``to_int8(fp32_path, out_path, metadata,
calibration, recipe)`` and its ``INT8_LADDER`` of remedies; ``calibration`` makes the
calibration samples (dicts by input name) by asking the task protocol; ``quality``
runs the task-quality gate, whose measurement, tolerance and unit are also the
protocol's; ``build.build_reduced`` converts, gates and applies remedies.
Importing this package is cheap: converters load only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["build_reduced", "ReducedArtifact", "Int8Recipe", "calibration_arrays", "calibration_samples", "module_for"]

_LAZY = {
    "build_reduced": "edgezoo.export.quantize.build",
    "ReducedArtifact": "edgezoo.export.quantize.build",
    "module_for": "edgezoo.export.quantize.build",
    "Int8Recipe": "edgezoo.export.quantize.recipe",
    "calibration_arrays": "edgezoo.export.quantize.calibration",
    "calibration_samples": "edgezoo.export.quantize.calibration",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgezoo.export.quantize' has no attribute {name!r}")
