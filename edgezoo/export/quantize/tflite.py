"""TFLite at fp16 and int8, from the fp32 .tflite, with AI Edge Quantizer recipes.

- fp16: weights cast to fp16 (``float_casting``), dequantized in the graph; XNNPACK on
  a CPU computes in fp32, GPU delegates in fp16.
- int8 ``static`` (full integer): int8 symmetric per-channel weights and int8
  per-tensor activations calibrated on the calibration arrays; the graph's input and
  output stay float32 (a quantize op after the input, a dequantize before the output)
  so callers feed the same arrays.
- int8 ``dynamic-range``: int8 weights, activations quantized per call; the last remedy.

litert-torch's PT2E path (``PT2EQuantizer`` + ``torchao`` ``prepare_pt2e``/``convert_pt2e``)
also works here, but quantizes only conv, linear, add, mul and cat, re-traces the
model and took 15 times longer for the same parity; it is not used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgezoo.export.quantize import sensitive
from edgezoo.export.quantize.calibration import Sample, feeds
from edgezoo.export.quantize.recipe import Int8Recipe, Reduced
from edgezoo.files import atomic_path

FORMAT = "tflite"

INT8_LADDER: tuple[Int8Recipe, ...] = (
    Int8Recipe("static", "minmax", 32),
    Int8Recipe("static", "minmax", 32, ("io", "norm", "gates"), remedy="sensitive layers in float"),
    Int8Recipe("static", "minmax", 64, ("io", "norm", "gates"), remedy="more calibration images, sensitive layers in float"),
    Int8Recipe("dynamic-range", "none", 0, remedy="dynamic-range quantization (int8 weights, activations quantized per call)"),
)

_KINDS = {
    "CONV_2D": "conv", "DEPTHWISE_CONV_2D": "conv", "TRANSPOSE_CONV": "conv", "MEAN": "reduce_mean",
    "SUB": "sub", "MUL": "mul", "ADD": "add", "SQRT": "sqrt", "RSQRT": "rsqrt", "DIV": "div", "POW": "pow",
    "LOGISTIC": "sigmoid", "SOFTMAX": "softmax",
}
_FP16_RECIPE = [{
    "regex": ".*", "operation": "*", "algorithm_key": "float_casting",
    "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"}, "compute_precision": "FLOAT",
                  "explicit_dequantize": True},
}]
MIN_RANGE = 1e-3  # an activation calibrated to (almost) one value still gets this span
MIN_SCALE = 1e-9  # below this a quantization scale is degenerate: XNNPACK aborts the process on it
# Keep the graph's input and output float32: AIQ's pseudo-ops for them, not quantized.
_FLOAT_IO = [{"regex": ".*", "operation": op, "algorithm_key": "no_quantize"} for op in ("INPUT", "OUTPUT")]


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def graph_ops(content: bytes) -> list[sensitive.GraphOp]:
    """The operators of the main subgraph in execution order, named by their AIQ scope
    (output tensor names joined by ``;`` plus a trailing ``;``), which recipe regexes
    match against."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfu

    model = tfu.read_model(bytearray(content))
    subgraph = model.subgraphs[0]
    names = _op_names()
    producer: dict[int, str] = {}
    ops = []
    for op in subgraph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        scope = tfu.get_op_scope(op, subgraph.tensors)
        inputs = tuple(producer[i] for i in op.inputs if i in producer)
        ops.append(sensitive.GraphOp(scope, _KINDS.get(names.get(builtin, ""), "other"), inputs))
        for out in op.outputs:
            producer[int(out)] = scope
    return ops


def _float_entries(scopes: list[str]) -> list[dict[str, Any]]:
    """Recipe entries that leave the ops with these exact scopes unquantized (chunks keep
    each regex a sensible size)."""
    entries = []
    for start in range(0, len(scopes), 64):
        chunk = "|".join(re.escape(s) for s in scopes[start:start + 64])
        entries.append({"regex": f"^(?:{chunk})$", "operation": "*", "algorithm_key": "no_quantize"})
    return entries


def _quantize(content: bytes, recipe: list[dict[str, Any]], calibration: Sequence[Sample] | None) -> bytes:
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(content))
    q.load_quantization_recipe(recipe)
    result = None
    if q.need_calibration:
        if not calibration:
            raise ValueError("this TFLite recipe needs calibration arrays")
        result = widen_ranges(calibrated(content, calibration))
    quantized = bytes(q.quantize(result, enable_progress_report=False).quantized_model)
    check_scales(quantized)
    return quantized


# (model digest, sample digests) -> AIQ's calibration result; small, per process
_CALIBRATED: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}


