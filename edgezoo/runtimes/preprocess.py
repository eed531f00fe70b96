"""Fit a picture to a fixed-size input tensor of the model contract: colour to the
tensor's channels, resized to its sides, scaled to float32 in [0, 1], NCHW."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import TensorSpec


def _as_pil(image: Any) -> Any:
    from PIL import Image

    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        return image
    if not isinstance(image, np.ndarray):
        raise BadInputError(f"expected an image as a numpy array or a PIL image, got {type(image).__name__}")
    array = image
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or min(array.shape[:2]) == 0:
        raise BadInputError(f"image shape {list(image.shape)} is not a picture (HxW, HxWx3 or HxWx4, or CHW)")
    if array.dtype != np.uint8:
        if array.dtype not in (np.float16, np.float32, np.float64):
            raise BadInputError(f"image dtype {array.dtype} is not supported: give uint8 (0-255) or float (0-1)")
        if not np.isfinite(array).all():
            raise BadInputError("image has NaN or infinite values")
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)


def fit_to_tensor(image: Any, tensor: TensorSpec) -> np.ndarray:
    """A picture (PIL, or a uint8/float array HxW, HxWxC or CxHxW) as the (1, C, H, W)
    float32 array that ``tensor`` (fixed sides) expects: grey by ITU-R 601 luma for one
    channel, RGB for three (alpha dropped), resized with an antialiasing filter."""
    from PIL import Image

    channels, height, width = (int(d) for d in tensor.shape[1:4])
    picture = _as_pil(image).convert("L" if channels == 1 else "RGB")
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    low, high = tensor.range or (0.0, 1.0)
    array = low + array * (high - low)
    return (array[None, None] if channels == 1 else array.transpose(2, 0, 1)[None]).astype(np.float32)
