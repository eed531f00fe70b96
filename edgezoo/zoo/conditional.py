"""Conditional diffusion for restoration: the predictor, the conditional denoiser (the
zoo's UNet with a condition-image input, an optional multiscale structure-guidance
branch, optional CoDi adapters), and the two as one model whose components export on
their own. Configs: :mod:`edgezoo.zoo.variants.conditional`.

Every graph is export-friendly as the rest of the zoo: shapes from the config, bilinear
up-sampling by powers of two (no bicubic inside a graph), average pooling down."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.zoo.layers import ResidualChannelAttention, conv1x1, conv3x3, resize_by_power_of_two
from edgezoo.zoo.unet import TimeResBlock, UNet
from edgezoo.zoo.unet import build as build_unet
from edgezoo.zoo.variants.conditional import ConditionalConfig, PredictorConfig

LUMA = (0.299, 0.587, 0.114)


def octaves(scale: int) -> int:
    """log2 of a power-of-two scale (1, 2, 4, ...)."""
    if scale < 1 or scale & (scale - 1):
        raise ValueError(f"the scale must be a power of two, not {scale}")
    return scale.bit_length() - 1


class Predictor(nn.Module):
    """``forward(degraded (N, 3, h, w)) -> prediction (N, 3, scale*h, scale*w)``: the
    input (bilinearly up-sampled for scale > 1) plus a learned correction."""

    def __init__(self, cfg: PredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.octaves = octaves(cfg.scale)
        self.stem = conv3x3(3, cfg.width)
        self.body = nn.Sequential(*[ResidualChannelAttention(cfg.width) for _ in range(cfg.blocks)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(cfg.width, cfg.width, 2, stride=2) for _ in range(self.octaves)])
        self.head = conv3x3(cfg.width, 3)
        with torch.no_grad():  # start near the identity (the input passed through), not at zero: see unet.py
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def forward(self, degraded: torch.Tensor) -> torch.Tensor:
        h = self.stem(degraded)
        h = h + self.body(h)
        for up in self.up:
            h = F.silu(up(h))
        return resize_by_power_of_two(degraded, self.octaves) + self.head(h)


class StructureGuidance(nn.Module):
    """Ren et al.'s multiscale structure guidance: from the degraded picture (at the
    output's size), features at every UNet level (full size, then halved per level),
    each with a 1x1 head that regresses the grey structure picture at that scale (its
    auxiliary loss: the clean picture's luminance, average-pooled) and a 1x1 projection
    to the UNet level's channels, added into the denoiser's encoder."""

    def __init__(self, width: int, level_channels: list[int]) -> None:
        super().__init__()
        self.stem = conv3x3(3, width)
        self.down = nn.ModuleList([nn.Conv2d(width, width, 3, stride=2, padding=1) for _ in level_channels[1:]])
        self.blocks = nn.ModuleList([nn.Sequential(conv3x3(width, width), nn.SiLU(), conv3x3(width, width))
                                     for _ in level_channels])
        self.structure = nn.ModuleList([conv1x1(width, 1) for _ in level_channels])
        self.project = nn.ModuleList([conv1x1(width, c) for c in level_channels])

    def forward(self, condition: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(features per level, grey structure per level), finest first."""
        h = F.silu(self.stem(condition))
        features, structures = [], []
        for level, block in enumerate(self.blocks):
            if level:
                h = F.silu(self.down[level - 1](h))
            h = h + block(h)
            features.append(self.project[level](h))
            structures.append(self.structure[level](h))
        return features, structures


def grey_structure(clean: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The guidance branch's targets: the luminance of ``clean`` (N, 3, H, W) in [0, 1],
    average-pooled by 2 per level, finest first."""
    grey = sum(w * clean[:, c:c + 1] for c, w in enumerate(LUMA))
    return [grey if level == 0 else F.avg_pool2d(grey, 2 ** level) for level in range(levels)]


class Adapter(nn.Module):
    """A low-rank residual adapter on a block's output: ``h + up(silu(down(h)))``, ``up``
    zero-initialised so that an adapted network starts exactly as the frozen one."""

    def __init__(self, channels: int, rank: int) -> None:
        super().__init__()
        self.down, self.up = conv1x1(channels, rank), conv1x1(rank, channels)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(F.silu(self.down(h)))


class AdaptedBlock(nn.Module):
    """A frozen :class:`~edgezoo.zoo.unet.TimeResBlock` followed by an :class:`Adapter`."""

    def __init__(self, block: TimeResBlock, rank: int) -> None:
        super().__init__()
        self.block = block
        self.adapter = Adapter(block.conv2.out_channels, rank)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.block(x, emb))


class ConditionalDenoiser(nn.Module):
    """``forward(sample (N, 3, H, W), timestep (N,), condition (N, 3, H/scale, W/scale))
    -> v (N, 3, H, W)``: the zoo UNet whose stem also reads the condition (bilinearly
    up-sampled to the sample's size), plus the structure guidance when configured."""

    def __init__(self, cfg: ConditionalConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.octaves = octaves(cfg.scale)
        self.unet: UNet = build_unet(cfg.backbone)
        width = cfg.backbone.width
        self.unet.stem = conv3x3(2 * cfg.backbone.in_channels, width)  # sample and condition, concatenated
        self.guidance = (StructureGuidance(cfg.guidance_width, self.unet.level_channels())
                         if cfg.guidance_width else None)
        if cfg.adapter_rank:
            add_adapters(self.unet, cfg.adapter_rank)

    def forward_with_structure(self, sample: torch.Tensor, timestep: torch.Tensor,
                               condition: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(v, the guidance branch's grey structures, finest first; empty without it)."""
        condition = resize_by_power_of_two(condition, self.octaves)
        emb = self.unet.time_mlp(self.unet.embed(timestep))
        h = self.unet.stem(torch.cat([sample, condition], dim=1))
        features, structures = self.guidance(condition) if self.guidance is not None else (None, [])
        return self.unet.trunk(h, emb, features), structures

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.forward_with_structure(sample, timestep, condition)[0]


def add_adapters(unet: UNet, rank: int) -> None:
    """Wrap every residual block of ``unet`` (encoder, middle, decoder) in an
    :class:`AdaptedBlock` of ``rank``, in place."""
    for blocks in [*unet.down, unet.middle, *unet.up]:
        for i, block in enumerate(blocks):
            if isinstance(block, TimeResBlock):
                blocks[i] = AdaptedBlock(block, rank)


def adapter_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The adapters' parameters (what a CoDi student trains)."""
    return [p for name, p in module.named_parameters() if ".adapter." in f".{name}"]


def freeze_all_but_adapters(module: nn.Module) -> tuple[int, int]:
    """Freeze every parameter of ``module`` except its adapters'; returns (trainable,
    total) parameter counts."""
    trainable = {id(p) for p in adapter_parameters(module)}
    for p in module.parameters():
        p.requires_grad_(id(p) in trainable)
    total = sum(p.numel() for p in module.parameters())
    return sum(p.numel() for p in module.parameters() if id(p) in trainable), total


class ConditionalRestorer(nn.Module):
    """The whole model: ``predictor`` and ``denoiser``, each exported as a component of
    the same name (:meth:`components`). Calling the model calls the denoiser, the
    component the sampler program steps."""

    def __init__(self, cfg: ConditionalConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictor = Predictor(cfg.predictor)
        self.denoiser = ConditionalDenoiser(cfg)

    def components(self) -> dict[str, nn.Module]:
        """The named graphs of the model's contract (``edgezoo.tasks.conditional``)."""
        return {"predictor": self.predictor, "denoiser": self.denoiser}

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.denoiser(sample, timestep, condition)


def build(cfg: ConditionalConfig) -> ConditionalRestorer:
    if cfg.predictor.scale != cfg.scale:
        raise ValueError(f"the predictor's scale ({cfg.predictor.scale}) must be the model's ({cfg.scale})")
    if cfg.backbone.in_channels != 3:
        raise ValueError("a conditional restorer works on RGB: its backbone has in_channels 3")
    if cfg.backbone.prediction != "v" or cfg.backbone.process != "gaussian":
        raise ValueError("the conditional family is Gaussian diffusion with v prediction")
    return ConditionalRestorer(cfg)


__all__ = ["Adapter", "AdaptedBlock", "ConditionalDenoiser", "ConditionalRestorer", "Predictor", "StructureGuidance",
           "adapter_parameters", "add_adapters", "build", "freeze_all_but_adapters", "grey_structure", "octaves"]
