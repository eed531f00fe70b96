"""Fit a picture to a fixed-size input tensor of the model contract: colour to the
tensor's channels, resized to its sides, scaled to float32 in [0, 1], NCHW."""

from __future__ import annotations

import numpy as np

from edgezoo.manifests.schema import TensorSpec


def fit_to_tensor(picture: np.ndarray, tensor: TensorSpec) -> np.ndarray:
    """One picture already validated by ``session.to_batch`` ((1, C, H, W) float in
    [0, 1], C = 1 grey, 2 grey + alpha, 3 RGB or 4 RGBA) as the (1, C', H', W') float32
    array that ``tensor`` (fixed sides) expects: grey by ITU-R 601 luma for one channel,
    RGB for three (alpha dropped), resized with an antialiasing filter."""
    from PIL import Image

    channels, height, width = (int(d) for d in tensor.shape[1:4])
    colour = picture[0, :1] if picture.shape[1] in (1, 2) else picture[0, :3]  # alpha dropped
    pixels = (np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    picture = picture.convert("L" if channels == 1 else "RGB")
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    low, high = tensor.range or (0.0, 1.0)
    array = low + array * (high - low)
    return (array[None, None] if channels == 1 else array.transpose(2, 0, 1)[None]).astype(np.float32)
