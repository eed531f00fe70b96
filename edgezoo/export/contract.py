"""The I/O contract of an exported model, and the metadata every artifact carries
inside itself (ONNX metadata_props, TFLite flatbuffer metadata, Core ML user metadata,
OpenVINO rt_info), so that an app holding only the file can still feed it correctly."""

from __future__ import annotations

import json
from typing import Any

from edgezoo import __version__
from edgezoo.errors import ArtifactIntegrityError
from edgezoo.manifests.schema import SCHEMA_VERSION, IOContract, Preprocessing

METADATA_KEY = "edgezoo"  # the key (or metadata name) under which every format stores the JSON


def io_contract(entry: Any, height: int, width: int, dynamic: bool = False, component: str | None = None) -> IOContract:
    """The I/O contract of a component (default: the one the model's program calls), at
    ``height`` x ``width`` of the model's input (symbolic ``"H"``/``"W"`` sides with
    ``dynamic``), from its task protocol."""
    if component is None:
        return entry.protocol.io(entry, height, width, dynamic)
    return entry.protocol.io(entry, height, width, dynamic, component)


def exported_components(entry: Any) -> list[str | None]:
    """The components an export builds artifacts of: each by name for a model of several
    (a predictor and a denoiser), else [None], the one the program calls."""
    components = entry.spec().components
    return [c.name for c in components] if len(components) > 1 else [None]


def input_names(io: dict[str, Any] | IOContract) -> list[str]:
    """The contract's input names in call order."""
    data = io.model_dump(mode="json") if isinstance(io, IOContract) else io
    return [t["name"] for t in data["inputs"]]


def output_names(io: dict[str, Any] | IOContract) -> list[str]:
    """The contract's output names in order."""
    data = io.model_dump(mode="json") if isinstance(io, IOContract) else io
    return [t["name"] for t in data["outputs"]]


def preprocessing(entry: Any) -> Preprocessing:
    """uint8 RGB -> float32 [0, 1] NCHW, reflect-pad to the size multiple, clip the output to [0, 1]."""
    spec = entry.input_spec
    low, high = spec.value_range
    return Preprocessing(
        color=spec.color, scale=(high - low) / 255.0, layout=spec.layout,
        pad_to_multiple_of=spec.multiple_of, pad_mode="reflect", clip_output=(low, high),
    )


def artifact_metadata(
    entry: Any, io: IOContract, prep: Preprocessing, fmt: str, precision: str, weights_sha256: str | None = None,
    component: str | None = None,
) -> dict[str, Any]:
    """What an artifact says about itself: model, component (of a model of several),
    task, contract, precision, provenance."""
    return {
        **({"component": component} if component else {}),
        "schema_version": SCHEMA_VERSION,
        "edgezoo_version": __version__,
        "model": entry.name,
        "family": entry.family,
        "task": entry.task,
        "description": entry.description,
        "paper": entry.paper.url,
        "licence": entry.licence,
        "format": fmt,
        "precision": precision,
        "io": io.model_dump(mode="json"),
        "spec": entry.spec().model_dump(mode="json"),
        "preprocessing": prep.model_dump(mode="json"),
        "weights_sha256": weights_sha256,
    }


def metadata_json(metadata: dict[str, Any]) -> str:
    """The compact JSON text stored inside artifacts."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def parse_metadata(text: str | bytes | None, where: str) -> dict[str, Any]:
    """Parse the embedded JSON, or raise :class:`ArtifactIntegrityError` naming ``where``."""
    if text is None:
        raise ArtifactIntegrityError(f"{where} carries no '{METADATA_KEY}' metadata: it was not exported by edgezoo; re-export it")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ArtifactIntegrityError(f"{where}: its '{METADATA_KEY}' metadata is not valid JSON; re-export it") from None
    if not isinstance(data, dict) or "model" not in data or "io" not in data:
        raise ArtifactIntegrityError(f"{where}: its '{METADATA_KEY}' metadata lacks the model contract; re-export it")
    return data
