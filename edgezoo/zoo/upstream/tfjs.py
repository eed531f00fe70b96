"""TF.js graph models on disk: read and write ``model.json`` plus its weight shards.

A TF.js graph model is a ``model.json`` (the TensorFlow graph as JSON nodes and a
``weightsManifest``) and binary shards. Each manifest group's shards, concatenated in
order, hold that group's tensors back to back in manifest order: float32/int32 as 4
little-endian bytes, bool as 1, and quantized tensors as uint8/uint16 codes
(``value = code * scale + min``) or float16. Plain numpy; no TensorFlow.

Sources accepted everywhere: an npm tarball (``npm pack`` output), an unpacked package
folder (with ``models/model.json``), a folder holding ``model.json``, or ``model.json``.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.files import atomic_write_bytes, atomic_write_text

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


@dataclass
class TfjsGraph:
    """A TF.js graph model in memory: its nodes by name, its weights by name, and the
    files of the package it came from (name -> bytes; assets, sources)."""

    nodes: dict[str, dict[str, Any]]
    weights: dict[str, np.ndarray]
    signature: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def consumers(self) -> dict[str, list[dict[str, Any]]]:
        """Node name -> the nodes that read it (control inputs excluded)."""
        readers: dict[str, list[dict[str, Any]]] = {}
        for node in self.nodes.values():
            for source in node.get("input", []):
                if not source.startswith("^"):
                    readers.setdefault(source.split(":")[0], []).append(node)
        return readers


def _decode(spec: dict[str, Any], buffer: memoryview, offset: int) -> tuple[np.ndarray, int]:
    shape = [int(s) for s in spec["shape"]]
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    if quant:
        qtype = _QUANTIZED.get(quant.get("dtype"))
        if qtype is None:
            raise BadInputError(f"weight {spec['name']} uses quantization {quant.get('dtype')!r}, which edgezoo cannot read")
        size = count * np.dtype(qtype).itemsize
        codes = np.frombuffer(buffer[offset:offset + size], dtype=np.dtype(qtype).newbyteorder("<"), count=count)
        if qtype is np.float16:
            values = codes.astype(np.float32)
        else:
            values = codes.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        target = _DTYPES.get(spec.get("dtype", "float32"), np.float32)
        return values.astype(target).reshape(shape), offset + size
    dtype = _DTYPES.get(spec.get("dtype", "float32"))
    if dtype is None:
        raise BadInputError(f"weight {spec['name']} has dtype {spec.get('dtype')!r}, which edgezoo cannot read")
    size = count * np.dtype(dtype).itemsize
    if offset + size > len(buffer):
        raise BadInputError(f"the weight shards end before weight {spec['name']}: the package is truncated; fetch it again")
    values = np.frombuffer(buffer[offset:offset + size], dtype=np.dtype(dtype).newbyteorder("<"), count=count)
    return values.reshape(shape).copy(), offset + size


def decode_weights(manifest: list[dict[str, Any]], read_shard: Any) -> dict[str, np.ndarray]:
    """Decode every tensor of a ``weightsManifest``; ``read_shard(path) -> bytes``."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        buffer = memoryview(b"".join(read_shard(p) for p in group["paths"]))
        offset = 0
        for spec in group["weights"]:
            weights[spec["name"]], offset = _decode(spec, buffer, offset)
        if offset != len(buffer):
            raise BadInputError(f"the weight shards hold {len(buffer) - offset} bytes more than their manifest lists; "
                                "the package is corrupt or mixed with another; fetch it again")
    return weights


def _package_files(source: Path) -> dict[str, bytes]:
    """Every file of a package as relative path -> bytes, from a tarball or a folder;
    paths are relative to the folder that holds ``model.json``'s package root."""
    if source.is_file() and source.name != "model.json":
        try:
            with tarfile.open(source) as tar:
                return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        except tarfile.TarError:
            raise BadInputError(f"{source} is neither a model.json nor an npm tarball (.tgz)") from None
    root = source.parent if source.is_file() else source
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def read_graph(source: str | Path) -> TfjsGraph:
    """Read a TF.js graph model from an npm tarball, a package folder, a ``models/``
    folder or a ``model.json`` path."""
    source = Path(source)
    if not source.exists():
        raise BadInputError(f"{source} does not exist; pass the .tgz from `npm pack` or the unpacked package folder")
    files = _package_files(source)
    candidates = sorted((k for k in files if k == "model.json" or k.endswith("/model.json")), key=len)
    if not candidates:
        raise BadInputError(f"{source} holds no model.json; pass the .tgz from `npm pack` or the unpacked package folder")
    model_path = candidates[0]
    base = model_path[: -len("model.json")]
    try:
        model = json.loads(files[model_path])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{source}: {model_path} is not valid JSON ({exc})") from None
    if model.get("format") != "graph-model" or "weightsManifest" not in model:
        raise BadInputError(f"{source}: {model_path} is not a TF.js graph model (format {model.get('format')!r})")

    def read_shard(path: str) -> bytes:
        key = base + path
        if key not in files:
            raise BadInputError(f"{source}: weight shard {key} is missing; the package is incomplete, fetch it again")
        return files[key]

    weights = decode_weights(model["weightsManifest"], read_shard)
    nodes = {n["name"]: n for n in model.get("modelTopology", {}).get("node", [])}
    package_root = model_path.split("/")[0] + "/" if model_path.startswith("package/") else ""
    assets = {k[len(package_root):]: v for k, v in files.items() if not k.endswith(".bin") and k != model_path}
    return TfjsGraph(nodes=nodes, weights=weights, signature=model.get("signature", {}), files=assets)


def write_graph(
    folder: str | Path, nodes: list[dict[str, Any]], weights: dict[str, np.ndarray],
    shard_bytes: int = 4 << 20, signature: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.json`` and float32/int32 shards (``group1-shardKofN.bin``) into
    ``folder``, as the TF.js converter lays them out; returns the ``model.json`` path."""
    folder = Path(folder)
    specs, blobs = [], []
    for name, value in weights.items():
        value = np.asarray(value)
        dtype = "int32" if np.issubdtype(value.dtype, np.integer) else "float32"
        specs.append({"name": name, "shape": list(value.shape), "dtype": dtype})
        blobs.append(np.ascontiguousarray(value, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<")).tobytes())
    data = b"".join(blobs)
    count = max(1, -(-len(data) // shard_bytes))
    paths = [f"group1-shard{k + 1}of{count}.bin" for k in range(count)]
    for k, path in enumerate(paths):
        atomic_write_bytes(folder / path, data[k * shard_bytes:(k + 1) * shard_bytes])
    model = {
        "format": "graph-model", "generatedBy": "edgezoo", "convertedBy": "edgezoo.zoo.upstream.tfjs",
        "signature": signature or {}, "modelTopology": {"node": nodes, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    return atomic_write_text(folder / "model.json", json.dumps(model))


def pack_npm(folder: str | Path, tarball: str | Path) -> Path:
    """Tar ``folder`` as ``npm pack`` does (every entry under ``package/``)."""
    folder, tarball = Path(folder), Path(tarball)
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname="package/" + path.relative_to(folder).as_posix())
    return atomic_write_bytes(tarball, stream.getvalue())
