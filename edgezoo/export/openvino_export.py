"""OpenVINO IR through ``openvino.convert_model``, with the contract in the model's
rt_info (``<rt_info><edgezoo value="..."/>``). The IR is two files, ``.xml`` and
``.bin``; both are written into a temporary folder and moved into place together
(the ``.bin`` first, so a reader that finds the ``.xml`` finds its weights)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgezoo.export.capture import require_tool, tool_versions
from edgezoo.export.contract import METADATA_KEY, input_names, metadata_json, output_names, parse_metadata
from edgezoo.export.formats import check_precision
from edgezoo.files import remove_path

FORMAT = "openvino"
PRECISIONS: tuple[str, ...] = ("fp32",)
DYNAMIC = False


def convert(
    model: Any, example: Any, out_path: str | Path, metadata: dict[str, Any], precision: str = "fp32",
) -> dict[str, str]:
    """Convert ``model`` traced on ``example`` (inputs by contract name) to ``out_path`` (``.xml``, with its
    ``.bin`` beside it), atomically; return tool versions."""
    check_precision(FORMAT, precision, PRECISIONS)
    names, outputs = input_names(metadata["io"]), output_names(metadata["io"])
    require_tool("openvino", FORMAT, "openvino")
    import openvino as ov

    from edgezoo.export.signature import ContractModule, example_tensors

    out_path = Path(out_path)
    if out_path.suffix != ".xml":
        raise ValueError(f"an OpenVINO IR path ends in .xml, not {out_path.name}")
    tensors = example_tensors(example, names)
    ov_model = ov.convert_model(
        ContractModule(model, names, outputs).eval(), example_input=tuple(tensors.values()),
        input=[tuple(int(d) for d in t.shape) for t in tensors.values()],
    )
    for port, name in zip(ov_model.inputs, names):
        port.get_tensor().set_names({name})
    for port, name in zip(ov_model.outputs, outputs):
        port.get_tensor().set_names({name})
    ov_model.set_rt_info(metadata_json(metadata), [METADATA_KEY])
    save_ir(ov_model, out_path, compress_to_fp16=(precision == "fp16"))
    return tool_versions("torch", "openvino")


def save_ir(ov_model: Any, out_path: str | Path, compress_to_fp16: bool = False) -> Path:
    """Write the IR pair atomically: both files into a temporary folder beside
    ``out_path``, then the ``.bin`` and last the ``.xml`` renamed into place."""
    import openvino as ov

    out_path = Path(out_path)
    if out_path.suffix != ".xml":
        raise ValueError(f"an OpenVINO IR path ends in .xml, not {out_path.name}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".partial", dir=out_path.parent))
    try:
        ov.save_model(ov_model, str(tmp_dir / out_path.name), compress_to_fp16=compress_to_fp16)
        bin_path = out_path.with_suffix(".bin")
        remove_path(out_path)  # never leave an old .xml beside a new .bin
        os.replace(tmp_dir / bin_path.name, bin_path)
        os.replace(tmp_dir / out_path.name, out_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The contract embedded in an IR's rt_info (reads the .xml only)."""
    import openvino as ov

    from edgezoo.errors import ArtifactIntegrityError

    path = Path(path)
    try:
        ov_model = ov.Core().read_model(str(path), str(path.with_suffix(".bin")))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ArtifactIntegrityError(f"OpenVINO cannot read {path.name}: {first}; re-export it") from None
    text = ov_model.get_rt_info([METADATA_KEY]).astype(str) if ov_model.has_rt_info([METADATA_KEY]) else None
    return parse_metadata(text, path.name)
