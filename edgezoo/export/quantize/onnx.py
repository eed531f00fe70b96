"""ONNX at fp16 and int8, from the fp32 ONNX artifact, with ONNX Runtime's own tools.

- fp16: ``onnxruntime.transformers.float16.convert_float_to_float16`` with float32
  inputs and outputs kept (``keep_io_types``), so callers feed the same arrays.
- int8: ``onnxruntime.quantization.quantize_static`` in QDQ form, int8 symmetric
  per-channel weights, uint8 asymmetric per-tensor activations, calibrated on the
  calibration arrays (min-max, percentile or entropy); or ``quantize_dynamic``
  (int8 weights, activations quantized per call) as the last remedy.

The contract is written back into ``metadata_props`` with the new precision.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgezoo.export.quantize import sensitive
from edgezoo.export.quantize.calibration import Sample, feeds
from edgezoo.export.quantize.recipe import Int8Recipe, Reduced
from edgezoo.export.timing import stage
from edgezoo.files import atomic_path

FORMAT = "onnx"

# Measured on MAXIM-tiny at 256x256 (task PSNR at sigma 25 against the fp32 artifact):
# every op int8 -0.97 dB; sensitive layers float -0.88; convolutions and linears only
# -0.73 (elementwise adds and gating products are where int8 hurts most); percentile
# ranges clip what noise-like inputs need (parity 22 dB on uniform noise) and entropy
# lost more than min-max at 128x128: neither is in the ladder, both can be asked for.
# A handful of convolutions carry most of the error (at 128x128 six of 87 made two
# thirds of it), hence the measured remedy; dynamic quantization -0.27 dB.
CONV_LINEAR = ("Conv", "ConvTranspose", "Gemm", "MatMul")
INT8_LADDER: tuple[Int8Recipe, ...] = (
    Int8Recipe("static-qdq", "minmax", 32),
    Int8Recipe("static-qdq", "minmax", 32, ("io", "norm", "gates"), remedy="sensitive layers in float"),
    Int8Recipe("static-qdq", "minmax", 32, ("io", "norm", "gates"), (("ops", "conv-linear"),),
               remedy="int8 only in convolutions and linears, sensitive layers in float"),
    Int8Recipe("static-qdq", "minmax", 32, ("io", "norm", "gates"), (("ops", "conv-linear"), ("sensitive", "measured")),
               remedy="the most error-prone convolutions in float too, chosen by measured error on held-out "
                      "calibration views"),
    Int8Recipe("dynamic", "none", 0, remedy="dynamic quantization (int8 weights, activations quantized per call)"),
)

_KINDS = {
    "Conv": "conv", "ConvTranspose": "conv", "ReduceMean": "reduce_mean", "Sub": "sub", "Mul": "mul",
    "Add": "add", "Sqrt": "sqrt", "Reciprocal": "reciprocal", "Div": "div", "Pow": "pow",
    "Sigmoid": "sigmoid", "Softmax": "softmax", "LayerNormalization": "norm", "GroupNormalization": "norm",
    "InstanceNormalization": "norm", "BatchNormalization": "norm",
}


def graph_ops(model: Any) -> list[sensitive.GraphOp]:
    """The nodes of an ONNX graph (already topologically sorted) as GraphOps."""
    producers = {out: node.name for node in model.graph.node for out in node.output}
    return [
        sensitive.GraphOp(node.name, _KINDS.get(node.op_type, "other"),
                          tuple(producers[i] for i in node.input if i in producers))
        for node in model.graph.node
    ]


def _write_metadata(model: Any, metadata: dict[str, Any]) -> None:
    from edgezoo.export.contract import METADATA_KEY, metadata_json

    kept = [(p.key, p.value) for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    for key, value in kept + [(METADATA_KEY, metadata_json(metadata))]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def to_fp16(fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any]) -> Reduced:
    """Cast the fp32 ONNX to fp16 (weights and compute), float32 I/O kept; write atomically."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.load(str(fp32_path))
    present = {n.op_type for n in model.graph.node}
    model16 = convert_float_to_float16(model, keep_io_types=True)
    # the converter appends the casts of the float32 inputs after the nodes that read
    # them: ONNX Runtime does not mind, onnx.checker and other consumers reject it
    OnnxModel.graph_topological_sort(model16.graph)
    # it also leaves value_info stale where it keeps a tensor float32 (MAXIM's Resize
    # scales: an fp32 initializer annotated fp16), which strict shape inference rejects;
    # value_info is only a hint, so it is inferred afresh from the converted graph
    del model16.graph.value_info[:]
    model16 = onnx.shape_inference.infer_shapes(model16, check_type=True, strict_mode=True)
    _write_metadata(model16, metadata)
    with atomic_path(out_path) as tmp:
        onnx.save(model16, str(tmp))
    kept = sorted(present & set(DEFAULT_OP_BLOCK_LIST))
    return Reduced(
        tool_versions=_versions(),
        quantization={"method": "fp16-cast", "tool": "onnxruntime.transformers.float16", "io": "float32",
                      "float32_ops": kept},
    )


