"""Core ML at fp16 and int8, from the fp32 ``.mlpackage``.

- fp16: every op computes in fp16 (coremltools' ``FP16ComputePrecision`` pass, the one
  ``ct.convert(compute_precision=FLOAT16)`` runs), applied to the fp32 package's
  program; inputs and outputs stay float32 (a cast at each end).
- int8: weights linearly quantized, int8 symmetric per-channel
  (``coremltools.optimize.coreml.linear_quantize_weights``); activations stay float.
  int8 activations (``coremltools.optimize.coreml.experimental.linear_quantize_activations``)
  calibrate by running Core ML predictions, which only macOS can do: on Linux it fails
  with "Model prediction is only supported on macOS".

Neither can be executed on Linux: the parity and quality gates record "not run".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgezoo.export.quantize.recipe import Int8Recipe, Reduced

FORMAT = "coreml"
WEIGHT_THRESHOLD = 512  # weights with fewer elements stay float: too small to matter for size
INT8_LADDER: tuple[Int8Recipe, ...] = (Int8Recipe("weights", "none", 0),)
ACTIVATIONS_NOTE = ("activations float: int8 activation calibration runs Core ML predictions, "
                    "which need macOS")


def _load(path: str | Path) -> Any:
    from edgezoo.export.capture import captured_output

    with captured_output():  # coremltools reports at import what it cannot do on this host
        import coremltools as ct

        return ct.models.MLModel(str(path), skip_model_load=True)


def _save(mlmodel: Any, out_path: str | Path, metadata: dict[str, Any]) -> None:
    from edgezoo.export.contract import METADATA_KEY, metadata_json
    from edgezoo.export.coreml_export import save_package

    mlmodel.user_defined_metadata[METADATA_KEY] = metadata_json(metadata)
    save_package(mlmodel, out_path)


def op_counts(path: str | Path) -> Counter:
    """How many ops of each type the package's program holds (read from its spec)."""
    spec = _load(path).get_spec()
    return Counter(op.type for fn in spec.mlProgram.functions.values()
                   for block in fn.block_specializations.values() for op in block.operations)


def to_fp16(fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any]) -> Reduced:
    """The fp32 package with fp16 compute and float32 I/O; written atomically."""
    from coremltools.converters.mil.mil.passes.defs.quantization import FP16ComputePrecision
    from coremltools.models.utils import _apply_graph_pass  # what coremltools.optimize itself uses

    source = _load(fp32_path)
    fp16 = _apply_graph_pass(source, FP16ComputePrecision(op_selector=lambda op: True), skip_model_load=True)
    _save(fp16, out_path, metadata)
    return Reduced(
        tool_versions=_versions(),
        quantization={"method": "fp16-compute", "tool": "coremltools FP16ComputePrecision", "io": "float32"},
    )


def to_int8(
    fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any], calibration: Sequence[dict[str, np.ndarray]],
    recipe: Int8Recipe, work: str | Path | None = None,
) -> Reduced:
    """int8 weights (``recipe.method == "weights"``); written atomically. ``calibration``
    is unused: weight quantization needs none, and activation calibration needs macOS."""
    import coremltools.optimize.coreml as cto

    if recipe.method != "weights":
        raise ValueError(f"Core ML int8 on this host is 'weights' only, not {recipe.method!r}: {ACTIVATIONS_NOTE}")
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD))
    quantized = cto.linear_quantize_weights(_load(fp32_path), config=config)
    _save(quantized, out_path, metadata)
    counts = op_counts(out_path)
    return Reduced(
        tool_versions=_versions(),
        quantization={
            "method": "weights", "tool": "coremltools.optimize.coreml.linear_quantize_weights",
            "weights": f"int8 symmetric per-channel ({counts.get('constexpr_affine_dequantize', 0)} tensors of "
                       f"{WEIGHT_THRESHOLD}+ elements)",
            "activations": ACTIVATIONS_NOTE, "calibration": "none", "remedy": recipe.remedy,
        },
    )


def _versions() -> dict[str, str]:
    from edgezoo.export.capture import tool_versions

    return tool_versions("coremltools")
