"""MAXIM: multi-axis MLP for image processing (Tu et al., CVPR 2022).

A PyTorch reference of the published architecture: UNet stages of multi-axis gated MLP
blocks and residual channel attention, cross-gating blocks fusing multi-scale skips,
optional multi-stage refinement with supervised attention. Module order and sizes follow
the upstream JAX definition so that its checkpoints can be mapped on
(:mod:`edgezoo.zoo.upstream.maxim_names`). Partitions use rank <= 4 tensors, which
every converter accepts. Downscaling follows the config: an area filter by default
(edge variants), or upstream's antialiased bilinear for features and nearest pixels for
the input pyramid (paper sizes, which load the official checkpoints).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.zoo.layers import (
    CrossGating,
    MultiAxisGatedMLP,
    ResidualChannelAttention,
    ResidualDenseChannelAttention,
    conv1x1,
    conv3x3,
    resize_by_power_of_two,
)
from edgezoo.zoo.variants.maxim import MaximConfig


class EncoderBlock(nn.Module):
    """UNet encoder block (also the body of a decoder block): optional skip concat,
    groups of multi-axis gated MLP + RCAB, long residual, optional cross-stage gating,
    optional 4x4 stride-2 downsampling."""

    def __init__(self, cfg: MaximConfig, level: int, in_channels: int, downsample: bool, cross_stage: bool) -> None:
        super().__init__()
        width = cfg.width(level)
        block, grid = cfg.sizes(level)
        self.conv_in = conv1x1(in_channels, width)
        self.groups = nn.ModuleList()
        for _ in range(cfg.num_groups):
            self.groups.append(MultiAxisGatedMLP(width, block, grid, cfg.input_proj_factor))
            self.groups.append(ResidualChannelAttention(width, cfg.channels_reduction, cfg.lrelu_slope))
        self.cross = CrossGating(width, width, width, block, grid, upsample_y=False) if cross_stage else None
        self.down = nn.Conv2d(width, width, 4, stride=2, padding=1) if downsample else None

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, prev: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        x = self.conv_in(x)
        shortcut = x
        for layer in self.groups:
            x = layer(x)
        x = x + shortcut
        if self.cross is not None and prev is not None:
            x, _ = self.cross(x, prev)
        return (self.down(x) if self.down is not None else x), x


class BottleneckBlock(nn.Module):
    """Multi-axis gated MLP + RDCAB groups at the lowest resolution."""

    def __init__(self, cfg: MaximConfig, channels: int) -> None:
        super().__init__()
        width = cfg.width(cfg.depth - 1)
        block = cfg.block_size_lr
        self.conv_in = conv1x1(channels, width)
        self.groups = nn.ModuleList()
        for _ in range(cfg.num_groups):
            self.groups.append(MultiAxisGatedMLP(width, block, block, cfg.input_proj_factor))
            self.groups.append(ResidualDenseChannelAttention(width, cfg.channels_reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        shortcut = x
        for layer in self.groups:
            x = layer(x)
        return x + shortcut


def triangle_taps(factor: int) -> torch.Tensor:
    """The 2*factor taps of a bilinear (triangle) filter stretched by ``factor``, for
    output pixel i over input pixels factor*i - factor/2 ... factor*i + 3*factor/2 - 1:
    what jax.image.resize(method="bilinear", antialias=True) weighs when it shrinks."""
    offsets = torch.arange(-(factor // 2), 3 * factor // 2, dtype=torch.float64)
    return (1.0 - (offsets - (factor - 1) / 2).abs() / factor).float()


class AntialiasedDownscale(nn.Module):
    """Shrink by 2**-exponent as upstream's antialiased bilinear resize: a separable
    triangle filter at stride ``factor``, renormalised at the borders where taps fall
    outside the image (as jax does), written as two depthwise convolutions."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.factor = 2 ** -exponent
        taps = triangle_taps(self.factor)
        self.register_buffer("kernel", torch.outer(taps, taps)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, size = x.shape[1], self.kernel.shape[-1]
        pad = self.factor // 2
        summed = F.conv2d(x, self.kernel.expand(channels, 1, size, size), stride=self.factor, padding=pad,
                          groups=channels)
        coverage = F.conv2d(torch.ones_like(x[:1, :1]), self.kernel, stride=self.factor, padding=pad)
        return summed / coverage


def shrink_pyramid(image: torch.Tensor, exponent: int, mode: str) -> torch.Tensor:
    """The input at 2**-exponent scale: area average, or upstream's nearest pixel (jax
    picks pixel factor*i + factor/2, the one right of centre)."""
    if mode == "nearest":
        factor = 2 ** exponent
        return image[:, :, factor // 2::factor, factor // 2::factor]
    return resize_by_power_of_two(image, -exponent)


class ScaleProjection(nn.Module):
    """Resize by a power of two, then a pointwise projection (upstream UpSampleRatio)."""

    def __init__(self, cin: int, cout: int, exponent: int, downscale: str = "area") -> None:
        super().__init__()
        self.exponent = exponent
        self.shrink = AntialiasedDownscale(exponent) if exponent < 0 and downscale == "antialias" else None
        self.proj = conv1x1(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shrink is not None:
            return self.proj(self.shrink(x))
        return self.proj(resize_by_power_of_two(x, self.exponent))


class SupervisedAttention(nn.Module):
    """SAM (from MPRNet): emits this stage's image and attention-weighted features."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.features = conv3x3(channels, channels)
        self.to_image = conv3x3(channels, out_channels)
        self.from_image = conv3x3(out_channels, channels)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        restored = self.to_image(x) + image
        attended = self.features(x) * torch.sigmoid(self.from_image(restored))
        return attended + x, restored


class MaximStage(nn.Module):
    """One UNet stage: encoder, bottleneck, cross-gated multi-scale skips, decoder."""

    def __init__(self, cfg: MaximConfig, index: int) -> None:
        super().__init__()
        self.cfg, self.index = cfg, index
        first, last = index == 0, index == cfg.num_stages - 1
        scales = range(cfg.num_supervision_scales)
        self.input_convs = nn.ModuleList(conv3x3(cfg.in_channels, cfg.width(i)) for i in scales)
        self.sam_fusion = None if first else nn.ModuleList(
            CrossGating(cfg.width(i), cfg.width(i), cfg.width(i), *cfg.sizes(i), upsample_y=False) for i in scales
        )
        self.encoders = nn.ModuleList()
        for i in range(cfg.depth):
            cin = cfg.width(i - 1) if i > 0 else cfg.width(0)
            if i < cfg.num_supervision_scales:
                cin += cfg.width(i)
            self.encoders.append(EncoderBlock(cfg, i, cin, downsample=True, cross_stage=not first))
        bottom = cfg.width(cfg.depth - 1)
        self.bottleneck = nn.ModuleList(BottleneckBlock(cfg, bottom) for _ in range(cfg.num_bottleneck_blocks))
        self.skip_signal = nn.ModuleList()
        self.skip_gating = nn.ModuleList()
        self.decoder_signal = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        global_channels = bottom
        for i in reversed(range(cfg.depth)):
            width = cfg.width(i)
            self.skip_signal.append(nn.ModuleList(
                ScaleProjection(cfg.width(j), width, j - i, cfg.downscale) for j in range(cfg.depth)
            ))
            self.skip_gating.append(
                CrossGating(width, width * cfg.depth, global_channels, *cfg.sizes(i), upsample_y=True)
            )
            global_channels = width
        for i in reversed(range(cfg.depth)):
            width = cfg.width(i)
            # skip_features are ordered deepest first: index j holds level depth-1-j
            self.decoder_signal.append(nn.ModuleList(
                ScaleProjection(cfg.width(cfg.depth - 1 - j), width, cfg.depth - j - 1 - i, cfg.downscale)
                for j in range(cfg.depth)
            ))
            below = cfg.width(min(i + 1, cfg.depth - 1))  # the bottleneck keeps the deepest width
            self.upsamplers.append(nn.ConvTranspose2d(below, width, 2, stride=2))
            self.decoders.append(EncoderBlock(cfg, i, width + width * cfg.depth, downsample=False, cross_stage=False))
        heads = [i for i in reversed(range(cfg.depth)) if i < cfg.num_supervision_scales]
        if last:
            self.heads = nn.ModuleDict({str(i): conv3x3(cfg.width(i), cfg.out_channels) for i in heads})
        else:
            self.heads = nn.ModuleDict({str(i): SupervisedAttention(cfg.width(i), cfg.out_channels) for i in heads})

    def forward(
        self, shortcuts: list[torch.Tensor], sam_features: list[torch.Tensor],
        encs_prev: list[torch.Tensor], decs_prev: list[torch.Tensor],
        film: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        # film: (gamma, beta) for the bottleneck's output, then each decoder's, deepest first;
        # each feature becomes h * (1 + gamma) + beta (an instruction adaptor's modulation fusion)
        cfg = self.cfg
        x_scales = []
        for i, conv in enumerate(self.input_convs):
            x_scale = conv(shortcuts[i])
            if self.sam_fusion is not None:
                x_scale, _ = self.sam_fusion[i](x_scale, sam_features[i])
            x_scales.append(x_scale)

        encs = []
        x = x_scales[0]
        for i, encoder in enumerate(self.encoders):
            skip = x_scales[i] if i < cfg.num_supervision_scales else None
            prev = encs_prev[i] + decs_prev[i] if encs_prev else None
            x, bridge = encoder(x, skip, prev)
            encs.append(bridge)

        for block in self.bottleneck:
            x = block(x)
        if film is not None:
            x = x * (1 + film[0][0]) + film[0][1]
        global_feature = x

        skip_features = []
        for k, i in enumerate(reversed(range(cfg.depth))):
            signal = torch.cat([proj(enc) for proj, enc in zip(self.skip_signal[k], encs)], dim=1)
            skips, global_feature = self.skip_gating[k](signal, global_feature)
            skip_features.append(skips)

        outputs, decs, new_sam = [], [], []
        for k, i in enumerate(reversed(range(cfg.depth))):
            signal = torch.cat([proj(s) for proj, s in zip(self.decoder_signal[k], skip_features)], dim=1)
            x = self.upsamplers[k](x)
            x, _ = self.decoders[k](x, signal)
            if film is not None:
                x = x * (1 + film[k + 1][0]) + film[k + 1][1]
            decs.append(x)
            head = self.heads[str(i)] if str(i) in self.heads else None
            if isinstance(head, SupervisedAttention):
                feats, image = head(x, shortcuts[i])
                outputs.append(image)
                new_sam.append(feats)
            elif head is not None:
                outputs.append(head(x) + shortcuts[i])
        # next stage reads features level by level from the top
        return outputs, new_sam[::-1], encs, decs[::-1]


class Maxim(nn.Module):
    """MAXIM restoration network; ``forward(image)`` returns the final full-scale output.

    ``forward_all`` returns every stage's outputs at every supervision scale (coarse to
    fine), which multi-scale training uses.
    """

    def __init__(self, cfg: MaximConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stages = nn.ModuleList(MaximStage(cfg, s) for s in range(cfg.num_stages))

    def forward_all(self, image: torch.Tensor,
                    film: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None) -> list[list[torch.Tensor]]:
        """``film`` modulates the last stage's bottleneck and decoder features (see
        :meth:`MaximStage.forward`); None leaves the network as it is."""
        shortcuts = [image] + [
            shrink_pyramid(image, i, self.cfg.pyramid) for i in range(1, self.cfg.num_supervision_scales)
        ]
        sam_features: list[torch.Tensor] = []
        encs_prev: list[torch.Tensor] = []
        decs_prev: list[torch.Tensor] = []
        outputs_all = []
        for index, stage in enumerate(self.stages):
            last = index == len(self.stages) - 1
            outputs, sam_features, encs_prev, decs_prev = stage(shortcuts, sam_features, encs_prev, decs_prev,
                                                                film if last else None)
            outputs_all.append(outputs)
        return outputs_all

    def forward(self, image: torch.Tensor,
                film: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        return self.forward_all(image, film)[-1][-1]


def build(cfg: MaximConfig) -> Maxim:
    return Maxim(cfg)
