"""How one image is served to a network: the single path shared by the runtime, the zoo's
evaluation and the int8 quality gate, so a quality figure is what a runtime user gets.

A dynamic-shape callee gets the whole image, padded on the bottom and right to the
model's multiple (the network's window partitions need it) and cropped back. A
fixed-shape callee gets overlapping tiles of its size (``edgezoo.runtimes.tiling``);
images larger than a tile are first padded to the multiple so tile starts line up
with the whole-image partitions. Torch-free: the callee is any function on NCHW
float32 numpy arrays.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgezoo.runtimes.tiling import default_overlap, round_up, run_tiled

NCHWFunction = Callable[[np.ndarray], np.ndarray]  # (1, C, h, w) float32 -> (1, C', h, w)
PAD_MODES = ("reflect", "symmetric", "edge", "constant")


def tile_layout(height: int, width: int, tile_h: int, tile_w: int, multiple_of: int) -> tuple[int, int, int, int]:
    """(padded height, padded width, overlap, align) for tiling a ``height`` x ``width``
    image with ``tile_h`` x ``tile_w`` tiles of a model whose sides must be a multiple
    of ``multiple_of``. A side no larger than its tile is left as it is (the tiler pads
    it to the tile)."""
    align = max(1, multiple_of)
    if align > min(tile_h, tile_w):  # a tile smaller than the multiple cannot align anyway
        align = 1
    ph = round_up(height, align) if height > tile_h else height
    pw = round_up(width, align) if width > tile_w else width
    return ph, pw, default_overlap(min(tile_h, tile_w), align), align


def _pad(x: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    _, _, h, w = x.shape
    if (h, w) == (height, width):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, height - h), (0, width - w)), mode=mode)


def serve(
    fn: NCHWFunction,
    x: np.ndarray,
    multiple_of: int = 1,
    tile: tuple[int, int] | None = None,
    overlap: int | None = None,
    pad_mode: str = "reflect",
    scale: int = 1,
) -> np.ndarray:
    """Run ``fn`` on images of any size within the model's contract.

    Parameters
    ----------
    fn : callable
        NCHW float32 -> NCHW float of the same height and width (one image per call).
    x : ndarray
        N x C x H x W float32; images go through ``fn`` one at a time.
    multiple_of : int
        The model's input sides must be a multiple of this.
    tile : (int, int), optional
        The fixed input size of ``fn``; None for a dynamic-shape callee.
    overlap : int, optional
        Tile overlap in pixels (default: a quarter of the tile, aligned).
    pad_mode : str
        ``numpy.pad`` mode for the padding (the manifest's ``pad_mode``).
    scale : int
        ``fn``'s output sides over its input's (4 for a x4 super-resolution).

    Returns
    -------
    ndarray
        N x C' x H x W float32, not clipped.
    """
    if x.ndim != 4:
        raise ValueError(f"serve takes N x C x H x W, got shape {list(x.shape)}")
    if pad_mode not in PAD_MODES:
        pad_mode = "reflect"
    outs = [_serve_one(fn, x[i:i + 1], multiple_of, tile, overlap, pad_mode, scale) for i in range(x.shape[0])]
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)


def _serve_one(fn: NCHWFunction, x: np.ndarray, multiple_of: int, tile: tuple[int, int] | None,
               overlap: int | None, pad_mode: str, scale: int = 1) -> np.ndarray:
    _, _, height, width = x.shape
    if tile is None:
        m = max(1, multiple_of)
        out = fn(_pad(x, round_up(height, m), round_up(width, m), pad_mode))
        return np.asarray(out, dtype=np.float32)[:, :, :height * scale, :width * scale]
    tile_h, tile_w = int(tile[0]), int(tile[1])
    if (height, width) == (tile_h, tile_w):
        return np.asarray(fn(x), dtype=np.float32)
    ph, pw, default, align = tile_layout(height, width, tile_h, tile_w, multiple_of)
    out = run_tiled(fn, _pad(x, ph, pw, pad_mode), tile_h, tile_w, default if overlap is None else overlap,
                    align, pad_mode, scale)
    return out[:, :, :height * scale, :width * scale]
