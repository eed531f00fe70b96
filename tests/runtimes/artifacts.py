"""Real artifacts for the runtime tests, built once per test session.

With the export pipeline present (``edgezoo.export.pipeline.export_model``) the tests use
it; until then (or if it fails) they build the same artifacts directly with
torch.onnx / openvino.convert_model / litert_torch and write a manifest by hand.
Also: a tiny convolution-only ONNX model built with ``onnx.helper`` (no torch), whose
tiled output must equal its whole-image output away from nothing but float noise.
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


def build_with_torch(out: Path, size: int, pretrained: bool = False, formats: tuple[str, ...] = ("onnx", "tflite", "openvino")) -> Manifest:
    """The fallback builder: fp32 ONNX (dynamic H, W), OpenVINO IR and TFLite (static)."""
    import torch

    from edgezoo.zoo import create_model, get_entry

    entry = get_entry(MODEL)
    model = create_model(MODEL, pretrained=pretrained)
    m = entry.input_spec.multiple_of
    x = torch.rand(1, 3, size, size)
    out.mkdir(parents=True, exist_ok=True)
    arts = []
    if "onnx" in formats and have("onnxruntime") and have("onnxscript"):
        h, w = torch.export.Dim("H", min=1, max=64), torch.export.Dim("W", min=1, max=64)
        torch.onnx.export(model, (x,), str(out / "model-dynamic.onnx"), dynamo=True, input_names=["image"],
                          output_names=["restored"], dynamic_shapes={"image": {2: m * h, 3: m * w}},
                          external_data=False)
        arts.append(_artifact(out, "model-dynamic.onnx", "onnx", [1, 3, "H", "W"], False))
    if "openvino" in formats and have("openvino"):
        import openvino as ov

        ov.save_model(ov.convert_model(model, example_input=x, input=[1, 3, size, size]), str(out / "model.xml"))
        arts.append(_artifact(out, "model.xml", "openvino", [1, 3, size, size], True))
    if "tflite" in formats and have("litert_torch"):
        import litert_torch

        litert_torch.convert(model, (x,)).export(str(out / "model.tflite"))
        arts.append(_artifact(out, "model.tflite", "tflite", [1, 3, size, size], True))
    params = sum(p.numel() for p in model.parameters())
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    gflops_per_mpix = counter.get_total_flops() / 1e9 / (size * size / 1e6)
    manifest = Manifest.model_validate({
        "name": MODEL, "family": "maxim", "task": "denoise", "paper": {"title": entry.paper.title, "url": entry.paper.url},
        "config": {}, "params": params, "gflops_per_mpix": round(gflops_per_mpix, 2),
        "io": {"inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "multiple_of": m}],
               "outputs": [{"name": "restored", "shape": [1, 3, "H", "W"]}]},
        "preprocessing": {"pad_to_multiple_of": m},
        "artifacts": arts,
    })
    manifest.save(out / "manifest.yaml")
    return manifest


def build_export(out: Path, size: int = 64, pretrained: bool = False,
                 formats: tuple[str, ...] = ("onnx", "tflite", "openvino")) -> Path:
    """An export dir of maxim-tiny-denoise at ``size`` (fp32; ONNX static and dynamic)."""
    if have("edgezoo.export.pipeline"):
        from edgezoo.export.pipeline import export_model

        export_model(MODEL, formats=list(formats), precisions=["fp32"], out_dir=out,
                     height=size, width=size, pretrained=pretrained)
    else:
        build_with_torch(out, size, pretrained, formats)
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
