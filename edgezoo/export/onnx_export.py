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

FORMAT = "onnx"
PRECISIONS: tuple[str, ...] = ("fp32",)
DYNAMIC = True  # this format can also be exported with dynamic H and W
OPSET = 18  # the oldest opset with everything MAXIM needs; runtimes from 2023 on read it
MAX_SIDE = 8192  # upper bound on a dynamic side; torch.export needs one


def convert(
    model: Any, example: Any, out_path: str | Path, metadata: dict[str, Any], precision: str = "fp32",
    *, dynamic_multiple_of: int | None = None,
) -> dict[str, str]:
    """Export ``model`` traced on ``example`` (1, C, H, W) to ``out_path`` atomically and
    return the tool versions. With ``dynamic_multiple_of`` the sides are dynamic."""
    check_precision(FORMAT, precision, PRECISIONS)
    (input_name,), (output_name,) = input_names(metadata["io"]), output_names(metadata["io"])
    require_tool("onnxscript", FORMAT, "onnx")
    import torch

    from edgezoo.export.signature import ImageToImage

    dynamic_shapes = None
    if dynamic_multiple_of:
        m = int(dynamic_multiple_of)
        h = torch.export.Dim("H", min=1, max=MAX_SIDE // m)
        w = torch.export.Dim("W", min=1, max=MAX_SIDE // m)
        dynamic_shapes = {input_name: {2: m * h, 3: m * w}}
        # torch.export specializes a dimension whose example value is 1: trace with sides of 2 * m at least
        n, c, height, width = example.shape
        if min(height, width) < 2 * m:
            example = torch.rand(n, c, max(height, 2 * m), max(width, 2 * m), dtype=example.dtype)
    program = torch.onnx.export(
        ImageToImage(model).eval(), (example,), dynamo=True, opset_version=OPSET,
        input_names=[input_name], output_names=[output_name], dynamic_shapes=dynamic_shapes,
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
