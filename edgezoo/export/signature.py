"""The signature every converter sees: ``forward(image) -> restored``, whatever the
wrapped module calls its argument, so that every format names its tensors the same."""

from __future__ import annotations

import torch
from torch import nn


class ImageToImage(nn.Module):
    """``forward(image)`` -> the wrapped module's single output tensor."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.module(image)


class ImageToNamedOutput(nn.Module):
    """``forward(image)`` -> ``{"restored": tensor}``: converters that name outputs after
    the returned dict's keys (litert-torch) then call the output ``restored``."""

    def __init__(self, module: nn.Module, output_name: str) -> None:
        super().__init__()
        self.module, self.output_name = module, output_name

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.output_name: self.module(image)}
