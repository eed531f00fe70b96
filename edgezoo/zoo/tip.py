"""Instruction-driven restoration (TIP), an edge version: text encoder, control adaptor,
and the frozen MAXIM prior they steer. The config and the design: :mod:`edgezoo.zoo.variants.tip`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgezoo.tasks.instructions import NUM, PAD, VOCABULARY
from edgezoo.zoo.maxim import Maxim
from edgezoo.zoo.variants.tip import TipConfig


class TextEncoder(nn.Module):
    """Token ids and numbers -> one instruction embedding. A number is its ``<num>``
    token's embedding plus features of its value; two 1-D convolutions over the tokens
    let a number read the word before it ("sigma 25" against "blur of 2 px"); the
    padded positions are left out of the mean."""

    def __init__(self, cfg: TipConfig) -> None:
        super().__init__()
        width = cfg.text_width
        self.embed = nn.Embedding(len(VOCABULARY), width)
        self.number = nn.Sequential(nn.Linear(3, width), nn.SiLU(), nn.Linear(width, width))
        self.mix = nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nn.SiLU(),
                                 nn.Conv1d(width, width, 3, padding=1))
        self.out = nn.Sequential(nn.Linear(width, cfg.embedding), nn.SiLU(), nn.Linear(cfg.embedding, cfg.embedding))
        self.pad_id, self.num_id = VOCABULARY.index(PAD), VOCABULARY.index(NUM)

    def forward(self, tokens: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        ids = tokens  # int32 as the contract has it: a cast here cost the input its name in OpenVINO's IR
        is_number = (ids == self.num_id).to(numbers.dtype).unsqueeze(-1)
        keep = (ids != self.pad_id).to(numbers.dtype).unsqueeze(1)  # (N, 1, L)
        # sigma up to ~50, blur up to ~4 px, strength up to 1: one feature per scale
        value = numbers.unsqueeze(-1)
        features = torch.cat([value / 50.0, value / 4.0, value.clamp(max=1.0)], dim=-1)
        h = self.embed(ids) + self.number(features) * is_number
        h = h.transpose(1, 2)
        h = h + self.mix(h)
        pooled = (h * keep).sum(-1) / keep.sum(-1).clamp(min=1.0)
        return self.out(pooled)


class _Down(nn.Module):
    """Two convolutions, the first striding down (except at full resolution)."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.conv2(F.silu(self.conv1(x))))


class _Output(nn.Module):
    """The instruction's modulation of one level's features, then a zero-initialised
    1x1 convolution giving that level's (gamma, beta)."""

    def __init__(self, width: int, target: int, embedding: int) -> None:
        super().__init__()
        self.film = nn.Linear(embedding, 2 * width)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.zero = nn.Conv2d(width, 2 * target, 1)
        nn.init.zeros_(self.zero.weight)
        nn.init.zeros_(self.zero.bias)

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv(h * (1 + scale) + shift))
        gamma, beta = self.zero(h).chunk(2, dim=1)
        return gamma, beta


class ControlAdaptor(nn.Module):
    """The degraded picture read by a small U-Net at the prior's resolutions (full,
    then halved per level down to the bottleneck's, then back up, so that the
    full-resolution output sees as far as the coarsest level: deblurring needs context),
    turned into the (gamma, beta) of each modulated feature of the prior, in the order
    :meth:`Maxim.forward` takes them (bottleneck, then decoders deepest first). Every
    level's features are modulated by the instruction. Zero at initialisation: the prior
    unchanged."""

    def __init__(self, cfg: TipConfig, prior: Maxim) -> None:
        super().__init__()
        pc = prior.cfg
        # the prior's modulated features, shallowest first: decoder levels 0..depth-1, bottleneck
        targets = [pc.width(i) for i in range(pc.depth)] + [pc.width(pc.depth - 1)]
        widths = list(cfg.control_widths)
        if len(widths) != len(targets):
            raise ValueError(f"control_widths needs {len(targets)} entries for a MAXIM of depth {pc.depth}")
        self.down = nn.ModuleList(_Down(pc.in_channels if i == 0 else widths[i - 1], widths[i], 1 if i == 0 else 2)
                                  for i in range(len(widths)))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                for i in range(len(widths) - 1))
        self.outputs = nn.ModuleList(_Output(widths[i], targets[i], cfg.embedding) for i in range(len(widths)))

    def forward(self, image: torch.Tensor, embedding: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        h, skips = image, []
        for down in self.down:
            h = down(h)
            skips.append(h)
        film = [self.outputs[-1](h, embedding)]
        for i in reversed(range(len(self.up))):
            h = skips[i] + self.up[i](h)
            film.append(self.outputs[i](h, embedding))
        return film  # deepest first


class TipNet(nn.Module):
    """The ``net`` graph: (image, instruction embedding) -> restored image."""

    def __init__(self, cfg: TipConfig, prior: Maxim) -> None:
        super().__init__()
        self.prior = prior
        self.adaptor = ControlAdaptor(cfg, prior)

    def forward(self, image: torch.Tensor, instruction: torch.Tensor) -> torch.Tensor:
        # the argument is named as the contract's input (the export calls graphs by name)
        return self.prior(image, self.adaptor(image, instruction))


class TipRestorer(nn.Module):
    """The whole model: ``forward(image, tokens, numbers)``; ``text_encoder`` and ``net``
    are the two exported graphs. The prior's parameters are frozen."""

    def __init__(self, cfg: TipConfig, prior: Maxim) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_encoder = TextEncoder(cfg)
        self.net = TipNet(cfg, prior)
        for p in prior.parameters():
            p.requires_grad_(False)

    def control(self) -> nn.ModuleDict:
        """The trained parts (text encoder and adaptor) as one module."""
        return nn.ModuleDict({"text_encoder": self.text_encoder, "adaptor": self.net.adaptor})

    def components(self) -> dict[str, nn.Module]:
        """The named graphs of the model's contract (``edgezoo.tasks.instruct``)."""
        return {"text_encoder": self.text_encoder, "net": self.net}

    def forward(self, image: torch.Tensor, tokens: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        return self.net(image, self.text_encoder(tokens, numbers))


def build(cfg: TipConfig, prior_weights: bool = True) -> TipRestorer:
    """A TIP model on ``cfg.prior``: with its shipped weights (``prior_weights``), else
    untrained; the text encoder and adaptor untrained (the adaptor's zero-initialised
    output leaves the prior's answer unchanged). ``create_model("tip-tiny-restore")``
    then loads the shipped file, which holds both (:func:`edgezoo.zoo.release_tip.release_tip`)."""
    from edgezoo.zoo.registry import create_model

    prior = create_model(cfg.prior, pretrained=prior_weights)
    return TipRestorer(cfg, prior.train(False))
