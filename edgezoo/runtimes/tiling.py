"""Fixed-shape artifacts on images of any size: overlapping tiles, blended.

Tiles start on multiples of the model's ``multiple_of`` where the image allows, so
window partitions inside the network line up with the whole-image ones. Where two
tiles overlap, each one's output is ignored over the outer quarter of the shared span
(the pixels that saw the tile's artificial border), and the two cross-fade linearly
over the middle half; weights sum to one everywhere, so no seam is left where tiles
meet. Image borders are the image's own, as in a whole-image run.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` (>= tile) with at
    least ``overlap`` pixels shared between neighbours; starts are multiples of
    ``align`` except the last, which ends flush with the image."""
    if length <= tile:
        return [0]
    stride = max(align, (tile - overlap) // align * align) if tile - overlap >= align else max(1, tile - overlap)
    count = 1 + math.ceil((length - tile) / stride)
    starts = sorted({min(i * stride, length - tile) for i in range(count)})
    # the flush last tile can land so near the one before that three tiles would share
    # pixels (the fades assume two): drop the middle one when the outer two still share
    # ``overlap`` pixels without it
    if len(starts) >= 3 and starts[-1] - starts[-3] <= tile - overlap:
        del starts[-2]
    return starts


def tile_count(height: int, width: int, tile_h: int, tile_w: int, overlap: int, align: int = 1) -> int:
    """How many artifact calls one ``height`` x ``width`` image needs."""
    h, w = max(height, tile_h), max(width, tile_w)
    return len(tile_starts(h, tile_h, overlap, align)) * len(tile_starts(w, tile_w, overlap, align))


def default_overlap(tile: int, align: int) -> int:
    """A quarter of the tile, rounded to the alignment: enough context that the seam
    region sees almost what the whole image would."""
    return max(align, round_up(tile // 4, align)) if tile >= 2 * align else tile // 4


def _fade(span: int) -> np.ndarray:
    """Weights rising from 0 to 1 across a shared span of ``span`` pixels: zero over the
    outer quarter (where a tile's output suffers from its own border), a linear ramp over
    the middle half, one over the inner quarter. Two neighbours' fades sum to one."""
    margin = span // 4
    ramp = span - 2 * margin
    w = np.zeros(span, np.float64)
    w[margin:margin + ramp] = (np.arange(ramp) + 0.5) / ramp
    w[margin + ramp:] = 1.0
    return w


def _ramp(tile: int, overlap_lo: int, overlap_hi: int) -> np.ndarray:
    """1-D weights of one tile: fades over the spans it shares with each neighbour."""
    w = np.ones(tile, np.float64)
    if overlap_lo > 0:
        w[:overlap_lo] = _fade(overlap_lo)
    if overlap_hi > 0:
        w[tile - overlap_hi:] = np.minimum(w[tile - overlap_hi:], _fade(overlap_hi)[::-1])
    return w


def _axis_weights(starts: list[int], tile: int) -> list[np.ndarray]:
    """Each tile's 1-D weights, summing to one at every pixel. Neighbours' fades already
    do where two tiles meet; where the flush last tile lands so that three share pixels
    (a long stride's alignment, e.g. starts 0, 16, 21 for 32 px tiles), the fades are
    divided by their sum there."""
    weights = []
    for i, s in enumerate(starts):
        lo = (starts[i - 1] + tile - s) if i > 0 else 0
        hi = (s + tile - starts[i + 1]) if i + 1 < len(starts) else 0
        weights.append(_ramp(tile, max(lo, 0), max(hi, 0)))
    total = np.zeros(starts[-1] + tile, np.float64)
    for s, w in zip(starts, weights):
        total[s:s + tile] += w
    if np.allclose(total, 1.0, rtol=0.0, atol=1e-12):
        return weights
    return [w / total[s:s + tile] for s, w in zip(starts, weights)]


def run_tiled(
    fn: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile_h: int,
    tile_w: int,
    overlap: int,
    align: int = 1,
    pad_mode: str = "reflect",
    scale: int = 1,
) -> np.ndarray:
    """Apply ``fn`` (1x C x tile_h x tile_w -> 1 x C' x s*tile_h x s*tile_w, s = ``scale``)
    to a 1xCxHxW image of any size and return 1xC'x(sH)x(sW); a tile's output blends over
    its ``scale``-times larger footprint. Images smaller than a tile are padded."""
    _, _, height, width = image.shape
    pad_h, pad_w = max(0, tile_h - height), max(0, tile_w - width)
    if pad_h or pad_w:
        image = np.pad(image, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=pad_mode)
    H, W = image.shape[2:]
    ys, xs = tile_starts(H, tile_h, overlap, align), tile_starts(W, tile_w, overlap, align)
    wy, wx = _axis_weights(ys, tile_h), _axis_weights(xs, tile_w)
    s = int(scale)
    out: np.ndarray | None = None
    norm = np.zeros((H * s, W * s), np.float64)
    for y, wy_i in zip(ys, wy):
        for x, wx_j in zip(xs, wx):
            result = fn(np.ascontiguousarray(image[:, :, y:y + tile_h, x:x + tile_w]))
            if out is None:
                out = np.zeros((1, result.shape[1], H * s, W * s), np.float64)
            weight = np.outer(np.repeat(wy_i, s), np.repeat(wx_j, s))
            out[:, :, y * s:(y + tile_h) * s, x * s:(x + tile_w) * s] += result * weight
            norm[y * s:(y + tile_h) * s, x * s:(x + tile_w) * s] += weight
    assert out is not None
    out /= norm
    return out[:, :, :height * s, :width * s].astype(np.float32)
