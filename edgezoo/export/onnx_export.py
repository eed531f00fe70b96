"""ONNX through the torch.onnx dynamo exporter (opset 18), with the contract in
``metadata_props``. Static by default; ``dynamic_multiple_of`` makes H and W dynamic
(each a multiple of that number, which the model's partitions need)."""

from __future__ import annotations


from pathlib import Path
from typing import Any

from edgezoo.export.capture import require_tool, tool_versions
from edgezoo.export.contract import METADATA_KEY, input_names, metadata_json, output_names, parse_metadata
from edgezoo.export.formats import check_precision
from edgezoo.files import atomic_path
from edgezoo.tasks.feeds import split_symbol

FORMAT = "onnx"
PRECISIONS: tuple[str, ...] = ("fp32",)
DYNAMIC = True  # this format can also be exported with dynamic H and W
OPSET = 18  # the oldest opset with everything MAXIM needs; runtimes from 2023 on read it
MAX_SIDE = 8192  # upper bound on a dynamic side; torch.export needs one


def convert(
    model: Any, example: Any, out_path: str | Path, metadata: dict[str, Any], precision: str = "fp32",
    *, dynamic_multiple_of: int | None = None,
) -> dict[str, str]:
    """Export ``model`` traced on ``example`` (its inputs by contract name) to
    ``out_path`` atomically and return the tool versions. With ``dynamic_multiple_of``
    every symbolic dim of the contract (``metadata["io"]``, e.g. ``H``, ``W``) is
    dynamic, a multiple of that number."""
    check_precision(FORMAT, precision, PRECISIONS)
    names, outputs = input_names(metadata["io"]), output_names(metadata["io"])
    require_tool("onnxscript", FORMAT, "onnx")
    import torch

    from edgezoo.export.signature import ContractModule, example_tensors

    tensors = example_tensors(example, names)
    dynamic_shapes = None
    if dynamic_multiple_of:
        dynamic_shapes, tensors = _dynamic_shapes(metadata["io"]["inputs"], tensors, int(dynamic_multiple_of))
    program = torch.onnx.export(
        ContractModule(model, names, outputs).eval(), tuple(tensors.values()), dynamo=True, opset_version=OPSET,
        input_names=names, output_names=outputs, dynamic_shapes=dynamic_shapes,
        external_data=False, verbose=False,
    )
    _strip_debug_info(program.model)
    program.model.metadata_props[METADATA_KEY] = metadata_json(metadata)
    program.model.doc_string = f"{metadata.get('model', '')}: {metadata.get('description', '')}".strip(": ")
    program.model.producer_name = "edgezoo"
    program.model.producer_version = str(metadata.get("edgezoo_version", ""))
    with atomic_path(out_path) as tmp:
        program.save(tmp, external_data=False)
    return tool_versions("torch", "onnx", "onnxscript", opset=str(OPSET))


def _dynamic_shapes(
    inputs: list[dict[str, Any]], tensors: dict[str, Any], m: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """torch.export dims for the contract's symbolic dims (one ``Dim`` per symbol,
    shared by every input that has it), and example tensors at least ``2 * m`` along
    them: torch.export specializes a dim whose example value is 1."""
    import torch

    dims: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    grown = dict(tensors)
    for spec in inputs:
        name, shape = spec["name"], spec["shape"]
        per_input = {}
        for axis, dim in enumerate(shape):
            if isinstance(dim, str):
                if dim not in dims:
                    # "4H": four times H (a x4 output's side), derived from H's dim
                    factor, base = split_symbol(dim)
                    if base not in dims:
                        dims[base] = m * torch.export.Dim(base, min=1, max=MAX_SIDE // m)
                    if factor != 1:
                        dims[dim] = factor * dims[base]
                per_input[axis] = dims[dim]
        shapes[name] = per_input or None
        example = tensors[name]
        if per_input and any(example.shape[axis] < 2 * m for axis in per_input):
            size = [max(s, 2 * m) if axis in per_input else s for axis, s in enumerate(example.shape)]
            grown[name] = torch.rand(*size).to(example.dtype) if example.is_floating_point() \
                else torch.zeros(*size, dtype=example.dtype)
    return shapes, grown


def _strip_debug_info(model: Any) -> None:
    """Drop the exporter's per-node debug records (stack traces with this machine's
    source paths, FX node text): they made MAXIM's file three times its weights."""
    import onnx_ir as ir

    for node in ir.traversal.RecursiveGraphIterator(model.graph):
        node.metadata_props.clear()


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The contract embedded in an ONNX file's ``metadata_props``."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    return parse_metadata(props.get(METADATA_KEY), Path(path).name)
