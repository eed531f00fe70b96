"""TFLite (LiteRT) through litert-torch, with the contract stored as flatbuffer
metadata named ``edgezoo`` (the slot TFLite keeps for model metadata; the runtime
ignores names it does not know). Signature ``serving_default``: the contract's inputs -> its outputs, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.export.capture import require_tool, tool_versions
from edgezoo.export.contract import METADATA_KEY, input_names, metadata_json, output_names, parse_metadata
from edgezoo.export.formats import check_precision
from edgezoo.files import atomic_path

FORMAT = "tflite"
PRECISIONS: tuple[str, ...] = ("fp32",)
DYNAMIC = False


def convert(
    model: Any, example: Any, out_path: str | Path, metadata: dict[str, Any], precision: str = "fp32",
) -> dict[str, str]:
    """Convert ``model`` traced on ``example`` (its inputs by contract name) to ``out_path``
    atomically; return tool versions."""
    check_precision(FORMAT, precision, PRECISIONS)
    names, outputs = input_names(metadata["io"]), output_names(metadata["io"])
    require_tool("litert_torch", FORMAT, "tflite")

    from edgezoo.export.signature import ContractModule, example_tensors

    wrapped = ContractModule(model, names, outputs, named_outputs=True).eval()
    write_converted(wrapped, example_tensors(example, names), out_path, metadata)
    return tool_versions("torch", "litert-torch", "ai-edge-litert")


def write_converted(module: Any, sample_kwargs: dict[str, Any], out_path: str | Path, metadata: dict[str, Any]) -> Path:
    """Convert ``module`` (its ``forward`` takes ``sample_kwargs`` by name and returns a
    dict by output name) with litert-torch and write it, with ``metadata`` embedded, to
    ``out_path`` atomically. The step :func:`convert` ends with, shared by callers that
    wrap the model differently (an app bundle's uint8 NHWC signature)."""
    require_tool("litert_torch", FORMAT, "tflite")
    import litert_torch

    content = litert_torch.convert(module, sample_kwargs=sample_kwargs).model_content()
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(bytes(embed_metadata(content, metadata_json(metadata))))
    return Path(out_path)


def embed_metadata(flatbuffer: bytes, text: str) -> bytearray:
    """Return the model with ``text`` stored as metadata ``edgezoo`` (replacing an old one)."""
    return embed_metadata_entry(flatbuffer, METADATA_KEY, text.encode("utf-8"))


def embed_metadata_entry(flatbuffer: bytes, name: str, payload: bytes, description: str | None = None) -> bytearray:
    """Return the model with ``payload`` stored as metadata entry ``name`` (replacing an
    old one of that name); ``description`` replaces the model's description (else an
    empty one becomes ``edgezoo``)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    if description is not None:
        model.description = description
    elif not model.description:
        model.description = "edgezoo"
    return flatbuffer_utils.convert_object_to_bytearray(model)


def _name(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The contract embedded in a .tflite file (read without unpacking the weights)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    try:
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _name(entry.Name()) == METADATA_KEY:
                buffer = model.Buffers(entry.Buffer())
                if buffer.Offset():  # large models keep buffers after the flatbuffer
                    raw = data[buffer.Offset(): buffer.Offset() + buffer.Size()]
                else:
                    raw = buffer.DataAsNumpy().tobytes()
                return parse_metadata(raw.decode("utf-8"), Path(path).name)
    except (IndexError, ValueError, AttributeError, TypeError) as exc:  # a damaged flatbuffer
        from edgezoo.errors import ArtifactIntegrityError

        raise ArtifactIntegrityError(f"{Path(path).name} is not a readable TFLite file ({exc.__class__.__name__}); re-export it") from None
    return parse_metadata(None, Path(path).name)
