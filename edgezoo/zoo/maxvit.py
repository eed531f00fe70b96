"""MaxViT: multi-axis vision transformer (Tu et al., ECCV 2022).

A stem of two 3x3 convolutions (the first with stride 2), then stages of MaxViT blocks:
MBConv with squeeze-excitation, block attention (local windows) and grid attention
(dilated, global windows), each attention with a relative position bias and followed by
an MLP; global average pooling, layer norm and a linear classifier. Partitions are the
rank <= 4 ones shared with MAXIM (``edgezoo.zoo.layers``). Shapes come from the config:
the input is zero-padded to ``padded_size`` so that every stage divides by its window.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.zoo.layers import MBConv, TransformerBlock, gelu
from edgezoo.zoo.variants.maxvit import MaxVitConfig


class MaxVitBlock(nn.Module):
    """MBConv, then block attention, then grid attention."""

    def __init__(self, cin: int, cout: int, stride: int, window: tuple[int, int], head_dim: int) -> None:
        super().__init__()
        self.mbconv = MBConv(cin, cout, stride=stride)
        self.block_attention = TransformerBlock(cout, window, "block", head_dim)
        self.grid_attention = TransformerBlock(cout, window, "grid", head_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid_attention(self.block_attention(self.mbconv(x)))


class MaxVit(nn.Module):
    """MaxViT classifier; ``forward(image)`` returns the class logits (N, classes)."""

    def __init__(self, cfg: MaxVitConfig) -> None:
        super().__init__()
        self.cfg = cfg
        stem = cfg.stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_channels, stem, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(stem), nn.GELU("tanh"),
            nn.Conv2d(stem, stem, 3, padding=1),
        )
        blocks: list[nn.Module] = []
        cin = stem
        for channels, depth in zip(cfg.channels, cfg.depths):
            for i in range(depth):
                blocks.append(MaxVitBlock(cin, channels, 2 if i == 0 else 1, cfg.window, cfg.head_dim))
                cin = channels
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(cin)
        self.head = nn.Linear(cin, cfg.num_classes)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, C) before the classifier."""
        h, w = self.cfg.input_size
        ph, pw = self.cfg.padded_size
        if (ph, pw) != (h, w):
            top, left = (ph - h) // 2, (pw - w) // 2
            image = F.pad(image, (left, pw - w - left, top, ph - h - top))
        x = self.blocks(self.stem(image))
        return self.norm(x.mean(dim=(2, 3)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))


def build(cfg: MaxVitConfig) -> MaxVit:
    return MaxVit(cfg)


__all__ = ["MaxVit", "MaxVitBlock", "build", "gelu"]
