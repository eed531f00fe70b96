"""Instruction-driven restoration (TIP, Qi et al., ECCV 2024), an edge version: the config.
Imports no torch.

A frozen restoration prior (a shipped MAXIM) is steered by a ControlNet-style adaptor: a
small encoder of the degraded picture whose features, modulated by the instruction's
embedding, produce zero-initialised (gamma, beta) pairs that enter the prior's bottleneck
and decoder features by modulation fusion, ``h * (1 + gamma) + beta``. The instruction
("denoise, sigma 25", "remove blur of 2 px", "remove all degradation", with a strength
appended in words) is tokenized by :mod:`edgezoo.tasks.instructions` and embedded by a
small text encoder trained with the adaptor. Two graphs: ``text_encoder`` (token ids and
numbers -> embedding) and ``net`` (image and embedding -> image), served by a ``tiled``
program over ``net`` that calls ``text_encoder`` once per request
(:mod:`edgezoo.tasks.instruct`). Registered as ``tip-tiny-restore`` (task ``restore``).
Weights: ``python -m edgezoo.zoo.train_tip`` trains the text encoder and adaptor;
:func:`edgezoo.zoo.tip.release_tip` ships them with the frozen prior's as one file."""

from __future__ import annotations

from dataclasses import dataclass

from edgezoo.zoo.registry import InputSpec, Paper, register_model
from edgezoo.zoo.variants.maxim import TINY as MAXIM_TINY

TIP_PAPER = Paper("TIP: Text-Driven Image Processing with Semantic and Restoration Instructions (ECCV 2024)",
                  "https://arxiv.org/abs/2312.11595")


@dataclass(frozen=True)
class TipConfig:
    """``prior``: the registered MAXIM whose shipped weights are frozen; ``embedding``:
    the instruction embedding's width; ``text_width``: the text encoder's token features;
    ``control_widths``: the adaptor's features at full, half and quarter resolution."""

    prior: str = "maxim-tiny-denoise"
    embedding: int = 64
    text_width: int = 64
    control_widths: tuple[int, int, int] = (16, 32, 32)
    max_tokens: int = 16


TINY = TipConfig()


def components(cfg: TipConfig, sides: tuple[int | str, int | str] = ("H", "W"), multiple_of: int = 32) -> list:
    """The two graphs' contracts (:class:`edgezoo.manifests.schema.Component`):
    ``text_encoder`` (``tokens`` int32 ids and ``numbers``, each 1 x ``max_tokens`` ->
    ``instruction``, the embedding) and ``net`` (``image`` and ``instruction`` -> ``restored``)."""
    from edgezoo.manifests.schema import Component, TensorSpec
    from edgezoo.tasks.instructions import VOCABULARY

    row = dict(layout="NL", color=None)
    embedding = TensorSpec(name="instruction", role="embedding", shape=[1, cfg.embedding], layout="NC", range=None,
                           color=None, shape_rule="fixed")
    image = TensorSpec(name="image", role="image", shape=[1, 3, *sides], multiple_of=multiple_of)
    return [
        Component(name="text_encoder", inputs=[
            TensorSpec(name="tokens", role="text_tokens", shape=[1, cfg.max_tokens], dtype="int32",
                       range=(0, len(VOCABULARY) - 1), **row),
            TensorSpec(name="numbers", role="text_numbers", shape=[1, cfg.max_tokens], range=(0.0, 50.0), **row),
        ], outputs=[embedding]),
        Component(name="net", inputs=[image, embedding.model_copy(update={"shape_rule": None})],
                  outputs=[image.model_copy(update={"name": "restored", "multiple_of": None,
                                                    "shape_rule": "same:image"})]),
    ]


register_model(
    "tip-tiny-restore", family="tip", task="restore", builder="edgezoo.zoo.tip:build", config=TINY, paper=TIP_PAPER,
    input_spec=InputSpec(multiple_of=MAXIM_TINY.multiple_of), export_size=(256, 256),
    licence="Apache-2.0 (weights: edgezoo/weights/tip-tiny-restore.safetensors, trained here by edgezoo.zoo.train_tip)",
    description="Instruction-driven restoration (TIP, edge): the frozen maxim-tiny-denoise steered by a zero-initialised "
                "modulation adaptor and a small text encoder; 'denoise, sigma 25', 'remove blur of 2 px', 'remove all "
                "degradation', with a strength", tags=("edge", "instruction"),
)
