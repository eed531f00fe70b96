"""Building blocks shared by the zoo's families, written once and export-friendly.

Every block works on NCHW tensors. Partitions use tensors of rank at most 4 (Core ML
rejects rank > 5; TFLite GPU, NNAPI and EdgeTPU refuse rank-6 transposes), GELU is
the tanh form (the erf form needs a select op on TFLite GPU delegates), and no
shape is read from tensor values, only from ``tensor.shape`` and the config.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU in its tanh form, which every converter and delegate supports."""
    return F.gelu(x, approximate="tanh")


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (what a Flax LayerNorm
    does on NHWC), written with reductions so that it exports everywhere."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=1, keepdim=True)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


def conv1x1(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    """Pointwise convolution: the NCHW form of a Dense layer over channels."""
    return nn.Conv2d(cin, cout, 1, bias=bias)


def conv3x3(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


# --- block and grid partitions ------------------------------------------------------
# Both move one kind of spatial neighbourhood to the last axis so that a Linear layer
# mixes it, with channels folded into the batch axis. Each step is a reshape or a
# permute of a rank <= 4 tensor, and each is exactly invertible.


def block_partition(x: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N*C*H/bh*W/bw, bh*bw): the pixels of each bh x bw block."""
    bh, bw = block
    _, _, _, w = x.shape
    x = x.reshape(-1, bh, w // bw, bw)  # (N*C*Hb, bh, Wb, bw)
    x = x.permute(0, 2, 1, 3)  # (N*C*Hb, Wb, bh, bw)
    return x.reshape(-1, bh * bw)


def block_unpartition(tokens: torch.Tensor, block: tuple[int, int], shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`block_partition` for an original ``shape`` (N, C, H, W)."""
    bh, bw = block
    n, c, h, w = shape
    x = tokens.reshape(-1, w // bw, bh, bw).permute(0, 2, 1, 3)
    return x.reshape(n, c, h, w)


def grid_partition(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N*C*H/gh*W/gw, gh*gw): pixels that share a position inside
    their patch across the gh x gw grid of patches (a dilated, global neighbourhood)."""
    gh, gw = grid
    _, _, h, w = x.shape
    fh, fw = h // gh, w // gw
    x = x.reshape(-1, gh, fh, w)  # (N*C, gh, fh, W)
    x = x.permute(0, 2, 1, 3)  # (N*C, fh, gh, W)
    x = x.reshape(-1, gh, gw, fw)  # (N*C*fh, gh, gw, fw)
    x = x.permute(0, 3, 1, 2)  # (N*C*fh, fw, gh, gw)
    return x.reshape(-1, gh * gw)


def grid_unpartition(tokens: torch.Tensor, grid: tuple[int, int], shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`grid_partition` for an original ``shape`` (N, C, H, W)."""
    gh, gw = grid
    n, c, h, w = shape
    fh, fw = h // gh, w // gw
    x = tokens.reshape(-1, fw, gh, gw).permute(0, 2, 3, 1)  # (N*C*fh, gh, gw, fw)
    x = x.reshape(-1, fh, gh, w).permute(0, 2, 1, 3)  # (N*C, gh, fh, W)
    return x.reshape(n, c, h, w)


class SpatialMix(nn.Module):
    """A Dense layer over the pixels of a block (``mode="block"``) or of a grid
    (``mode="grid"``): MAXIM's spatial projection inside a gating unit."""

    def __init__(self, size: tuple[int, int], mode: str, bias_init: float = 0.0) -> None:
        super().__init__()
        if mode not in ("block", "grid"):
            raise ValueError(f"mode must be 'block' or 'grid', not {mode!r}")
        self.size, self.mode = tuple(size), mode
        tokens = size[0] * size[1]
        self.proj = nn.Linear(tokens, tokens)
        # Near-zero mixing at init, as upstream: a gating unit starts as identity.
        nn.init.normal_(self.proj.weight, std=2e-2)
        nn.init.constant_(self.proj.bias, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "block":
            return block_unpartition(self.proj(block_partition(x, self.size)), self.size, x.shape)
        return grid_unpartition(self.proj(grid_partition(x, self.size)), self.size, x.shape)


class GatingUnit(nn.Module):
    """Spatial gating unit: split channels into (u, v), mix v over space, return
    u * (v + 1). The identity-at-init form that MAXIM uses."""

    def __init__(self, channels: int, size: tuple[int, int], mode: str) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(channels // 2)
        self.mix = SpatialMix(size, mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=1)
        v = self.mix(self.norm(v))
        return u * (v + 1.0)


class GatedMLP(nn.Module):
    """Gated MLP over one axis of space (block or grid): norm, expand, GELU, gating
    unit, project, residual. MAXIM's BlockGmlpLayer and GridGmlpLayer."""

    def __init__(self, channels: int, size: tuple[int, int], mode: str, factor: int = 2) -> None:
        super().__init__()
        hidden = channels * factor
        self.norm = ChannelLayerNorm(channels)
        self.expand = conv1x1(channels, hidden)
        self.gate = GatingUnit(hidden, size, mode)
        self.project = conv1x1(hidden // 2, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu(self.expand(self.norm(x)))
        return x + self.project(self.gate(y))


class MultiAxisGatedMLP(nn.Module):
    """MAXIM's multi-axis gated MLP block (ResidualSplitHeadMultiAxisGmlpLayer): half
    the channels go through a global grid branch, half through a local block branch."""

    def __init__(self, channels: int, block: tuple[int, int], grid: tuple[int, int], factor: int = 2) -> None:
        super().__init__()
        hidden = channels * factor
        self.norm = ChannelLayerNorm(channels)
        self.expand = conv1x1(channels, hidden)
        self.grid_branch = GatedMLP(hidden // 2, grid, "grid")
        self.block_branch = GatedMLP(hidden // 2, block, "block")
        self.project = conv1x1(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu(self.expand(self.norm(x)))
        u, v = y.chunk(2, dim=1)
        y = torch.cat([self.grid_branch(u), self.block_branch(v)], dim=1)
        return x + self.project(y)


class SpatialGatingWeights(nn.Module):
    """Multi-axis spatial gating weights (MAXIM's GetSpatialGatingWeights): the
    signal that one stream multiplies into the other in a cross-gating block."""

    def __init__(self, channels: int, block: tuple[int, int], grid: tuple[int, int], factor: int = 2) -> None:
        super().__init__()
        hidden = channels * factor
        self.norm = ChannelLayerNorm(channels)
        self.expand = conv1x1(channels, hidden)
        self.grid_mix = SpatialMix(grid, "grid", bias_init=1.0)
        self.block_mix = SpatialMix(block, "block", bias_init=1.0)
        self.project = conv1x1(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu(self.expand(self.norm(x)))
        u, v = y.chunk(2, dim=1)
        return self.project(torch.cat([self.grid_mix(u), self.block_mix(v)], dim=1))


class CrossGating(nn.Module):
    """Cross-gating block: two feature streams gate each other through multi-axis
    spatial weights, so each sees the other's global context. Returns (x, y)."""

    def __init__(
        self, channels: int, x_channels: int, y_channels: int,
        block: tuple[int, int], grid: tuple[int, int], upsample_y: bool,
    ) -> None:
        super().__init__()
        self.in_x = conv1x1(x_channels, channels)
        self.up_y = nn.ConvTranspose2d(y_channels, channels, 2, stride=2) if upsample_y else None
        self.in_y = conv1x1(channels if upsample_y else y_channels, channels)
        self.norm_x, self.norm_y = ChannelLayerNorm(channels), ChannelLayerNorm(channels)
        self.dense_x, self.dense_y = conv1x1(channels, channels), conv1x1(channels, channels)
        self.gate_x = SpatialGatingWeights(channels, block, grid)
        self.gate_y = SpatialGatingWeights(channels, block, grid)
        self.out_x, self.out_y = conv1x1(channels, channels), conv1x1(channels, channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.in_x(x)
        if self.up_y is not None:
            y = self.up_y(y)
        y = self.in_y(y)
        short_x, short_y = x, y
        x = gelu(self.dense_x(self.norm_x(x)))
        y = gelu(self.dense_y(self.norm_y(y)))
        gx, gy = self.gate_x(x), self.gate_y(y)
        y = self.out_y(y * gx) + short_y
        x = self.out_x(x * gy) + y + short_x
        return x, y


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (global mean, bottleneck, sigmoid)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.down, self.up = conv1x1(channels, hidden), conv1x1(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.up(F.relu(self.down(weights))))


class ResidualChannelAttention(nn.Module):
    """Residual channel-attention block (RCAB): norm, conv, leaky ReLU, conv, attention."""

    def __init__(self, channels: int, reduction: int = 4, slope: float = 0.2) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(channels)
        self.conv1, self.conv2 = conv3x3(channels, channels), conv3x3(channels, channels)
        self.attention = ChannelAttention(channels, reduction)
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(self.norm(x)), self.slope)
        return x + self.attention(self.conv2(y))


class ResidualDenseChannelAttention(nn.Module):
    """RDCAB of MAXIM's bottleneck: norm, channel MLP, channel attention, residual."""

    def __init__(self, channels: int, reduction: int = 4, factor: int = 1) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(channels)
        self.fc1, self.fc2 = conv1x1(channels, channels * factor), conv1x1(channels * factor, channels)
        self.attention = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(gelu(self.fc1(self.norm(x))))
        return x + self.attention(y)


def resize_by_power_of_two(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """Scale by 2**exponent: average pooling down (an area filter, so no antialias
    op is needed) and bilinear up (half-pixel centres). Both export to every format."""
    if exponent == 0:
        return x
    factor = 2 ** abs(exponent)
    if exponent < 0:
        return F.avg_pool2d(x, factor)
    return F.interpolate(x, scale_factor=float(factor), mode="bilinear", align_corners=False)


# --- windowed attention (MaxViT) -------------------------------------------------------
# Attention needs each window's pixels as a sequence of C-dim tokens, so these partitions
# keep channels last: (N, C, H, W) -> (N * windows, tokens, C). Every step is a reshape or
# permute of a rank <= 4 tensor, as for the MLP partitions above.


def window_tokens(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(N, C, H, W) -> (N*windows, size[0]*size[1], C). ``block``: non-overlapping
    size[0] x size[1] windows. ``grid``: a size[0] x size[1] grid of patches, each window
    holding the pixels at one position inside the patches (dilated, global)."""
    n, c, h, w = x.shape
    sh, sw = size
    x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
    if mode == "block":
        x = x.reshape(n * (h // sh), sh, w // sw, sw * c).permute(0, 2, 1, 3)  # (N*Hb, Wb, sh, sw*C)
        return x.reshape(-1, sh * sw, c)
    if mode != "grid":
        raise ValueError(f"mode must be 'block' or 'grid', not {mode!r}")
    fh, fw = h // sh, w // sw
    x = x.reshape(n, sh, fh, w * c).permute(0, 2, 1, 3)  # (N, fh, sh, W*C)
    x = x.reshape(n * fh * sh, sw, fw, c).permute(0, 2, 1, 3)  # (N*fh*sh, fw, sw, C)
    x = x.reshape(n * fh, sh, fw, sw * c).permute(0, 2, 1, 3)  # (N*fh, fw, sh, sw*C)
    return x.reshape(-1, sh * sw, c)


def window_untokens(tokens: torch.Tensor, size: tuple[int, int], mode: str, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`window_tokens` for an original ``shape`` (N, C, H, W)."""
    n, c, h, w = shape
    sh, sw = size
    if mode == "block":
        x = tokens.reshape(n * (h // sh), w // sw, sh, sw * c).permute(0, 2, 1, 3)  # (N*Hb, sh, Wb, sw*C)
        return x.reshape(n, h, w, c).permute(0, 3, 1, 2)
    fh, fw = h // sh, w // sw
    x = tokens.reshape(n * fh, fw, sh, sw * c).permute(0, 2, 1, 3)  # (N*fh, sh, fw, sw*C)
    x = x.reshape(n * fh * sh, fw, sw, c).permute(0, 2, 1, 3)  # (N*fh*sh, sw, fw, C)
    x = x.reshape(n, fh, sh, w * c).permute(0, 2, 1, 3)  # (N, sh, fh, W*C)
    return x.reshape(n, h, w, c).permute(0, 3, 1, 2)


def relative_position_index(size: tuple[int, int]) -> torch.Tensor:
    """(T, T) indices into a (2*sh-1)*(2*sw-1) table: the offset between two tokens."""
    sh, sw = size
    ys, xs = torch.meshgrid(torch.arange(sh), torch.arange(sw), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, T)
    delta = coords[:, :, None] - coords[:, None, :]
    return (delta[0] + sh - 1) * (2 * sw - 1) + (delta[1] + sw - 1)


class RelativeAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias
    (MaxViT's block and grid attention), as plain matmul + softmax."""

    def __init__(self, channels: int, size: tuple[int, int], mode: str, head_dim: int = 32) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"channels ({channels}) must be a multiple of head_dim ({head_dim})")
        self.size, self.mode = tuple(size), mode
        self.heads, self.head_dim = channels // head_dim, head_dim
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.bias_table = nn.Parameter(torch.zeros(self.heads, (2 * size[0] - 1) * (2 * size[1] - 1)))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("bias_index", relative_position_index(self.size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = window_tokens(x, self.size, self.mode)  # (B, T, C)
        b, t, c = tokens.shape
        qkv = self.qkv(tokens).reshape(b, t, 3 * self.heads, self.head_dim).permute(0, 2, 1, 3)
        q, k, v = qkv.split(self.heads, dim=1)  # each (B, heads, T, d)
        scores = (q * self.head_dim ** -0.5) @ k.transpose(-1, -2) + self.bias_table[:, self.bias_index]
        out = (scores.softmax(dim=-1) @ v).permute(0, 2, 1, 3).reshape(b, t, c)
        return window_untokens(self.proj(out), self.size, self.mode, x.shape)


class TransformerBlock(nn.Module):
    """Pre-norm windowed attention then a GELU MLP, each residual (one MaxViT axis)."""

    def __init__(self, channels: int, size: tuple[int, int], mode: str, head_dim: int = 32, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1, self.norm2 = ChannelLayerNorm(channels, eps=1e-5), ChannelLayerNorm(channels, eps=1e-5)
        self.attention = RelativeAttention(channels, size, mode, head_dim)
        self.fc1, self.fc2 = conv1x1(channels, channels * mlp_ratio), conv1x1(channels * mlp_ratio, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.fc2(gelu(self.fc1(self.norm2(x))))


class MBConv(nn.Module):
    """Inverted residual with squeeze-excitation (MaxViT's MBConv): 1x1 expand, 3x3
    depthwise (stride 2 to downsample), squeeze-excitation, 1x1 project, each with
    batch norm; the shortcut average-pools and projects when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 4, se_ratio: float = 0.25) -> None:
        super().__init__()
        hidden = cout * expand
        self.pre_norm = nn.BatchNorm2d(cin)
        self.expand = nn.Sequential(conv1x1(cin, hidden, bias=False), nn.BatchNorm2d(hidden))
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
        )
        self.excite = ChannelAttention(hidden, reduction=max(1, round(1 / se_ratio)) * expand)
        self.project = conv1x1(hidden, cout)
        self.shortcut = nn.Sequential(
            *([nn.AvgPool2d(stride)] if stride > 1 else []), *([conv1x1(cin, cout)] if cin != cout else []),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu(self.expand(self.pre_norm(x)))
        y = gelu(self.depthwise(y))
        return self.shortcut(x) + self.project(self.excite(y))


# --- noise-level embedding (diffusion denoisers) ---------------------------------------


class SinusoidalEmbedding(nn.Module):
    """(N,) timesteps or noise levels -> (N, dim) features [sin(t·f_i), cos(t·f_i)], with
    frequencies f_i = max_period^(-i/(dim/2)) from the config (a constant buffer, so
    nothing is read from tensor values): the Transformer's position encoding, as DDPM
    embeds its timestep. ``dim`` must be even."""

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"the embedding dimension must be even, not {dim}")
        half = dim // 2
        freqs = torch.exp(-torch.log(torch.tensor(max_period)) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs.view(1, half), persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
