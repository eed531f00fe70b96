"""The PyTorch reference of a diffusion model's sampling: the same numpy scheduler and
the same seeded noise as the runtime (``edgezoo.runtimes.samplers``), with the PyTorch
module as the denoiser. The runtime's loop over an exported step graph is checked
against this."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from edgezoo.runtimes.samplers import Denoiser, generate, scheduler_from_dict, step_inputs


def torch_denoiser(model: nn.Module) -> Denoiser:
    """``model(sample, timestep)`` as a numpy callable (float32, no autograd, eval mode)."""
    model = model.eval()

    def denoise(sample: np.ndarray, timestep: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32)),
                        torch.from_numpy(np.ascontiguousarray(timestep, dtype=np.float32)))
        return out.numpy()

    return denoise


def reference_samples(model: nn.Module, spec: Any, count: int = 1, seed: int = 0, steps: int | None = None) -> np.ndarray:
    """``count`` final samples (N, C, H, W, in the sampler's sample range) of ``model``
    served by ``spec``'s sampler program (a :class:`~edgezoo.manifests.schema.ModelSpec`),
    with ``steps`` sampling steps (default: the program's), seeded as the runtime seeds."""
    scheduler = scheduler_from_dict(spec.program.sampler or {}, steps)
    sample, _ = step_inputs(spec.component().inputs)
    shape = tuple(int(d) for d in sample.shape)
    return generate(torch_denoiser(model), scheduler, shape, count, seed)


__all__ = ["reference_samples", "torch_denoiser"]
