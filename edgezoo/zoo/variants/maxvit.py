"""MaxViT variants: configs and registry entries. Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass

from edgezoo.zoo.registry import InputSpec, Paper, register_model

PAPER = Paper("MaxViT: Multi-Axis Vision Transformer (ECCV 2022)", "https://arxiv.org/abs/2204.01697")


@dataclass(frozen=True)
class MaxVitConfig:
    """Architecture sizes of one MaxViT variant."""

    in_channels: int = 1
    num_classes: int = 10
    input_size: tuple[int, int] = (28, 28)
    stem_channels: int = 16
    channels: tuple[int, ...] = (32, 64)
    depths: tuple[int, ...] = (1, 2)
    window: tuple[int, int] = (4, 4)  # block size and grid size alike, as in the paper
    head_dim: int = 16
    labels: tuple[str, ...] = ()

    @property
    def padded_size(self) -> tuple[int, int]:
        """The input is zero-padded to a multiple of stem stride x stage strides x window."""
        m = 2 ** (1 + len(self.depths)) * self.window[0]
        return tuple(-(-s // m) * m for s in self.input_size)  # type: ignore[return-value]


BUILDER = "edgezoo.zoo.maxvit:build"
# Fashion-MNIST's classes, in its label order
FMNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
TINY_FMNIST = MaxVitConfig(labels=FMNIST_LABELS)

register_model(
    "maxvit-tiny-fmnist", family="maxvit", task="classify", builder=BUILDER, config=TINY_FMNIST, paper=PAPER,
    input_spec=InputSpec(multiple_of=1, channels=1, color="L", fixed_size=TINY_FMNIST.input_size),
    export_size=TINY_FMNIST.input_size, licence="Apache-2.0 (weights trained on Fashion-MNIST, MIT)",
    description="MaxViT edge classifier (~0.3M params): Fashion-MNIST's 10 clothing classes, 28x28 grey",
    tags=("edge",),
)
