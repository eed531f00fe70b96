"""OpenVINO IR at fp16 and int8, from the fp32 IR.

- fp16: the IR's weights stored as fp16 (``save_model(compress_to_fp16=True)``). The
  runtime compiles it with ``INFERENCE_PRECISION_HINT`` f16 where the device has FP16
  compute (GPU; CPUs with AVX512-FP16 or AMX-FP16), f32 elsewhere, never the CPU
  plugin's bf16 default (``edgezoo.runtimes.backends.openvino_backend``); the NPU
  computes in f16. The parity gate runs it the same way.
- int8: NNCF post-training quantization (``nncf.quantize``) calibrated on the
  calibration arrays; remedies: the transformer model type (NNCF keeps LayerNorm,
  GELU and similar in float and applies SmoothQuant), an ignored scope of sensitive
  ops, a quantile range estimator, more images.

The contract is written back into rt_info with the new precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgezoo.export.openvino_export import save_ir
from edgezoo.export.quantize import sensitive
from edgezoo.export.quantize.calibration import Sample, feeds
from edgezoo.export.quantize.recipe import Int8Recipe, Reduced

FORMAT = "openvino"

INT8_LADDER: tuple[Int8Recipe, ...] = (
    Int8Recipe("nncf-ptq", "default", 32),
    Int8Recipe("nncf-ptq", "default", 32, options=(("model_type", "transformer"),),
               remedy="transformer model type (LayerNorm/GELU in float, SmoothQuant)"),
    Int8Recipe("nncf-ptq", "default", 32, ("io", "norm", "gates"), (("model_type", "transformer"),),
               remedy="transformer model type, sensitive layers in float"),
    Int8Recipe("nncf-ptq", "quantile", 64, ("io", "norm", "gates"), (("model_type", "transformer"),),
               remedy="quantile ranges, more calibration images, sensitive layers in float"),
    Int8Recipe("weights", "none", 0, remedy="int8 weights only (nncf.compress_weights), activations float"),
)

_KINDS = {
    "Convolution": "conv", "GroupConvolution": "conv", "ConvolutionBackpropData": "conv",
    "GroupConvolutionBackpropData": "conv", "ReduceMean": "reduce_mean", "Subtract": "sub", "Multiply": "mul",
    "Add": "add", "Sqrt": "sqrt", "Divide": "div", "Power": "pow", "Sigmoid": "sigmoid", "Softmax": "softmax",
    "SoftMax": "softmax", "MVN": "norm", "BatchNormInference": "norm", "NormalizeL2": "norm",
    "GroupNormalization": "norm",
}
_NOT_OPS = {"Constant", "Parameter", "Result"}


def graph_ops(ov_model: Any) -> list[sensitive.GraphOp]:
    """The ops of an OpenVINO model in topological order (constants, parameters and
    results left out), named by their friendly names, as NNCF's ignored scope takes them."""
    ops = []
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() in _NOT_OPS:
            continue
        producers = []
        for port in op.inputs():
            node = port.get_source_output().get_node()
            if node.get_type_name() not in _NOT_OPS:
                producers.append(node.get_friendly_name())
        ops.append(sensitive.GraphOp(op.get_friendly_name(), _KINDS.get(op.get_type_name(), "other"), tuple(producers)))
    return ops


def _read(fp32_path: str | Path, metadata: dict[str, Any]) -> Any:
    import openvino as ov

    from edgezoo.export.contract import METADATA_KEY, metadata_json

    path = Path(fp32_path)
    ov_model = ov.Core().read_model(str(path), str(path.with_suffix(".bin")))
    ov_model.set_rt_info(metadata_json(metadata), [METADATA_KEY])
    return ov_model


def to_fp16(fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any]) -> Reduced:
    """The fp32 IR with fp16 weights; written atomically."""
    save_ir(_read(fp32_path, metadata), out_path, compress_to_fp16=True)
    return Reduced(
        tool_versions=_versions(),
        quantization={"method": "fp16-weights", "tool": "openvino.save_model(compress_to_fp16=True)",
                      "compute": "INFERENCE_PRECISION_HINT f16 where the device has FP16 compute (GPU; "
                                 "CPUs with AVX512-FP16/AMX-FP16), else f32 (never bf16); f16 on NPU"},
    )


def to_int8(
    fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any], calibration: Sequence[Sample],
    recipe: Int8Recipe, work: str | Path | None = None,
) -> Reduced:
    """NNCF post-training int8 of the fp32 IR by ``recipe`` (``calibration``: samples by
    the contract's input names); written atomically."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    ov_model = _read(fp32_path, metadata)
    if recipe.method == "weights":
        compressed = nncf.compress_weights(ov_model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        save_ir(compressed, out_path, compress_to_fp16=False)
        return Reduced(tool_versions=_versions(), quantization={
            "method": "weights", "tool": "nncf.compress_weights", "weights": "int8 asymmetric per-channel",
            "activations": "float (decompressed weights)", "calibration": "none", "remedy": recipe.remedy})
    if recipe.method != "nncf-ptq":
        raise ValueError(f"unknown OpenVINO int8 method {recipe.method!r}: nncf-ptq or weights")
    selected = sensitive.select(graph_ops(ov_model), recipe.float_layers)
    arrays = list(calibration)[: recipe.images] if recipe.images else list(calibration)
    kwargs: dict[str, Any] = {}
    model_type = recipe.option("model_type")
    if model_type:
        kwargs["model_type"] = nncf.ModelType(model_type)
    if recipe.option("preset"):
        kwargs["preset"] = nncf.QuantizationPreset(recipe.option("preset"))
    estimators = {"quantile": RangeEstimatorParametersSet.MEAN_QUANTILE, "minmax": RangeEstimatorParametersSet.MINMAX}
    if recipe.calibration in estimators:
        kwargs["advanced_parameters"] = AdvancedQuantizationParameters(
            activations_range_estimator_params=estimators[recipe.calibration])
    elif recipe.calibration != "default":
        raise ValueError(f"OpenVINO calibration is default, minmax or quantile, not {recipe.calibration!r}")
    names = sensitive.union(selected)
    if names:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=names, validate=False)
    names = [port.get_any_name() for port in ov_model.inputs]
    items = [feeds(sample, names) for sample in arrays]
    dataset = nncf.Dataset(items if len(names) > 1 else [next(iter(item.values())) for item in items])
    quantized = nncf.quantize(ov_model, dataset, subset_size=len(arrays), **kwargs)
    save_ir(quantized, out_path, compress_to_fp16=False)
    record: dict[str, Any] = {
        "method": recipe.method, "tool": "nncf.quantize", "calibration": recipe.calibration, "images": len(arrays),
        "weights": "int8 symmetric per-channel", "activations": "int8 per-tensor, static",
        "preset": recipe.option("preset", "nncf default (performance; mixed for transformer)"),
        "float_layers": sensitive.summary(selected), "remedy": recipe.remedy,
    }
    if model_type:
        record["model_type"] = model_type
    return Reduced(tool_versions=_versions(), quantization=record)


def _versions() -> dict[str, str]:
    from edgezoo.export.capture import tool_versions

    return tool_versions("openvino", "nncf")
