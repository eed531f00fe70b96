"""Example inputs from a component's contract, in one place.

Tracing, parity, calibration and verify all need inputs for a graph. They come from here,
built from the contract's tensors (name, role, shape, dtype, range), so a model with
(image, timestep) inputs or (image, text tokens) gets the right kind of value in each
without the caller knowing the family. Torch-free: the runtime side uses it too.
"""

from __future__ import annotations

import re

from typing import Any, Iterable, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import TensorSpec

IMAGE_ROLES = ("image", "condition")  # inputs that a picture (a photo crop) can fill


def tensor_specs(tensors: Iterable[TensorSpec | Mapping[str, Any]]) -> list[TensorSpec]:
    """The contract's tensors as :class:`TensorSpec`, from models or their JSON form."""
    return [t if isinstance(t, TensorSpec) else TensorSpec.model_validate(t) for t in tensors]


def symbols(tensors: Iterable[TensorSpec]) -> list[str]:
    """The symbolic dims (``"H"``, ``"W"``, ...) of ``tensors``, in order of appearance."""
    seen: list[str] = []
    for tensor in tensors:
        for dim in tensor.shape:
            if isinstance(dim, str) and dim not in seen:
                seen.append(dim)
    return seen


def split_symbol(dim: str) -> tuple[int, str]:
    """``"4H"`` -> (4, "H"): a symbolic dim as a whole multiple of a base symbol (1 for a plain one)."""
    scaled = re.fullmatch(r"(\d+)([A-Za-z_]\w*)", dim)
    return (int(scaled.group(1)), scaled.group(2)) if scaled else (1, dim)


def symbol_size(dim: str, sizes: Mapping[str, int]) -> int | None:
    """The size of a symbolic dim: ``sizes[dim]``, or for a multiple such as ``"4H"`` (a
    x4 output's side) that multiple of ``sizes["H"]``; None when unknown."""
    if dim in sizes:
        return int(sizes[dim])
    factor, base = split_symbol(dim)
    return factor * int(sizes[base]) if base in sizes else None


def sizes_from_shape(tensor: TensorSpec, shape: Iterable[int]) -> dict[str, int]:
    """The symbolic dims' sizes that give ``tensor`` the concrete ``shape`` (``"4H"`` of
    128 gives ``H`` = 32), so that a component's other inputs can be sized from its first."""
    sizes: dict[str, int] = {}
    for dim, value in zip(tensor.shape, shape):
        if isinstance(dim, str):
            factor, base = split_symbol(dim)
            sizes[base] = int(value) // factor
    return sizes


def concrete_shape(tensor: TensorSpec, sizes: Mapping[str, int]) -> list[int]:
    """``tensor``'s shape with each symbolic dim replaced by its size in ``sizes``."""
    shape = []
    for dim in tensor.shape:
        if isinstance(dim, str):
            size = symbol_size(dim, sizes)
            if size is None:
                raise BadInputError(f"tensor '{tensor.name}' has the symbolic dim {dim!r}; give its size")
            dim = size
        shape.append(int(dim))
    return shape


def image_sides(tensors: Iterable[TensorSpec], sizes: Mapping[str, int]) -> tuple[int, int] | None:
    """(height, width) of the first image-role input, or None without one."""
    for tensor in tensors:
        if tensor.role in IMAGE_ROLES:
            shape = concrete_shape(tensor, sizes)
            return shape[-2], shape[-1]
    return None


def random_value(tensor: TensorSpec, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    """A seeded value for one input, of the kind its role says: pictures and timesteps
    uniform in their range, noise and embeddings standard normal, tokens integers."""
    dtype = np.dtype(tensor.dtype)
    low, high = tensor.range if tensor.range is not None else (0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    if tensor.role in ("noise", "embedding", "logits"):
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    return (low + (high - low) * rng.random(shape, dtype=np.float32)).astype(dtype)


def example_feeds(
    tensors: Iterable[TensorSpec | Mapping[str, Any]], sizes: Mapping[str, int] | None = None,
    rng: np.random.Generator | int = 0, pictures: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One request's inputs, by name in the contract's order.

    Parameters
    ----------
    tensors
        The component's input tensors.
    sizes
        Sizes of the symbolic dims (``{"H": 64, "W": 96}``); not needed for fixed shapes.
    rng
        A generator or a seed.
    pictures
        Values for some inputs by name (photo crops for image-role inputs); the rest are
        drawn by role.
    """
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    feeds: dict[str, np.ndarray] = {}
    for tensor in tensor_specs(tensors):
        shape = concrete_shape(tensor, sizes or {})
        if pictures and tensor.name in pictures:
            value = np.asarray(pictures[tensor.name], dtype=np.dtype(tensor.dtype))
            if list(value.shape) != shape:
                raise BadInputError(f"input '{tensor.name}' has shape {list(value.shape)}, the contract says {shape}")
            feeds[tensor.name] = value
        else:
            feeds[tensor.name] = random_value(tensor, shape, rng)
    return feeds
