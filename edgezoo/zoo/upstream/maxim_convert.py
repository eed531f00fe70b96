"""Move MAXIM parameters between upstream's Flax layout and the zoo's PyTorch model.

Flax keeps channels last: a Conv kernel is (H, W, in, out), a Dense kernel (in, out),
biases and LayerNorm scales are vectors. TensorFlow's ``Conv2DBackpropInput`` reads a
ConvTranspose kernel as (H, W, out, in) with the spatial flip already applied, which is
exactly PyTorch's ``ConvTranspose2d`` up to the axis order.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from edgezoo.errors import BadInputError
from edgezoo.zoo.layers import ChannelLayerNorm
from edgezoo.zoo.maxim import Maxim
from edgezoo.zoo.upstream.maxim_names import module_pairs

# Flax modules that are Dense layers (an einsum over the last axis); the rest are Convs.
_DENSE = re.compile(r"(in|out)_project(_[xy])?|Dense_\d+")


def is_dense(flax_path: str) -> bool:
    """Whether upstream's module at ``flax_path`` is an ``nn.Dense`` (not an ``nn.Conv``)."""
    return bool(_DENSE.fullmatch(flax_path.rsplit("/", 1)[-1]))


def _to_zoo(module: nn.Module, params: dict[str, np.ndarray], where: str) -> dict[str, torch.Tensor]:
    """One module's Flax parameters as the zoo module's state (name -> tensor)."""
    out: dict[str, torch.Tensor] = {}
    if isinstance(module, ChannelLayerNorm):
        out["weight"] = torch.from_numpy(params["scale"]).reshape(module.weight.shape)
        out["bias"] = torch.from_numpy(params["bias"]).reshape(module.bias.shape)
        return out
    if isinstance(module, nn.ConvTranspose2d):
        kernel = params.get("kernel_transpose")
        if kernel is None:
            raise BadInputError(f"{where} should be a transposed convolution")
        out["weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1)
    else:
        kernel = params["kernel"]
        tensor = torch.from_numpy(kernel)
        if isinstance(module, nn.Linear) or kernel.ndim == 2:
            tensor = tensor.T  # Dense (in, out) -> (out, in)
            if isinstance(module, nn.Conv2d):
                tensor = tensor[:, :, None, None]
        else:
            tensor = tensor.permute(3, 2, 0, 1)  # HWIO -> OIHW
        out["weight"] = tensor
    out["bias"] = torch.from_numpy(params["bias"]).reshape(-1)
    return out


def zoo_state(model: Maxim, modules: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The zoo state dict for ``model`` from Flax parameters by module path.

    Returns the state and the zoo modules the checkpoint does not hold; those are set
    to zero, so that the import is deterministic (upstream graphs that only return the
    final image drop the last stage's coarse output convolutions, which ``forward``
    never uses; zeroed, those outputs pass the resized input through).
    Raises :class:`BadInputError` when a tensor's shape differs or Flax modules are left over.
    """
    named = dict(model.named_modules())
    current = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    absent: list[str] = []
    used: set[str] = set()
    for flax_path, zoo_name in module_pairs(model.cfg):
        params = modules.get(flax_path)
        if params is None:
            absent.append(zoo_name)
            continue
        used.add(flax_path)
        try:
            converted = _to_zoo(named[zoo_name], params, flax_path)
        except KeyError as exc:
            raise BadInputError(f"{flax_path} lacks its {exc.args[0]}: the checkpoint is not MAXIM or is damaged") from None
        for key, tensor in converted.items():
            full = f"{zoo_name}.{key}"
            if tuple(tensor.shape) != tuple(current[full].shape):
                raise BadInputError(
                    f"{flax_path}: shape {tuple(tensor.shape)} does not fit {full} {tuple(current[full].shape)}; "
                    "the checkpoint is a different MAXIM size than this model"
                )
            state[full] = tensor.to(current[full].dtype).contiguous()
    extra = sorted(set(modules) - used)
    if extra:
        raise BadInputError(f"the checkpoint holds {len(extra)} modules this MAXIM config has no place for "
                            f"(first: {extra[0]}); it is a different MAXIM size than this model")
    for name in absent:
        state.update({k: torch.zeros_like(v) for k, v in current.items() if k.startswith(name + ".")})
    return state, absent


def flax_modules(model: Maxim) -> dict[str, dict[str, np.ndarray]]:
    """The inverse of :func:`zoo_state`: ``model``'s parameters in upstream's layout
    (``kernel_transpose`` for ConvTranspose as TensorFlow reads it)."""
    named = dict(model.named_modules())
    modules: dict[str, dict[str, np.ndarray]] = {}
    for flax_path, zoo_name in module_pairs(model.cfg):
        module = named[zoo_name]
        weight = module.weight.detach().float()
        bias = module.bias.detach().float()
        if isinstance(module, ChannelLayerNorm):
            params = {"scale": weight.reshape(-1), "bias": bias.reshape(-1)}
        elif isinstance(module, nn.ConvTranspose2d):
            params = {"kernel_transpose": weight.permute(2, 3, 1, 0), "bias": bias}
        elif isinstance(module, nn.Linear):
            params = {"kernel": weight.T, "bias": bias}
        elif is_dense(flax_path):
            params = {"kernel": weight[:, :, 0, 0].T, "bias": bias}
        else:
            params = {"kernel": weight.permute(2, 3, 1, 0), "bias": bias}
        modules[flax_path] = {k: v.contiguous().numpy() for k, v in params.items()}
    return modules