class _Reader:
    """ORT's CalibrationDataReader over arrays, with the range interface that lets
    quantize_static calibrate a few images at a time (CalibStridedMinMax): the
    calibrator otherwise holds every intermediate tensor of every image at once."""

    def __init__(self, samples: Sequence[dict[str, np.ndarray]], input_names: Sequence[str]) -> None:
        self.arrays, self.input_names = list(samples), list(input_names)
        self.start, self.end = 0, len(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, end_index

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.start >= self.end:
            return None
        self.start += 1
        return feeds(self.arrays[self.start - 1], self.input_names)

    def rewind(self) -> None:
        self.start, self.end = 0, len(self.arrays)


def prepare(fp32_path: str | Path, work: Path) -> Path:
    """ORT's recommended pre-processing (shape inference, graph clean-up) into ``work``;
    the fp32 file itself if that fails (it is an optimisation, not a requirement)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = work / "prepared.onnx"
    if not prepared.exists():
        try:
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        except Exception:  # the pre-processor raises anything; the plain model still quantizes
            return Path(fp32_path)
    return prepared


def to_int8(
    fp32_path: str | Path, out_path: str | Path, metadata: dict[str, Any], calibration: Sequence[Sample],
    recipe: Int8Recipe, work: str | Path | None = None,
) -> Reduced:
    """Quantize the fp32 ONNX by ``recipe`` and write ``out_path`` atomically.

    ``calibration`` holds samples by the contract's input names. ``work`` is a
    scratch folder kept across attempts of one export: calibration
    ranges are cached there per (method, image count), so an attempt that only keeps
    more layers in float, or quantizes fewer op types, does not calibrate again."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="edgezoo-ort-quant-") as scratch:
        work_dir = Path(work) if work is not None else Path(scratch)
        work_dir.mkdir(parents=True, exist_ok=True)
        source = prepare(fp32_path, work_dir)
        model = onnx.load(str(source), load_external_data=False)
        selected = sensitive.select(graph_ops(model), recipe.float_layers)
        exclude = sensitive.union(selected)
        record: dict[str, Any] = {"method": recipe.method, "tool": "onnxruntime.quantization",
                                  "weights": "int8 symmetric per-channel"}
        with atomic_path(out_path) as tmp:
            if recipe.method == "dynamic":
                quantize_dynamic(str(source), str(tmp), per_channel=True, weight_type=QuantType.QInt8,
                                 nodes_to_exclude=exclude)
                record.update(activations="quantized per call (dynamic)", calibration="none")
            elif recipe.method == "static-qdq":
                methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                           "entropy": CalibrationMethod.Entropy}
                if recipe.calibration not in methods:
                    raise ValueError(f"ONNX calibration is one of {', '.join(methods)}, not {recipe.calibration!r}")
                initializers = {i.name for i in model.graph.initializer}
                input_names = [i.name for i in model.graph.input if i.name not in initializers]
                arrays = list(calibration)[: recipe.images] if recipe.images else list(calibration)
                ops = recipe.option("ops")
                if ops not in (None, "conv-linear"):
                    raise ValueError(f"unknown ONNX op selection {ops!r}: conv-linear")
                op_types = list(CONV_LINEAR) if ops else None
                # One calibration per (method, images): ranges are statistics of the float model's
                # tensors, and the 'all' set covers every tensor an op selection quantizes
                cache = work_dir / f"ranges-{recipe.calibration}-{len(arrays)}.json"

                def quantize_with(target: Path, exclude: list[str], only: list[str] | None, types: Any) -> None:
                    quantize_static(
                        str(source), str(target), _Reader(arrays, input_names), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[recipe.calibration], nodes_to_exclude=exclude,
                        nodes_to_quantize=only, op_types_to_quantize=types,
                        extra_options={"CalibStridedMinMax": 1}, calibration_cache_path=cache,
                    )

                if not cache.exists():  # calibrate every tensor once, whatever this attempt quantizes
                    with stage("calibration onnx"):
                        quantize_with(work_dir / "calibrated.onnx", [], None, None)
                    (work_dir / "calibrated.onnx").unlink(missing_ok=True)

                def quantize(target: Path, exclude: list[str], only: list[str] | None = None) -> None:
                    with stage("int8 quantize onnx"):  # from the cached ranges
                        quantize_with(target, exclude, only, op_types)

                if recipe.option("sensitive") == "measured":
                    with stage("sensitivity search onnx"):
                        chosen, estimate = measured_sensitive(model, source, quantize, exclude,
                                                              task=metadata.get("task", ""), work=work_dir)
                    selected["measured"] = chosen
                    exclude = sensitive.union(selected)
                    record.update(estimate)
                quantize(tmp, exclude)
                record.update(activations="uint8 asymmetric per-tensor, static", calibration=recipe.calibration,
                              images=len(arrays), format="QDQ",
                              int8_ops="convolutions and linears" if ops else "every op ORT quantizes")
            else:
                raise ValueError(f"unknown ONNX int8 method {recipe.method!r}: static-qdq or dynamic")
            quantized = onnx.load(str(tmp))
            _write_metadata(quantized, metadata)
            onnx.save(quantized, str(tmp))
    record["float_layers"] = sensitive.summary(selected)
    record["remedy"] = recipe.remedy
    return Reduced(tool_versions=_versions(), quantization=record)


