"""MULLER variants (a learned resizer in front of a classifier): configs and registry
entries. Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgezoo.zoo.registry import InputSpec, Paper, register_model
from edgezoo.zoo.variants.maxvit import FMNIST_LABELS, MaxVitConfig

PAPER = Paper("MULLER: Multilayer Laplacian Resizer for Vision (ICCV 2023)", "https://arxiv.org/abs/2304.02859")
BUILDER = "edgezoo.zoo.muller:build"
RESIZER_BUILDER = "edgezoo.zoo.muller:build_resizer"
RESOLUTIONS = (16, 12, 8)  # the classifier's input side; Fashion-MNIST is 28 px


@dataclass(frozen=True)
class MullerConfig:
    """A resizer to ``target_size`` with ``num_layers`` Laplacian layers (0: the plain
    bilinear resize it starts from) in front of a MaxViT classifier of that input size."""

    input_size: tuple[int, int] = (28, 28)
    target_size: tuple[int, int] = (16, 16)
    num_layers: int = 2
    kernel_size: int = 5
    stddev: float = 1.0
    classifier: MaxVitConfig = field(default_factory=MaxVitConfig)

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels


@dataclass(frozen=True)
class MullerResizerConfig:
    """The resizer of a MULLER model on its own: ``channels`` x ``input_size`` in,
    ``channels`` x ``target_size`` out. ``trained_with`` names the MULLER variant whose
    resizer part it is (its weights are that model's ``resizer.*`` tensors, and its
    quality is that model's accuracy: a learned resizer is judged by the task behind it)."""

    input_size: tuple[int, int] = (28, 28)
    target_size: tuple[int, int] = (16, 16)
    num_layers: int = 2
    kernel_size: int = 5
    stddev: float = 1.0
    channels: int = 1
    trained_with: str = ""


def resizer_config(cfg: MullerConfig, trained_with: str) -> MullerResizerConfig:
    """The resizer part of ``cfg``, as a model of its own."""
    return MullerResizerConfig(
        input_size=cfg.input_size, target_size=cfg.target_size, num_layers=cfg.num_layers,
        kernel_size=cfg.kernel_size, stddev=cfg.stddev, channels=cfg.classifier.in_channels, trained_with=trained_with,
    )


def fmnist_config(side: int) -> MullerConfig:
    """The Fashion-MNIST variant whose classifier sees ``side`` x ``side`` pixels: a
    MaxViT with 2x2 windows (16 px after padding, three halvings, divisible by 2)."""
    classifier = MaxVitConfig(input_size=(side, side), window=(2, 2), labels=FMNIST_LABELS)
    return MullerConfig(target_size=(side, side), classifier=classifier)


for _side in RESOLUTIONS:
    register_model(
        f"muller-maxvit-fmnist-{_side}", family="muller", task="classify", builder=BUILDER,
        config=fmnist_config(_side), paper=PAPER,
        input_spec=InputSpec(multiple_of=1, channels=1, color="L", fixed_size=(28, 28)), export_size=(28, 28),
        licence="Apache-2.0 (weights trained on Fashion-MNIST, MIT)",
        description=f"MULLER resizer (28 -> {_side} px, 4 trainable scalars) + MaxViT classifier, Fashion-MNIST",
        tags=("edge",),
    )
    register_model(
        f"muller-resizer-fmnist-{_side}", family="muller", task="resize", builder=RESIZER_BUILDER,
        config=resizer_config(fmnist_config(_side), f"muller-maxvit-fmnist-{_side}"), paper=PAPER,
        input_spec=InputSpec(multiple_of=1, channels=1, color="L", fixed_size=(28, 28)), export_size=(28, 28),
        licence="Apache-2.0 (weights trained on Fashion-MNIST, MIT)",
        description=f"MULLER resizer alone (28 -> {_side} px grey, 4 trainable scalars), the resizer part of "
                    f"muller-maxvit-fmnist-{_side}; untrained it is the plain bilinear resize",
        tags=("edge",),
    )
