"""The standard TFLite model metadata (``TFLITE_METADATA``), written and read with the
``flatbuffers`` package alone.

Android Studio's model binding and the TFLite Support library read a flatbuffer with
file identifier ``M001`` stored in the model's metadata entry ``TFLITE_METADATA``:
model name, description, version, author, licence, and per input and output tensor a
name, a description, its content (an image with a colour space, or a plain feature)
and its normalisation ``(x - mean) / std``. The table layout (field order) follows
tflite-support's ``metadata_schema.fbs`` (schema 1.0.0 fields only); no tflite-support
install is needed, so this works offline with what ``ai-edge-litert`` already pulls in.
Class labels go into the model file as an associated ``TENSOR_AXIS_LABELS`` file: a
zip appended to the flatbuffer, as the TFLite Support populator packs them.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Sequence

import flatbuffers
from flatbuffers import encode, number_types, table

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # the fields written here all exist since schema 1.0.0

# union and enum values of metadata_schema.fbs
CONTENT_FEATURE, CONTENT_IMAGE = 1, 2
COLOR_SPACES = {"RGB": 1, "L": 2, "GRAYSCALE": 2}
PROCESS_NORMALIZATION = 1
FILE_TENSOR_AXIS_LABELS = 2


@dataclass
class TensorDescription:
    """What the metadata says about one input or output tensor."""

    name: str
    description: str
    image: bool = False
    color: str | None = None
    height: int | None = None
    width: int | None = None
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    stats_min: list[float] = field(default_factory=list)
    stats_max: list[float] = field(default_factory=list)
    labels_file: str | None = None


@dataclass
class ModelDescription:
    """What the metadata says about the model."""

    name: str
    description: str
    version: str
    author: str
    licence: str
    inputs: list[TensorDescription]
    outputs: list[TensorDescription]


def metadata_flatbuffer(model: ModelDescription) -> bytes:
    """The ``M001`` flatbuffer of ``model`` (root table ``ModelMetadata``)."""
    b = flatbuffers.Builder(1024)

    def tensor(t: TensorDescription) -> int:
        name, description = b.CreateString(t.name), b.CreateString(t.description)
        if t.image:
            size = None
            if t.width and t.height:
                b.StartObject(2)  # ImageSize
                b.PrependUint32Slot(0, int(t.width), 0)
                b.PrependUint32Slot(1, int(t.height), 0)
                size = b.EndObject()
            b.StartObject(2)  # ImageProperties
            b.PrependInt8Slot(0, COLOR_SPACES.get((t.color or "").upper(), 0), 0)
            if size is not None:
                b.PrependUOffsetTRelativeSlot(1, size, 0)
            properties, kind = b.EndObject(), CONTENT_IMAGE
        else:
            b.StartObject(0)  # FeatureProperties
            properties, kind = b.EndObject(), CONTENT_FEATURE
        b.StartObject(3)  # Content
        b.PrependUint8Slot(0, kind, 0)
        b.PrependUOffsetTRelativeSlot(1, properties, 0)
        content = b.EndObject()
        units = None
        if t.mean and t.std:
            options = _two_float_vectors(b, t.mean, t.std)  # NormalizationOptions {mean, std}
            b.StartObject(2)  # ProcessUnit
            b.PrependUint8Slot(0, PROCESS_NORMALIZATION, 0)
            b.PrependUOffsetTRelativeSlot(1, options, 0)
            units = _offsets(b, [b.EndObject()])
        stats = None
        if t.stats_min and t.stats_max:
            stats = _two_float_vectors(b, t.stats_max, t.stats_min)  # Stats {max, min}
        files = None
        if t.labels_file:
            file_name, file_text = b.CreateString(t.labels_file), b.CreateString("class names, one a line, in output order")
            b.StartObject(4)  # AssociatedFile
            b.PrependUOffsetTRelativeSlot(0, file_name, 0)
            b.PrependUOffsetTRelativeSlot(1, file_text, 0)
            b.PrependInt8Slot(2, FILE_TENSOR_AXIS_LABELS, 0)
            files = _offsets(b, [b.EndObject()])
        b.StartObject(7)  # TensorMetadata
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependUOffsetTRelativeSlot(1, description, 0)
        b.PrependUOffsetTRelativeSlot(3, content, 0)
        for slot, value in ((4, units), (5, stats), (6, files)):
            if value is not None:
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
        return b.EndObject()

    inputs = _offsets(b, [tensor(t) for t in model.inputs])
    outputs = _offsets(b, [tensor(t) for t in model.outputs])
    sub_name = b.CreateString(model.name)
    b.StartObject(7)  # SubGraphMetadata
    b.PrependUOffsetTRelativeSlot(0, sub_name, 0)
    b.PrependUOffsetTRelativeSlot(2, inputs, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraphs = _offsets(b, [b.EndObject()])
    texts = [b.CreateString(v) for v in (model.name, model.description, model.version, model.author, model.licence,
                                         MIN_PARSER_VERSION)]
    b.StartObject(8)  # ModelMetadata
    for slot, value in zip((0, 1, 2, 4, 5, 7), texts):
        b.PrependUOffsetTRelativeSlot(slot, value, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.Finish(b.EndObject(), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _offsets(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _two_float_vectors(b: flatbuffers.Builder, first: Sequence[float], second: Sequence[float]) -> int:
    """A table whose fields 0 and 1 are float vectors (NormalizationOptions, Stats)."""
    a, c = _floats(b, first), _floats(b, second)
    b.StartObject(2)
    b.PrependUOffsetTRelativeSlot(0, a, 0)
    b.PrependUOffsetTRelativeSlot(1, c, 0)
    return b.EndObject()


def _floats(b: flatbuffers.Builder, values: Sequence[float]) -> int:
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        b.PrependFloat32(float(value))
    return b.EndVector()


def with_model_metadata(flatbuffer: bytes, model: ModelDescription, labels: dict[str, str] | None = None) -> bytes:
    """``flatbuffer`` (a .tflite) with ``model`` stored as ``TFLITE_METADATA`` (replacing
    an old entry), its description set, and ``labels`` (file name -> text) appended as
    the associated files the metadata names. Other metadata entries (edgezoo's own
    contract) are kept."""
    from edgezoo.export.tflite_export import embed_metadata_entry

    out = embed_metadata_entry(flatbuffer, METADATA_NAME, metadata_flatbuffer(model), description=model.description)
    if labels:
        buffer = io.BytesIO(bytes(out))
        buffer.seek(0, io.SEEK_END)
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
            for name in sorted(labels):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, labels[name])
        return buffer.getvalue()
    return bytes(out)


# --- reading it back (for checks; an app uses the TFLite Support metadata extractor) ------------


def read_model_metadata(data: bytes) -> dict[str, Any]:
    """The ``TFLITE_METADATA`` of a .tflite file's bytes, decoded to a dict with the
    fields this module writes; :class:`ValueError` when the model has none."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        name = entry.Name().decode() if isinstance(entry.Name(), bytes) else entry.Name()
        if name == METADATA_NAME:
            raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            description = model.Description()
            result = decode_metadata(raw)
            result["model_description"] = description.decode() if isinstance(description, bytes) else description
            return result
    raise ValueError(f"the model carries no {METADATA_NAME}")