MEASURED_BUDGET_DB = 0.2  # keep the estimated task loss below this (the gate allows 0.3)
MEASURED_MAX_FRACTION = 0.5  # past half the layers in float, static int8 has lost its point
PROBE_GROUP = 8  # layers quantized together in the first, coarse round of probes


def measured_sensitive(
    model: Any, source: Path, quantize: Any, exclude: list[str], task: str, work: Path,
    validation: int = 3,
) -> tuple[list[str], dict[str, Any]]:
    """The convolutions and linears to keep in float, chosen by measurement.

    A probe quantizes some candidates (the cached calibration ranges make that cheap)
    and measures the output error against fp32 on held-out calibration views
    (:func:`~edgezoo.export.quantize.calibration.validation_pairs`, never the evaluation
    photos). Int8 errors of different layers are close to independent, so their squared
    errors add: the worst are kept in float until the rest fits in a budget of
    ``MEASURED_BUDGET_DB`` of task PSNR, measured against the fp32 model's own error on
    the same views.

    Probes cost one inference per view each, so the search is a group test: first
    groups of ``PROBE_GROUP`` layers are probed together, then the layers of the worst
    groups one by one, until the groups left unresolved hold less error than the
    budget (none of their layers could be worth keeping in float before every resolved
    one that is worse). A fraction of the probes one layer at a time would take; the
    chosen set is then confirmed by the int8 gates like any other recipe. Returns the
    names and the estimate for the record."""
    import onnxruntime as ort

    from edgezoo.export.quantize.calibration import validation_pairs
    from edgezoo.tasks.restore import GATED_TASKS

    if task not in GATED_TASKS:  # the budget is task PSNR against clean photos
        raise ValueError(f"the measured remedy estimates restoration PSNR; it has no estimate for task '{task}'")

    def session(path: Path) -> Any:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # threads that spin while waiting starve each other on a busy host (2x slower here)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    graph_input = model.graph.input[0]
    height, width = (d.dim_value for d in graph_input.type.tensor_type.shape.dim[2:4])
    pairs = validation_pairs(height, width, validation, task=task)
    fp32 = session(source)
    refs = [fp32.run(None, {graph_input.name: x})[0] for x, _ in pairs]
    fp32_mse = float(np.mean([np.mean((r - clean) ** 2) for r, (_, clean) in zip(refs, pairs)]))
    budget = fp32_mse * (10 ** (MEASURED_BUDGET_DB / 10) - 1)
    candidates = [n.name for n in model.graph.node if n.op_type in CONV_LINEAR and n.name not in set(exclude)]
    probe = work / "probe.onnx"
    probes = 0

    def probe_error(names: list[str]) -> float:
        nonlocal probes
        probes += 1
        quantize(probe, exclude, only=names)
        run = session(probe)
        return float(np.mean([np.mean((run.run(None, {graph_input.name: x})[0] - r) ** 2)
                              for (x, _), r in zip(pairs, refs)]))

    groups = [candidates[i:i + PROBE_GROUP] for i in range(0, len(candidates), PROBE_GROUP)]
    unresolved = {i: (probe_error(g) if len(g) > 1 else None) for i, g in enumerate(groups)}
    errors: dict[str, float] = {}
    for i in sorted(unresolved, key=lambda i: -(unresolved[i] or np.inf)):
        if sum(e for e in unresolved.values() if e is not None) <= budget and unresolved[i] is not None:
            break
        for name in groups[i]:
            errors[name] = probe_error([name])
        unresolved.pop(i)
    probe.unlink(missing_ok=True)
    left = sum(e for e in unresolved.values() if e is not None)
    remaining, chosen = sum(errors.values()) + left, []
    for name in sorted(errors, key=errors.get, reverse=True):
        if remaining <= budget or len(chosen) >= MEASURED_MAX_FRACTION * len(candidates):
            break
        chosen.append(name)
        remaining -= errors[name]
    estimate = -10 * np.log10(1 + remaining / fp32_mse) if fp32_mse > 0 else 0.0
    return chosen, {"measured_candidates": len(candidates), "measured_float": len(chosen),
                    "measured_probes": probes, "estimated_quality_delta_db": round(float(estimate), 3)}


def _versions() -> dict[str, str]:
    from edgezoo.export.capture import tool_versions

    return tool_versions("onnx", "onnxruntime")
