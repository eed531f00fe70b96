"""MAXIM variants: configs and registry entries. Imports no torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgezoo.zoo.registry import InputSpec, Paper, register_model

PAPER = Paper("MAXIM: Multi-Axis MLP for Image Processing (CVPR 2022)", "https://arxiv.org/abs/2201.02973")
BUILDER = "edgezoo.zoo.maxim:build"


@dataclass(frozen=True)
class MaximConfig:
    """Architecture sizes of one MAXIM variant (names as upstream)."""

    features: int = 32
    depth: int = 3
    num_stages: int = 1
    num_groups: int = 1
    num_bottleneck_blocks: int = 1
    block_size_hr: tuple[int, int] = (16, 16)
    block_size_lr: tuple[int, int] = (8, 8)
    grid_size_hr: tuple[int, int] = (16, 16)
    grid_size_lr: tuple[int, int] = (8, 8)
    high_res_stages: int = 2
    num_supervision_scales: int = 1
    input_proj_factor: int = 2
    channels_reduction: int = 4
    lrelu_slope: float = 0.2
    in_channels: int = 3
    out_channels: int = 3
    # How the graph shrinks features (skip fusion) and the input (multi-scale pyramid).
    # "area" (average pooling) is the edge default; upstream uses jax.image.resize:
    # antialiased bilinear for features, nearest for the pyramid.
    downscale: str = "area"
    pyramid: str = "area"

    def __post_init__(self) -> None:
        if self.downscale not in ("area", "antialias"):
            raise ValueError(f"downscale must be 'area' or 'antialias', not {self.downscale!r}")
        if self.pyramid not in ("area", "nearest"):
            raise ValueError(f"pyramid must be 'area' or 'nearest', not {self.pyramid!r}")

    def sizes(self, level: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(block, grid) sizes at UNet level ``level``. Upstream uses the low-res
        block size as the low-res grid size too; kept for checkpoint compatibility."""
        if level < self.high_res_stages:
            return self.block_size_hr, self.grid_size_hr
        return self.block_size_lr, self.block_size_lr

    @property
    def multiple_of(self) -> int:
        """Input sides must be a multiple of this for every partition to tile exactly."""
        need = 1
        for level in range(self.depth):
            block, grid = self.sizes(level)
            for size in (*block, *grid):
                need = math.lcm(need, size * 2**level)
        for size in self.block_size_lr:  # bottleneck at 1 / 2**depth
            need = math.lcm(need, size * 2**self.depth)
        return need

    def width(self, level: int) -> int:
        return self.features * 2**level


# --- variants ------------------------------------------------------------------------
# Edge sizes: 8x8 blocks and grids everywhere keep the spatial Dense layers small (64
# tokens) and the input multiple at 32. Paper sizes: upstream S-1..S-3 and M-1..M-3,
# resizing as upstream does so that the official checkpoints map on exactly.

TINY = MaximConfig(
    features=16, depth=2, num_stages=1, num_groups=1, num_bottleneck_blocks=1,
    block_size_hr=(8, 8), block_size_lr=(8, 8), grid_size_hr=(8, 8), grid_size_lr=(8, 8), high_res_stages=2,
)
SMALL = MaximConfig(
    features=32, depth=3, num_stages=1, num_groups=1, num_bottleneck_blocks=1,
    block_size_hr=(8, 8), block_size_lr=(8, 8), grid_size_hr=(8, 8), grid_size_lr=(8, 8), high_res_stages=2,
)
_PAPER_SIZES = {
    "s1": dict(num_stages=1, num_groups=2),
    "s2": dict(num_stages=2, num_groups=2),
    "s3": dict(num_stages=3, num_groups=2),
    "m1": dict(num_stages=1, num_groups=3),
    "m2": dict(num_stages=2, num_groups=3),
    "m3": dict(num_stages=3, num_groups=3),
}
_TASKS = {
    "denoise": "blind Gaussian colour noise removal",
    "deblur": "motion and defocus deblurring",
    "derain": "rain streak removal",
    "dehaze": "haze removal",
    "enhance": "low-light enhancement",
}

for _task, _what in _TASKS.items():
    register_model(
        f"maxim-tiny-{_task}", family="maxim", task=_task, builder=BUILDER, config=TINY, paper=PAPER,
        input_spec=InputSpec(multiple_of=TINY.multiple_of), description=f"MAXIM edge variant (~0.2M params): {_what}",
        tags=("edge",),
    )
    register_model(
        f"maxim-small-{_task}", family="maxim", task=_task, builder=BUILDER, config=SMALL, paper=PAPER,
        input_spec=InputSpec(multiple_of=SMALL.multiple_of), description=f"MAXIM small variant (~2.7M params): {_what}",
    )
    for _size, _kw in _PAPER_SIZES.items():
        _cfg = MaximConfig(
            features=32 if _size[0] == "s" else 64, depth=3, num_bottleneck_blocks=2,
            num_supervision_scales=3, downscale="antialias", pyramid="nearest", **_kw,
        )
        register_model(
            f"maxim-{_size}-{_task}", family="maxim", task=_task, builder=BUILDER, config=_cfg, paper=PAPER,
            input_spec=InputSpec(multiple_of=_cfg.multiple_of), description=f"MAXIM-{_size.upper()} paper size: {_what}",
            tags=("paper",),
        )

# Upstream checkpoints without a task name of their own (edgezoo.zoo.upstream.sources):
# dehazing comes trained on indoor or on outdoor scenes, and FiveK retouching is an
# enhancement of well-exposed photos. Same MAXIM-2S architecture as maxim-s2-*.
_S2 = MaximConfig(features=32, depth=3, num_bottleneck_blocks=2, num_supervision_scales=3, downscale="antialias",
                  pyramid="nearest", **_PAPER_SIZES["s2"])
for _name, _task, _what in (
    ("maxim-s2-dehaze-indoor", "dehaze", "haze removal, official weights trained on RESIDE indoor scenes"),
    ("maxim-s2-dehaze-outdoor", "dehaze", "haze removal, official weights trained on RESIDE outdoor scenes"),
    ("maxim-s2-retouch", "enhance", "photo retouching, official weights trained on MIT-Adobe FiveK"),
):
    register_model(
        _name, family="maxim", task=_task, builder=BUILDER, config=_S2, paper=PAPER,
        input_spec=InputSpec(multiple_of=_S2.multiple_of), description=f"MAXIM-S2 paper size: {_what}",
        tags=("paper",),
    )
