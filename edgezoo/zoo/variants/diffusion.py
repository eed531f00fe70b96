"""Diffusion denoisers: configs and registry entries of the UNet size ladder on
Fashion-MNIST padded to 32x32, for Gaussian diffusion (DDPM training, v prediction,
DDIM sampling) and Soft Diffusion (blur + noise, x0 prediction, Momentum Sampler).
Imports no torch.

Width is the knob of the ladder: every size has the same depth (three resolutions,
32/16/8 px, two residual blocks each) and a channel width ``width`` x (1, 2, 2)."""

from __future__ import annotations

from dataclasses import dataclass

from edgezoo.runtimes.samplers import BlurSchedule
from edgezoo.zoo.registry import InputSpec, Paper, register_model

PAPER = Paper("Denoising Diffusion Probabilistic Models (NeurIPS 2020)", "https://arxiv.org/abs/2006.11239")
DISTILL_PAPER = Paper("Progressive Distillation for Fast Sampling of Diffusion Models (ICLR 2022)",
                      "https://arxiv.org/abs/2202.00512")
SOFT_PAPER = Paper("Soft Diffusion: Score Matching for General Corruptions (TMLR 2023)", "https://arxiv.org/abs/2209.05442")
BUILDER = "edgezoo.zoo.unet:build"
FMNIST_SIDE = 32  # Fashion-MNIST's 28 px padded to 32 (two halvings stay whole)


@dataclass(frozen=True)
class UNetConfig:
    """A UNet denoiser: (x_t, t) -> the noise estimate of x_t, same shape.

    ``width`` channels at full resolution, times ``channel_mults`` at each lower one;
    ``blocks`` residual blocks per resolution; the timestep enters through a sinusoidal
    embedding of ``time_dim`` features added in every residual block. ``sampler``,
    ``steps``, ``schedule`` and ``train_steps`` say how it is served: the scheduler of
    ``edgezoo.runtimes.samplers`` over the noise schedule it is trained on.

    ``process``: ``gaussian`` (x_t = sqrt(abar) x0 + sqrt(1 - abar) ε, the network
    predicting ``prediction``: ``v`` or ``epsilon``) or ``soft`` (y_t = C_t x0 + s_t η,
    blur and noise levels geometric between their ``*_min`` and ``*_max``, the network
    predicting ``x0``, ``blur`` the :class:`~edgezoo.runtimes.samplers.BlurSchedule`, its
    prior fitted to the training split by ``edgezoo.zoo.train_diffusion.blur_prior``)."""

    in_channels: int = 1
    image_size: tuple[int, int] = (FMNIST_SIDE, FMNIST_SIDE)
    width: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    blocks: int = 2
    time_dim: int = 0  # 0: 4 x width
    sampler: str = "ddim"
    steps: int = 8
    schedule: str = "cosine"
    train_steps: int = 1000
    process: str = "gaussian"
    prediction: str = "v"
    blur: BlurSchedule | None = None  # the soft process's blur and noise levels and prior

    @property
    def embed_dim(self) -> int:
        return self.time_dim or 4 * self.width


# the ladder: name suffix -> width (params at blocks=2, mults 1,2,2: see the test and the README)
LADDER: dict[str, int] = {"xs": 8, "s": 16, "m": 32, "l": 56}
# sizes whose weights ship: -l's float16 file (9 MB) is over the repo's size limit, and at the
# ladder's training budget it trails -m at every step count; its measured table stays in
# benchmarks/results/diffusion_ladder.json
SHIPPED = ("xs", "s", "m")

# Soft Diffusion's prior: the lowest 3x3 DCT block of C_{T-1} x0 over the training split
# (edgezoo.zoo.train_diffusion.blur_prior with the default blur schedule; a test recomputes it)
SOFT_PRIOR_MEAN = (-17.98297, -0.07893, -0.00015, -0.07148, -0.00103, 0.0, -0.0001, 0.0, 0.0)
SOFT_PRIOR_STD = (6.18197, 0.12013, 8e-05, 0.15471, 0.003, 0.0, 6e-05, 0.0, 0.0)

_INPUT = InputSpec(multiple_of=1, channels=1, color="L", value_range=(-1.0, 1.0), fixed_size=(FMNIST_SIDE, FMNIST_SIDE))

for _size, _width in LADDER.items():
    register_model(
        f"ddpm-unet-fmnist-{_size}", family="diffusion", task="generate", builder=BUILDER,
        config=UNetConfig(width=_width), paper=PAPER, input_spec=_INPUT,
        export_size=(FMNIST_SIDE, FMNIST_SIDE),
        licence="Apache-2.0" if _size in SHIPPED else "Apache-2.0 (trained and measured, weights not shipped: see the README)",
        description=f"DDPM UNet denoiser, width {_width} (v prediction, cosine schedule, DDIM sampler): "
                    "Fashion-MNIST 32x32 grey",
        tags=("edge", "diffusion"),
    )
    register_model(
        f"soft-unet-fmnist-{_size}", family="diffusion", task="generate", builder=BUILDER,
        config=UNetConfig(width=_width, process="soft", prediction="x0", sampler="momentum",
                          blur=BlurSchedule(prior_mean=SOFT_PRIOR_MEAN, prior_std=SOFT_PRIOR_STD)),
        paper=SOFT_PAPER, input_spec=_INPUT,
        export_size=(FMNIST_SIDE, FMNIST_SIDE), licence="Apache-2.0 (no weights ship: see the README)",
        description=f"Soft Diffusion UNet, width {_width} (Gaussian blur + noise, x0 prediction, Soft Score "
                    "Matching, Momentum Sampler): Fashion-MNIST 32x32 grey",
        tags=("edge", "diffusion"),
    )

# a 4-step student of ddpm-unet-fmnist-s by progressive distillation (64 -> 32 -> 16 -> 8 -> 4 steps)
register_model(
    "ddpm-unet-fmnist-s-distill4", family="diffusion", task="generate", builder=BUILDER,
    config=UNetConfig(width=LADDER["s"], steps=4), paper=DISTILL_PAPER, input_spec=_INPUT,
    export_size=(FMNIST_SIDE, FMNIST_SIDE), licence="Apache-2.0",
    description="4-step student of ddpm-unet-fmnist-s (progressive distillation, v prediction, DDIM): "
                "Fashion-MNIST 32x32 grey",
    tags=("edge", "diffusion", "distilled"),
)
