"""MULLER: the multilayer Laplacian resizer (Tu, Milanfar and Talebi, ICCV 2023).

A fixed base resize (bilinear) plus, per layer, the resized band-pass detail of the
input (the input blurred minus the input, the blur repeated layer by layer) through a
``tanh`` with one trainable scale and one trainable bias. With every scalar at zero it
is the base resize; trained jointly with the classifier behind it, it learns how much
of each frequency band to keep. Two scalars a layer: a handful in all.
"""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.zoo.maxvit import MaxVit
from edgezoo.zoo.variants.muller import MullerConfig, MullerResizerConfig


def gaussian_kernel(size: int, stddev: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k = torch.exp(-(x * x) / (2 * stddev * stddev))
    return k / k.sum()


class MullerResizer(nn.Module):
    """(N, C, H, W) -> (N, C, *target_size): the output size is fixed by the config,
    whatever the input's (``F.interpolate`` to a constant size)."""

    def __init__(self, cfg: MullerConfig | MullerResizerConfig, channels: int = 1) -> None:
        super().__init__()
        self.target_size = tuple(cfg.target_size)
        self.scales = nn.Parameter(torch.zeros(cfg.num_layers))
        self.biases = nn.Parameter(torch.zeros(cfg.num_layers))
        k = gaussian_kernel(cfg.kernel_size, cfg.stddev)
        # separable blur as two depthwise convolutions with fixed weights (every converter has them)
        self.register_buffer("blur_h", k.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), persistent=False)
        self.register_buffer("blur_v", k.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), persistent=False)
        self.pad = cfg.kernel_size // 2
        self.channels = channels

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(F.pad(x, (self.pad, self.pad, 0, 0), mode="reflect"), self.blur_h, groups=self.channels)
        return F.conv2d(F.pad(x, (0, 0, self.pad, self.pad), mode="reflect"), self.blur_v, groups=self.channels)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.target_size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        for i in range(self.scales.shape[0]):
            blurred = self.blur(x)
            out = out + torch.tanh(self.scales[i] * self.base(blurred - x) + self.biases[i])
            x = blurred
        return out


class ResizedClassifier(nn.Module):
    """The resizer and the classifier as one graph: ``forward(image)`` -> logits."""

    def __init__(self, cfg: MullerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.resizer = MullerResizer(cfg, cfg.classifier.in_channels)
        self.classifier = MaxVit(cfg.classifier)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.resizer(image))


def _check(cfg: MullerConfig | MullerResizerConfig) -> None:
    if cfg.kernel_size % 2 == 0 or cfg.stddev <= 0 or cfg.num_layers < 0:
        raise ValueError("MULLER needs an odd kernel size, a positive stddev and num_layers >= 0")
    if any(t > s for t, s in zip(cfg.target_size, cfg.input_size)):
        raise ValueError(f"MULLER here downsizes: target {cfg.target_size} exceeds input {cfg.input_size}")


def build(cfg: MullerConfig) -> ResizedClassifier:
    _check(cfg)
    return ResizedClassifier(cfg)


def build_resizer(cfg: MullerResizerConfig) -> MullerResizer:
    """The resizer alone. A trained MULLER model's resizer is ``model.resizer`` (the same
    module; its state dict is the model's ``resizer.*`` tensors without the prefix)."""
    _check(cfg)
    return MullerResizer(cfg, cfg.channels)


__all__ = ["MullerResizer", "ResizedClassifier", "build", "build_resizer", "gaussian_kernel"]