class _Table:
    def __init__(self, buf: bytes, pos: int) -> None:
        self.t = table.Table(buf, pos)

    def _offset(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def string(self, slot: int) -> str | None:
        o = self._offset(slot)
        return self.t.String(o + self.t.Pos).decode() if o else None

    def scalar(self, slot: int, kind: Any) -> int:
        o = self._offset(slot)
        return self.t.Get(kind, o + self.t.Pos) if o else 0

    def child(self, slot: int) -> "_Table | None":
        o = self._offset(slot)
        return _Table(self.t.Bytes, self.t.Indirect(o + self.t.Pos)) if o else None

    def tables(self, slot: int) -> list["_Table"]:
        o = self._offset(slot)
        if not o:
            return []
        start, count = self.t.Vector(o), self.t.VectorLen(o)
        return [_Table(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(count)]

    def floats(self, slot: int) -> list[float]:
        o = self._offset(slot)
        if not o:
            return []
        start, count = self.t.Vector(o), self.t.VectorLen(o)
        return [self.t.Get(number_types.Float32Flags, start + 4 * i) for i in range(count)]


def decode_metadata(raw: bytes) -> dict[str, Any]:
    """A ``TFLITE_METADATA`` flatbuffer as a dict (the fields written by this module)."""
    if raw[4:8] != FILE_IDENTIFIER:
        raise ValueError(f"not a metadata flatbuffer (identifier {raw[4:8]!r}, expected {FILE_IDENTIFIER!r})")
    root = _Table(raw, encode.Get(number_types.UOffsetTFlags.packer_type, raw, 0))

    def tensor(t: _Table) -> dict[str, Any]:
        content = t.child(3)
        kind = content.scalar(0, number_types.Uint8Flags) if content else 0
        props = content.child(1) if content else None
        out: dict[str, Any] = {"name": t.string(0), "description": t.string(1),
                               "content": {CONTENT_IMAGE: "image", CONTENT_FEATURE: "feature"}.get(kind, "unknown")}
        if kind == CONTENT_IMAGE and props is not None:
            out["color_space"] = props.scalar(0, number_types.Int8Flags)
            size = props.child(1)
            if size is not None:
                out["size"] = [size.scalar(1, number_types.Uint32Flags), size.scalar(0, number_types.Uint32Flags)]
        for unit in t.tables(4):
            if unit.scalar(0, number_types.Uint8Flags) == PROCESS_NORMALIZATION and unit.child(1) is not None:
                options = unit.child(1)
                out["normalization"] = {"mean": options.floats(0), "std": options.floats(1)}
        stats = t.child(5)
        if stats is not None:
            out["stats"] = {"max": stats.floats(0), "min": stats.floats(1)}
        files = t.tables(6)
        if files:
            out["associated_files"] = [{"name": f.string(0), "type": f.scalar(2, number_types.Int8Flags)} for f in files]
        return out

    subgraphs = root.tables(3)
    return {
        "name": root.string(0), "description": root.string(1), "version": root.string(2), "author": root.string(4),
        "license": root.string(5), "min_parser_version": root.string(7),
        "inputs": [tensor(t) for t in subgraphs[0].tables(2)] if subgraphs else [],
        "outputs": [tensor(t) for t in subgraphs[0].tables(3)] if subgraphs else [],
    }
