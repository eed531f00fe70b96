"""Real artifacts for the runtime tests, built once per test session.

The zoo model's export dirs come from the export pipeline itself
(``edgezoo.export.pipeline.export_model``). Also: a tiny convolution-only ONNX model built
with ``onnx.helper`` (no torch), whose tiled output must equal its whole-image output
away from nothing but float noise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgezoo.files import sha256_file, size_bytes
from edgezoo.manifests import Manifest

MODEL = "maxim-tiny-denoise"


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _artifact(out: Path, file: str, fmt: str, shape: list, static: bool) -> dict:
    return {"format": fmt, "precision": "fp32", "file": file, "sha256": sha256_file(out / file),
            "bytes": size_bytes(out / file), "static_shape": static, "input_shape": shape}


def build_export(out: Path, size: int = 64, pretrained: bool = False,
                 formats: tuple[str, ...] = ("onnx", "tflite", "openvino")) -> Path:
    """An export dir of maxim-tiny-denoise at ``size`` (fp32; ONNX static and dynamic)."""
    from edgezoo.export.pipeline import export_model

    export_model(MODEL, formats=list(formats), precisions=["fp32"], out_dir=out,
                 height=size, width=size, pretrained=pretrained)
    return out


def conv_onnx(path: Path, size: int | None, seed: int = 0) -> None:
    """A 3-layer 3x3 convolution net (receptive field 7x7) as ONNX, no torch needed;
    ``size=None`` makes H and W dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dims = [1, 3, size or "H", size or "W"]
    nodes, inits, prev = [], [], "image"
    for i, (cin, cout) in enumerate(((3, 8), (8, 8), (8, 3))):
        w = (rng.standard_normal((cout, cin, 3, 3)) * 0.2).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(cout, np.float32), f"b{i}")]
        name = "restored" if i == 2 else f"h{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [name], pads=[1, 1, 1, 1]))
        if i < 2:
            nodes.append(helper.make_node("Relu", [name], [name + "r"]))
            name += "r"
        prev = name
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("restored", TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def conv_export(out: Path, tile: int = 64) -> Path:
    """An export dir with the conv net as a static ``tile`` x ``tile`` and a dynamic ONNX."""
    out.mkdir(parents=True, exist_ok=True)
    conv_onnx(out / "static.onnx", tile)
    conv_onnx(out / "dynamic.onnx", None)
    Manifest.model_validate({
        "name": "conv-test", "family": "test", "task": "test-conv", "paper": {"title": "-", "url": "-"},
        "config": {}, "params": 1,
        "io": {"inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "multiple_of": 8}],
               "outputs": [{"name": "restored", "shape": [1, 3, "H", "W"]}]},
        "preprocessing": {"pad_to_multiple_of": 8, "clip_output": [-1000.0, 1000.0]},
        "artifacts": [_artifact(out, "static.onnx", "onnx", [1, 3, tile, tile], True),
                      _artifact(out, "dynamic.onnx", "onnx", [1, 3, "H", "W"], False)],
    }).save(out / "manifest.yaml")
    return out
