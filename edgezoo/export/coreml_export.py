"""Core ML ML Program through coremltools from a ``torch.export`` program, with the
contract in the model's user-defined metadata. Saved as a ``.mlpackage`` directory.
Prediction needs macOS; elsewhere :func:`inspect_package` reads the spec back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgezoo.export.capture import require_tool, tool_versions
from edgezoo.export.contract import METADATA_KEY, input_names, metadata_json, output_names, parse_metadata
from edgezoo.export.formats import check_precision
from edgezoo.export.validators import COREML_PACKAGE_ENTRIES
from edgezoo.files import atomic_path, remove_path

FORMAT = "coreml"
PRECISIONS: tuple[str, ...] = ("fp32",)
DYNAMIC = False
DEPLOYMENT_TARGET = "iOS16"  # ML Programs with fp32 compute; macOS 13 / iOS 16 and later


def convert(
    model: Any, example: Any, out_path: str | Path, metadata: dict[str, Any], precision: str = "fp32",
    image_io: bool = False,
) -> dict[str, str]:
    """Convert ``model`` traced on ``example`` (inputs by contract name) to the ``.mlpackage`` ``out_path``
    atomically; return tool versions.

    ``image_io``: inputs and outputs with the ``image`` role become Core ML images
    (``CVPixelBuffer`` in an app) instead of multi-arrays: an input image's pixels are
    scaled into the contract's range by Core ML, and ``model`` must return image outputs
    as pixel values in [0, 255] (an app bundle wraps the network to do so)."""
    check_precision(FORMAT, precision, PRECISIONS)
    names, outputs = input_names(metadata["io"]), output_names(metadata["io"])
    require_tool("coremltools", FORMAT, "coreml")
    import coremltools as ct
    import numpy as np
    import torch

    from edgezoo.export.signature import ContractModule, example_tensors

    tensors = example_tensors(example, names)
    program = torch.export.export(ContractModule(model, names, outputs).eval(), tuple(tensors.values()))
    program = program.run_decompositions({})
    specs = {t["name"]: t for t in metadata["io"]["inputs"] + metadata["io"]["outputs"]}

    def is_image(name: str) -> bool:
        return image_io and specs.get(name, {}).get("role") == "image"

    mlmodel = ct.convert(
        program,
        inputs=[_image_type(ct, n, tuple(t.shape), specs[n]) if is_image(n) else
                ct.TensorType(name=n, shape=tuple(t.shape), dtype=np.dtype(str(t.dtype).removeprefix("torch.")).type)
                for n, t in tensors.items()],
        outputs=[ct.ImageType(name=n, color_layout=_color_layout(ct, specs[n])) if is_image(n) else ct.TensorType(name=n)
                 for n in outputs],
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
    )
    mlmodel.user_defined_metadata[METADATA_KEY] = metadata_json(metadata)
    mlmodel.author = "edgezoo"
    mlmodel.license = str(metadata.get("licence", ""))
    mlmodel.short_description = str(metadata.get("description") or metadata.get("model", ""))
    mlmodel.version = str(metadata.get("edgezoo_version", ""))
    io = metadata.get("io", {})
    for spec in io.get("inputs", []):
        mlmodel.input_description[spec["name"]] = _describe_image(spec) if is_image(spec["name"]) else _describe(spec)
    for spec in io.get("outputs", []):
        mlmodel.output_description[spec["name"]] = _describe_image(spec) if is_image(spec["name"]) else _describe(spec)
    save_package(mlmodel, out_path)
    return tool_versions("torch", "coremltools", target=DEPLOYMENT_TARGET)


def _color_layout(ct: Any, spec: dict[str, Any]) -> Any:
    return ct.colorlayout.GRAYSCALE if spec.get("color") == "L" else ct.colorlayout.RGB


def _image_type(ct: Any, name: str, shape: tuple[int, ...], spec: dict[str, Any]) -> Any:
    """An image input whose 0-255 pixels Core ML maps into the contract's range."""
    low, high = spec.get("range") or (0.0, 1.0)
    scale = (high - low) / 255.0
    bias = low if spec.get("color") == "L" else [low] * int(shape[1])
    return ct.ImageType(name=name, shape=shape, scale=scale, bias=bias, color_layout=_color_layout(ct, spec))


def save_package(mlmodel: Any, out_path: str | Path) -> Path:
    """Save ``mlmodel`` as the ``.mlpackage`` ``out_path`` atomically, holding only what
    an app needs: ``Manifest.json`` and ``Data/``. coremltools adds
    ``executorch_debug_handle_mapping.json`` (a map from ops to torch.export debug
    handles, for ExecuTorch's tools) beside them for programs it converted from
    ``torch.export``; it is removed before the package is moved into place."""
    with atomic_path(out_path) as tmp:
        mlmodel.save(str(tmp))
        for entry in tmp.iterdir():
            if entry.name not in COREML_PACKAGE_ENTRIES:
                remove_path(entry)
    return Path(out_path)


def _describe(spec: dict[str, Any]) -> str:
    low, high = spec.get("range") or (0.0, 1.0)
    return f"{spec.get('color', 'RGB')} {spec.get('layout', 'NCHW')} {spec.get('dtype', 'float32')} in [{low:g}, {high:g}], shape {spec['shape']}"


def _describe_image(spec: dict[str, Any]) -> str:
    sides = "x".join(str(d) for d in spec["shape"][-2:])
    return f"{'grey' if spec.get('color') == 'L' else 'RGB'} image, {sides} pixels"


def inspect_package(path: str | Path) -> dict[str, Any]:
    """Load a package's spec without compiling it (works on Linux): input and output
    names and shapes, and the embedded contract."""
    require_tool("coremltools", FORMAT, "coreml")
    from edgezoo.errors import ArtifactIntegrityError
    from edgezoo.export.capture import captured_output

    try:
        with captured_output():  # coremltools reports at import what it cannot do on this host
            import coremltools as ct

            spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as exc:  # coremltools raises several untyped errors for damaged packages
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ArtifactIntegrityError(f"coremltools cannot read {Path(path).name}: {first}; re-export it") from None

    def tensors(features: Any) -> list[tuple[str, list[int]]]:
        return [(f.name, [int(d) for d in f.type.multiArrayType.shape]) for f in features]

    user = dict(spec.description.metadata.userDefined)
    features = list(spec.description.input) + list(spec.description.output)
    return {
        "feature_types": {f.name: f.type.WhichOneof("Type") for f in features},
        "inputs": tensors(spec.description.input),
        "outputs": tensors(spec.description.output),
        "metadata": parse_metadata(user.get(METADATA_KEY), Path(path).name),
        "author": spec.description.metadata.author,
        "licence": spec.description.metadata.license,
        "specification_version": int(spec.specificationVersion),
    }


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The contract embedded in a ``.mlpackage``."""
    return inspect_package(path)["metadata"]
