"""Conditional diffusion for restoration (issue 11): configs and registry entries of the
predict-and-refine family (DvSR), its structure-guided option (Ren et al.) and its
few-step CoDi students. Imports no torch.

A model has two components: a deterministic ``predictor`` (degraded picture -> a first
restoration, x``scale`` larger for super-resolution) and a conditional ``denoiser``, the
zoo's diffusion UNet (:class:`~edgezoo.zoo.variants.diffusion.UNetConfig`) with the
degraded picture concatenated to its input (up-sampled inside the graph for
super-resolution), predicting v of the *residual* ``(x - predictor(y)) * residual_scale``.
The sampler program runs the predictor once and the denoiser once per step; the answer
is ``predictor(y) + sample / residual_scale``. With ``guidance`` a multiscale structure
branch regresses a grey structure picture at every UNet resolution from the degraded
input and adds its features into the denoiser's encoder. A CoDi student
(``adapter_rank > 0``) is its teacher's denoiser, frozen, plus zero-initialised low-rank
adapters after every residual block, trained by the conditional consistency objective
(``edgezoo.zoo.train_conditional``) for ``steps`` sampling steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgezoo.zoo.registry import InputSpec, Paper, register_model
from edgezoo.zoo.variants.diffusion import UNetConfig

DVSR_PAPER = Paper("Deblurring via Stochastic Refinement (CVPR 2022)", "https://arxiv.org/abs/2112.02831")
GUIDANCE_PAPER = Paper("Multiscale Structure Guided Diffusion for Image Deblurring (ICCV 2023)",
                       "https://arxiv.org/abs/2212.01789")
CODI_PAPER = Paper("CoDi: Conditional Diffusion Distillation for Higher-Fidelity and Faster Image Generation "
                   "(CVPR 2024)", "https://arxiv.org/abs/2310.01407")
BUILDER = "edgezoo.zoo.conditional:build"
FAMILY = "conditional-diffusion"
# The tasks of this family's protocol (edgezoo.tasks.conditional): a same-size deblurring
# and a x4 super-resolution, each served by a sampler program over two components
TASKS = ("conditional-deblur", "conditional-sr4")


@dataclass(frozen=True)
class PredictorConfig:
    """The deterministic predictor: a conv stem, ``blocks`` residual channel-attention
    blocks of ``width`` channels (the zoo's RCAB) at the input's resolution, then, for
    ``scale`` > 1, transposed-conv up-sampling by 2 per octave; the output is added to the
    input (bilinearly up-sampled for ``scale`` > 1): it learns a correction."""

    width: int = 24
    blocks: int = 4
    scale: int = 1


@dataclass(frozen=True)
class ConditionalConfig:
    """One variant: its predictor, its denoiser backbone, and how they are served.

    ``degradation`` names the training degradation
    (:data:`edgezoo.zoo.degradations.CONDITIONAL_DEGRADATIONS`); ``scale`` is the
    output's sides over the input's; ``residual_scale`` multiplies the residual into the
    sampler's [-1, 1] range (residuals beyond 1/residual_scale are clipped by the
    sampler); ``guidance_width`` > 0 adds the structure branch; ``adapter_rank`` > 0
    makes a CoDi student on ``teacher``'s frozen denoiser."""

    degradation: str = "blur-gaussian"
    scale: int = 1
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    backbone: UNetConfig = field(default_factory=lambda: UNetConfig(
        in_channels=3, image_size=(64, 64), width=16, channel_mults=(1, 2, 2), blocks=1, steps=25))
    residual_scale: float = 2.0
    guidance_width: int = 0
    adapter_rank: int = 0
    teacher: str | None = None

    @property
    def levels(self) -> int:
        return len(self.backbone.channel_mults)

    @property
    def multiple_of(self) -> int:
        """The degraded input's sides must be a multiple of this (the denoiser halves the
        output's sides ``levels - 1`` times)."""
        need = 2 ** (self.levels - 1)
        return max(1, need // self.scale) if need % self.scale == 0 else need

    @property
    def steps(self) -> int:
        """Sampling steps of the program (the teacher's many, a student's few)."""
        return self.backbone.steps


TINY_BACKBONE = UNetConfig(in_channels=3, image_size=(64, 64), width=16, channel_mults=(1, 2, 2), blocks=1, steps=25)
TINY_DEBLUR = ConditionalConfig(degradation="blur-gaussian", scale=1, predictor=PredictorConfig(), backbone=TINY_BACKBONE)
TINY_SR4 = ConditionalConfig(degradation="sr4", scale=4, predictor=PredictorConfig(scale=4), backbone=TINY_BACKBONE)
GUIDANCE_WIDTH = 16
ADAPTER_RANK = 4
STUDENT_STEPS = 4


def student_of(teacher: ConditionalConfig, teacher_name: str, steps: int = STUDENT_STEPS,
               rank: int = ADAPTER_RANK) -> ConditionalConfig:
    """A CoDi student's config: the teacher's, with adapters of ``rank`` and ``steps``."""
    from dataclasses import replace

    return replace(teacher, adapter_rank=rank, teacher=teacher_name, backbone=replace(teacher.backbone, steps=steps))


def _register(name: str, task: str, config: ConditionalConfig, paper: Paper, description: str,
              tags: tuple[str, ...]) -> None:
    side = 128 // config.scale  # exported at a 128 x 128 output
    register_model(
        name, family=FAMILY, task=task, builder=BUILDER, config=config, paper=paper,
        input_spec=InputSpec(multiple_of=config.multiple_of), export_size=(side, side),
        licence="Apache-2.0 (weights where the manifest ships them; scripts/device_conditional.py trains them)",
        description=description, tags=tags,
    )


_GUIDED = ConditionalConfig(degradation="blur-gaussian", scale=1, predictor=PredictorConfig(), backbone=TINY_BACKBONE,
                            guidance_width=GUIDANCE_WIDTH)
_register("dvsr-tiny-deblur", "conditional-deblur", TINY_DEBLUR, DVSR_PAPER,
          "Predict-and-refine deblurring (DvSR): RCAB predictor + conditional UNet on the residual (v prediction, "
          "DDIM 25 steps); trained on Gaussian blur", ("edge", "diffusion", "conditional"))
_register("dvsr-tiny-deblur-guided", "conditional-deblur", _GUIDED, GUIDANCE_PAPER,
          "dvsr-tiny-deblur plus a multiscale structure-guidance branch (Ren et al.) in the denoiser's encoder; "
          "trained on Gaussian blur", ("edge", "diffusion", "conditional"))
_register("dvsr-tiny-sr4", "conditional-sr4", TINY_SR4, DVSR_PAPER,
          "Predict-and-refine x4 super-resolution: RCAB predictor (x4) + conditional UNet on the residual "
          "(v prediction, DDIM 25 steps)", ("edge", "diffusion", "conditional"))
_register("codi-tiny-deblur", "conditional-deblur", student_of(TINY_DEBLUR, "dvsr-tiny-deblur"), CODI_PAPER,
          "4-step CoDi student of dvsr-tiny-deblur: its frozen denoiser plus zero-initialised low-rank adapters, "
          "conditional consistency distillation", ("edge", "diffusion", "conditional", "distilled"))
_register("codi-tiny-sr4", "conditional-sr4", student_of(TINY_SR4, "dvsr-tiny-sr4"), CODI_PAPER,
          "4-step CoDi student of dvsr-tiny-sr4: its frozen denoiser plus zero-initialised low-rank adapters, "
          "conditional consistency distillation", ("edge", "diffusion", "conditional", "distilled"))
