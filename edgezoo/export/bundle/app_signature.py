"""The app-native signature of an image model: NHWC uint8 pictures in and out, as an
Android ``Bitmap`` or an iOS ``CVPixelBuffer`` holds them.

The model is wrapped in torch before conversion, so the converted graph itself does
what the contract's pre- and post-processing say: uint8 -> float in the input's range,
NHWC -> NCHW, the network, clipped to the output's range, rounded back to uint8 NHWC.
Inputs and outputs without the ``image`` role (a timestep, logits) pass unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgezoo.errors import ParityError

UINT8_SUFFIX = "_uint8_nhwc"


def image_roles(io: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(names of image inputs, names of image outputs) of an I/O contract dict."""
    return ([t["name"] for t in io["inputs"] if t.get("role") == "image"],
            [t["name"] for t in io["outputs"] if t.get("role") == "image"])


def has_image_input(io: dict[str, Any]) -> bool:
    return bool(image_roles(io)[0])


class Uint8NhwcModule(nn.Module):
    """``model`` (NCHW float, inputs and outputs by contract name) behind uint8 NHWC
    image tensors; returns a dict by output name (what litert-torch names outputs by)."""

    def __init__(self, model: nn.Module, io: dict[str, Any]) -> None:
        super().__init__()
        from edgezoo.export.signature import ContractModule

        self.inputs = [t["name"] for t in io["inputs"]]
        self.outputs = [t["name"] for t in io["outputs"]]
        self.ranges = {t["name"]: tuple(t.get("range") or (0.0, 1.0)) for t in io["inputs"] + io["outputs"]}
        self.image_in, self.image_out = image_roles(io)
        self.inner = ContractModule(model, self.inputs, self.outputs)

    def forward(self, **feeds: torch.Tensor) -> dict[str, torch.Tensor]:
        values = []
        for name in self.inputs:
            x = feeds[name]
            if name in self.image_in:
                low, high = self.ranges[name]
                x = x.to(torch.float32).permute(0, 3, 1, 2) * ((high - low) / 255.0) + low
            values.append(x)
        out = self.inner(*values)
        outs = list(out) if isinstance(out, tuple) else [out]
        result = {}
        for name, y in zip(self.outputs, outs):
            if name in self.image_out:
                low, high = self.ranges[name]
                y = torch.round((torch.clamp(y, low, high) - low) * (255.0 / (high - low)))
                y = y.permute(0, 2, 3, 1).to(torch.uint8)
            result[name] = y
        return result


def uint8_examples(io: dict[str, Any], seed: int = 0) -> dict[str, torch.Tensor]:
    """Example feeds of the wrapped signature: random uint8 NHWC pictures for image
    inputs, the contract's example values for the others."""
    from edgezoo.manifests.schema import TensorSpec
    from edgezoo.tasks.feeds import example_feeds

    specs = [TensorSpec.model_validate(t) for t in io["inputs"]]
    feeds = example_feeds(specs, rng=seed)
    rng = np.random.default_rng(seed)
    image_in = image_roles(io)[0]
    out = {}
    for spec in specs:
        if spec.name in image_in:
            n, c, h, w = (int(d) for d in spec.shape)
            out[spec.name] = torch.from_numpy(rng.integers(0, 256, (n, h, w, c), dtype=np.uint8))
        else:
            out[spec.name] = torch.from_numpy(np.ascontiguousarray(feeds[spec.name]))
    return out


def uint8_io(io: dict[str, Any]) -> dict[str, Any]:
    """The I/O contract of the uint8 NHWC signature: image tensors become uint8 NHWC
    pixels in [0, 255]; the others are unchanged."""
    image_in, image_out = image_roles(io)

    def convert(t: dict[str, Any], images: list[str]) -> dict[str, Any]:
        if t["name"] not in images:
            return dict(t)
        n, c, h, w = t["shape"]
        return {**t, "shape": [n, h, w, c], "dtype": "uint8", "layout": "NHWC", "range": [0.0, 255.0],
                "multiple_of": None}

    return {"inputs": [convert(t, image_in) for t in io["inputs"]],
            "outputs": [convert(t, image_out) for t in io["outputs"]]}


class ImageOutputModule(nn.Module):
    """``model`` with its image outputs clipped to their range and mapped to 0-255
    pixel values (float): what a Core ML image output holds. Inputs are unchanged
    (Core ML scales image inputs itself)."""

    def __init__(self, model: nn.Module, io: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.outputs = [t["name"] for t in io["outputs"]]
        self.ranges = [tuple(t.get("range") or (0.0, 1.0)) for t in io["outputs"]]
        self.image = [t.get("role") == "image" for t in io["outputs"]]

    def forward(self, *inputs: torch.Tensor) -> Any:
        out = self.model(*inputs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        result = []
        for y, (low, high), image in zip(outs, self.ranges, self.image):
            result.append((torch.clamp(y, low, high) - low) * (255.0 / (high - low)) if image else y)
        return result[0] if len(result) == 1 else tuple(result)


def write_uint8_tflite(model: nn.Module, io: dict[str, Any], metadata: dict[str, Any],
                       out_path: str | Path) -> dict[str, Any]:
    """Convert the uint8 NHWC signature of ``model`` (static shapes of the float contract
    ``io``), with ``metadata`` embedded, to ``out_path``, run it in LiteRT on a fresh picture and compare with the wrapped
    PyTorch module: every output value within one uint8 level (rounding at a .5 may go
    either way), float outputs by their largest error. Returns the check's figures;
    :class:`ParityError` on a miss (nothing is left at ``out_path`` then)."""
    from edgezoo.export.tflite_export import write_converted
    from edgezoo.files import remove_path
    from edgezoo.runtimes.backends import get_backend

    wrapped = Uint8NhwcModule(model, io).eval()
    with torch.no_grad():
        write_converted(wrapped, uint8_examples(io, seed=0), out_path, metadata)
        feeds = uint8_examples(io, seed=1)
        reference = {k: v.numpy() for k, v in wrapped(**feeds).items()}
    outputs = get_backend("litert").load(out_path, "cpu").run({k: v.numpy() for k, v in feeds.items()})
    worst = 0.0
    for name, ref in reference.items():
        got = outputs[name]
        if got.dtype != ref.dtype or got.shape != ref.shape:
            remove_path(out_path)
            raise ParityError(f"{Path(out_path).name}: output {name} is {got.dtype} {list(got.shape)}, "
                              f"expected {ref.dtype} {list(ref.shape)}")
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))))
    limit = 1.0 if all(v.dtype == np.uint8 for v in reference.values()) else 1e-3
    if worst > limit:
        remove_path(out_path)
        raise ParityError(f"{Path(out_path).name}: LiteRT differs from PyTorch by up to {worst:g} (allowed {limit:g})")
    return {"executed": True, "backend": "litert", "max_abs": worst, "threshold": limit,
            "note": "LiteRT output vs the wrapped PyTorch module on a random uint8 picture"}
