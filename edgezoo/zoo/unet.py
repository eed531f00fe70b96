"""A small UNet denoiser for diffusion (DDPM's architecture, reduced): (x_t, t) -> the
noise estimate of x_t.

Residual blocks (norm, SiLU, 3x3 conv, plus the projected timestep embedding, norm,
SiLU, 3x3 conv) at three resolutions, strided-conv downsampling, transposed-conv
upsampling, skip connections by concatenation. Normalisation is the zoo's channel
LayerNorm (reductions only: exports everywhere, no batch statistics); the timestep
embedding is :class:`~edgezoo.zoo.layers.SinusoidalEmbedding`. No attention: at 32 px
and these widths convolutions carry the ladder, and every converter has them."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.zoo.layers import ChannelLayerNorm, SinusoidalEmbedding, conv3x3
from edgezoo.zoo.variants.diffusion import UNetConfig


class TimeResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding (added as a per-channel bias)."""

    def __init__(self, cin: int, cout: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = ChannelLayerNorm(cin), conv3x3(cin, cout)
        self.time = nn.Linear(embed_dim, cout)
        self.norm2, self.conv2 = ChannelLayerNorm(cout), conv3x3(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        # PyTorch's default init, not DDPM's zero-initialised last conv: an untrained export
        # with all-zero weights has degenerate int8 scales (LiteRT refuses them)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """``forward(sample (N, C, H, W), timestep (N,)) -> eps (N, C, H, W)``; H and W
    multiples of 2**(levels - 1)."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.width * m for m in cfg.channel_mults]
        emb = cfg.embed_dim
        self.embed = SinusoidalEmbedding(cfg.width)
        self.time_mlp = nn.Sequential(nn.Linear(cfg.width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = conv3x3(cfg.in_channels, widths[0])
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, ch = [widths[0]], widths[0]
        for level, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(cfg.blocks):
                blocks.append(TimeResBlock(ch, w, emb))
                ch = w
                skips.append(ch)
            self.down.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.middle = nn.ModuleList([TimeResBlock(ch, ch, emb), TimeResBlock(ch, ch, emb)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(cfg.blocks + 1):
                blocks.append(TimeResBlock(ch + skips.pop(), w, emb))
                ch = w
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(nn.ConvTranspose2d(ch, ch, 2, stride=2))
        self.head_norm = ChannelLayerNorm(ch)
        self.head = conv3x3(ch, cfg.in_channels)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.stem(sample), self.time_mlp(self.embed(timestep)))

    def level_channels(self) -> list[int]:
        """The channels entering each level's blocks (what :meth:`trunk`'s
        ``level_features`` must have at that level)."""
        widths = [self.cfg.width * m for m in self.cfg.channel_mults]
        return [widths[0]] + widths[:-1]

    def trunk(self, h: torch.Tensor, emb: torch.Tensor, level_features: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Everything after the stem: encoder, middle, decoder and head, from the stem's
        features ``h`` and the timestep embedding ``emb``. ``level_features`` (one per
        level, at that level's resolution and :meth:`level_channels`) are added to the
        features entering each encoder level: how a guidance branch joins in."""
        if level_features is not None:
            h = h + level_features[0]
        skips = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                if level_features is not None:
                    h = h + level_features[level + 1]
                skips.append(h)
        for block in self.middle:
            h = block(h, emb)
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self.head(F.silu(self.head_norm(h)))


def build(cfg: UNetConfig) -> UNet:
    levels = len(cfg.channel_mults)
    if cfg.width < 2 or cfg.width % 2 or not levels or cfg.blocks < 1:
        raise ValueError("a UNet needs an even width >= 2, at least one level and one block per level")
    if any(side % 2 ** (levels - 1) for side in cfg.image_size):
        raise ValueError(f"image size {cfg.image_size} must be a multiple of {2 ** (levels - 1)} for {levels} levels")
    return UNet(cfg)


__all__ = ["TimeResBlock", "UNet", "build"]