def _digest(data: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    if isinstance(data, dict):
        for name in sorted(data):
            array = np.ascontiguousarray(data[name])
            h.update(name.encode() + str(array.shape).encode() + array.tobytes())
    else:
        h.update(bytes(data))
    return h.hexdigest()


def calibrated(content: bytes, calibration: Sequence[Sample]) -> dict[str, Any]:
    """AIQ's calibration of the float model on ``calibration`` (a copy: callers widen
    it in place). Every tensor the full static recipe quantizes is calibrated, whatever
    the attempt keeps in float (the statistics are the float model's), so the remedies
    of one export share it; calibration on more samples resumes from the longest
    calibrated prefix of them (AIQ's moving average is sequential: the same result as
    calibrating all of them from the start)."""
    import copy

    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer import recipe as aiq_recipes

    from edgezoo.export.timing import stage

    model = _digest(content)
    samples = tuple(_digest(s) for s in calibration)
    if (model, samples) in _CALIBRATED:
        return copy.deepcopy(_CALIBRATED[(model, samples)])
    done = max((n for (m, prefix) in _CALIBRATED if m == model and samples[:len(prefix)] == prefix
                for n in [len(prefix)]), default=0)
    previous = copy.deepcopy(_CALIBRATED[(model, samples[:done])]) if done else None
    with stage("calibration tflite"):
        q = quantizer.Quantizer(bytearray(content))
        q.load_quantization_recipe(list(aiq_recipes.static_wi8_ai8()) + _FLOAT_IO)
        signatures = Interpreter(model_content=bytes(content)).get_signature_list()
        key = next(iter(signatures))
        names = signatures[key]["inputs"]
        result = q.calibrate({key: [feeds(s, names) for s in calibration[done:]]},
                             previous_calibration_result=previous, num_threads=os.cpu_count() or 1)
    _CALIBRATED[(model, samples)] = copy.deepcopy(result)
    return result


def widen_ranges(qsvs: dict[str, Any]) -> dict[str, Any]:
    """Give every calibrated range a span of at least ``MIN_RANGE``. A channel gate whose
    ReLU never fires is calibrated to [0, 0]; its scale then underflows to ~1e-12, the
    bias after it to ~1e-15, and XNNPACK aborts the whole process when it loads such a
    model (seen on trained MAXIM-tiny at 128x128)."""
    for qsv in qsvs.values():
        if isinstance(qsv, dict) and "min" in qsv and "max" in qsv:
            low, high = np.asarray(qsv["min"], np.float32), np.asarray(qsv["max"], np.float32)
            short = (high - low) < MIN_RANGE
            if np.any(short):
                centre = (high + low) / 2
                qsv["min"] = np.where(short, np.minimum(low, centre - MIN_RANGE / 2), low).astype(np.float32)
                qsv["max"] = np.where(short, np.maximum(high, centre + MIN_RANGE / 2), high).astype(np.float32)
    return qsvs


def check_scales(content: bytes) -> None:
    """Refuse a quantized model with a degenerate (tiny or non-finite) scale before any
    interpreter loads it: the runtime would abort the process, not raise."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfu

    model = tfu.read_model(bytearray(content))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if q is None or q.scale is None or not len(q.scale):
                continue
            scale = np.asarray(q.scale)
            if not np.all(np.isfinite(scale)) or np.any(scale < MIN_SCALE):
                name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
                raise ValueError(f"degenerate quantization scale {float(np.min(scale)):.3g} on tensor {name[-80:]}")


def _write(content: bytes, out_path: str | Path, metadata: dict[str, Any]) -> None:
    from edgezoo.export.contract import metadata_json
    from edgezoo.export.tflite_export import embed_metadata

    with atomic_path(out_path) as tmp:
        tmp.write_bytes(bytes(embed_metadata(content, metadata_json(metadata))))


def to_fp16(fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any]) -> Reduced:
    """The fp32 .tflite with fp16 weights; written atomically."""
    _write(_quantize(Path(fp32_path).read_bytes(), _FP16_RECIPE, None), out_path, metadata)
    return Reduced(
        tool_versions=_versions(),
        quantization={"method": "fp16-weights", "tool": "ai-edge-quantizer float_casting",
                      "compute": "fp32 on CPU (XNNPACK dequantizes the weights once); fp16 on GPU delegates"},
    )


def to_int8(
    fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any], calibration: Sequence[Sample],
    recipe: Int8Recipe, work: str | Path | None = None,
) -> Reduced:
    """Quantize the fp32 .tflite by ``recipe`` (``static`` or ``dynamic-range``); write atomically."""
    from ai_edge_quantizer import recipe as aiq_recipes

    content = Path(fp32_path).read_bytes()
    selected = sensitive.select(graph_ops(content), recipe.float_layers)
    floats = _float_entries(sensitive.union(selected))
    record: dict[str, Any] = {"method": recipe.method, "tool": "ai-edge-quantizer", "weights": "int8 symmetric per-channel"}
    if recipe.method == "static":
        if recipe.calibration != "minmax":
            raise ValueError(f"AI Edge Quantizer calibrates activations by min-max only, not {recipe.calibration!r}")
        arrays = list(calibration)[: recipe.images] if recipe.images else list(calibration)
        plan = list(aiq_recipes.static_wi8_ai8()) + _FLOAT_IO + floats
        quantized = _quantize(content, plan, arrays)
        record.update(activations="int8 asymmetric per-tensor, static", calibration="minmax", images=len(arrays),
                      io="float32 (quantize/dequantize at the graph edges)")
    elif recipe.method == "dynamic-range":
        quantized = _quantize(content, list(aiq_recipes.dynamic_wi8_afp32()) + floats, None)
        record.update(activations="float32, quantized per call (dynamic range)", calibration="none")
    else:
        raise ValueError(f"unknown TFLite int8 method {recipe.method!r}: static or dynamic-range")
    _write(quantized, out_path, metadata)
    record["float_layers"] = sensitive.summary(selected)
    record["remedy"] = recipe.remedy
    return Reduced(tool_versions=_versions(), quantization=record)


def _versions() -> dict[str, str]:
    from edgezoo.export.capture import tool_versions

    return tool_versions("ai-edge-quantizer", "ai-edge-litert", "litert-torch")
