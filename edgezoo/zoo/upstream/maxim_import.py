"""Import upstream MAXIM checkpoints from UpscalerJS's TF.js packages, and check them.

UpscalerJS (``@upscalerjs/maxim-*``, ``divisibilityFactor`` 64) scales RGB to [0, 1],
pads the bottom and right with zeros up to a multiple of 64, runs the graph, keeps the
top-left crop of its single output (upstream's ``outputs[-1][-1]``, the last stage at
full scale) and turns it into pixels by clipping to [0, 1], scaling by 255 and
truncating to integers (UpscalerJS ``packages/upscalerjs/src/shared/upscale.ts`` and
``tensor-utils.ts``). Its ``assets/result.png`` is that of ``assets/fixture.png``;
:func:`fixture_psnr` repeats those steps with the imported model.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from edgezoo.errors import BadInputError
from edgezoo.metrics import psnr
from edgezoo.zoo.maxim import Maxim
from edgezoo.zoo.upstream.jax2tf import flax_parameters, strip_root, write_jax2tf_graph
from edgezoo.zoo.upstream.maxim_convert import flax_modules, zoo_state
from edgezoo.zoo.upstream.tfjs import TfjsGraph

ROOT_MODULE = "stage_0_input_conv_0"  # every MAXIM has it; what sits above it is a wrapper
FIXTURE, RESULT = "assets/fixture.png", "assets/result.png"


def _stages(modules: dict[str, dict[str, np.ndarray]]) -> int:
    return 1 + max(int(m.group(1)) for scope in modules if (m := re.match(r"stage_(\d+)_", scope)))


def maxim_state(model: Maxim, graph: TfjsGraph) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``model``'s state from a jax2tf MAXIM graph, and the zoo modules it lacks.

    Raises :class:`BadInputError` when the checkpoint is another MAXIM size.
    """
    modules = strip_root(flax_parameters(graph), ROOT_MODULE)
    stages = _stages(modules)
    if stages != model.cfg.num_stages:
        raise BadInputError(f"the checkpoint is a {stages}-stage MAXIM but this model has {model.cfg.num_stages} "
                            "stages: import it under the matching name (`edgezoo weights list`)")
    return zoo_state(model, modules)


def upscalerjs_pixels(output: np.ndarray) -> np.ndarray:
    """UpscalerJS's post-processing of an HxWx3 float output: clip to [0, 1], scale by
    255, truncate (a cast to int, not a rounding)."""
    return np.floor(np.clip(output, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_pixels(data: bytes) -> np.ndarray:
    """uint8 RGB pixels of PNG bytes (alpha dropped, as UpscalerJS reads 3 channels)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)


@torch.no_grad()
def restore_pixels(model: Maxim, pixels: np.ndarray) -> np.ndarray:
    """Run ``model`` on uint8 RGB pixels as UpscalerJS does; uint8 RGB back."""
    height, width = pixels.shape[:2]
    multiple = model.cfg.multiple_of
    image = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    image = torch.nn.functional.pad(image, (0, -width % multiple, 0, -height % multiple))  # zeros, bottom and right
    return upscalerjs_pixels(model(image)[0, :, :height, :width].permute(1, 2, 0).numpy())


def fixture_psnr(model: Maxim, graph: TfjsGraph) -> float:
    """PSNR (dB) of ``model``'s output on the package's fixture against the package's
    own result (both 8-bit)."""
    if FIXTURE not in graph.files or RESULT not in graph.files:
        raise BadInputError(f"the package has no {FIXTURE} and {RESULT}; pass the whole npm package, not models/")
    ours = restore_pixels(model, png_pixels(graph.files[FIXTURE]))
    return psnr(png_pixels(graph.files[RESULT]).astype(np.float64), ours.astype(np.float64), data_range=255.0)


@torch.no_grad()
def graph_psnr(model: Maxim, graph: TfjsGraph, side: int | None = None) -> float:
    """PSNR (dB, float outputs in [0, 1] scale) of ``model`` against the upstream graph
    itself, run by :mod:`edgezoo.zoo.upstream.graph_numpy` on the top-left ``side`` x
    ``side`` crop of the package's fixture (a seeded random image when the package has
    none). ``side`` defaults to the model's input multiple (64: minutes on a CPU)."""
    from edgezoo.zoo.upstream.graph_numpy import run_graph

    side = side or model.cfg.multiple_of
    if FIXTURE in graph.files:
        pixels = png_pixels(graph.files[FIXTURE])[:side, :side]
    else:
        pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    image = pixels.astype(np.float32) / 255.0
    reference = run_graph(graph, {"xs_0": image[None]})[0]
    ours = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    return psnr(reference, ours)


def write_maxim_package(model: Maxim, folder: str | Path, package: str, version: str = "0.0.0",
                        fixture: np.ndarray | None = None) -> Path:
    """Write ``model`` as an UpscalerJS-style TF.js package: ``package.json``,
    ``models/model.json`` + shards laid out as jax2tf and the TF.js converter name them
    (without the last stage's coarse output convolutions, which a graph returning only
    the final image does not reach), and, given uint8 ``fixture`` pixels,
    ``assets/fixture.png`` with the model's own ``assets/result.png``. Returns the folder."""
    folder = Path(folder)
    last = model.cfg.num_stages - 1
    unreachable = {f"stage_{last}_output_conv_{i}" for i in range(1, model.cfg.num_supervision_scales)}
    modules = {k: v for k, v in flax_modules(model).items() if k not in unreachable}
    write_jax2tf_graph(modules, folder / "models", root="Wrapper/backbone/")
    (folder / "package.json").write_text(json.dumps({"name": package, "version": version}))
    if fixture is not None:
        (folder / "assets").mkdir(parents=True, exist_ok=True)
        Image.fromarray(fixture).save(folder / FIXTURE)
        Image.fromarray(restore_pixels(model, fixture)).save(folder / RESULT)
    return folder
