"""Diffusion denoisers (Gaussian DDPM, epsilon prediction): configs and registry entries
of the UNet size ladder on Fashion-MNIST padded to 32x32. Imports no torch.

Width is the knob of the ladder: every size has the same depth (three resolutions,
32/16/8 px, two residual blocks each) and a channel width ``width`` x (1, 2, 2)."""

from __future__ import annotations

from dataclasses import dataclass

from edgezoo.zoo.registry import InputSpec, Paper, register_model

PAPER = Paper("Denoising Diffusion Probabilistic Models (NeurIPS 2020)", "https://arxiv.org/abs/2006.11239")
BUILDER = "edgezoo.zoo.unet:build"
FMNIST_SIDE = 32  # Fashion-MNIST's 28 px padded to 32 (two halvings stay whole)


@dataclass(frozen=True)
class UNetConfig:
    """A UNet denoiser: (x_t, t) -> the noise estimate of x_t, same shape.

    ``width`` channels at full resolution, times ``channel_mults`` at each lower one;
    ``blocks`` residual blocks per resolution; the timestep enters through a sinusoidal
    embedding of ``time_dim`` features added in every residual block. ``sampler``,
    ``steps``, ``schedule`` and ``train_steps`` say how it is served: the scheduler of
    ``edgezoo.runtimes.samplers`` over the noise schedule it is trained on."""

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

    @property
    def embed_dim(self) -> int:
        return self.time_dim or 4 * self.width


# the ladder: name suffix -> width (params at blocks=2, mults 1,2,2: see the test and the README)
LADDER: dict[str, int] = {"xs": 8, "s": 16, "m": 32, "l": 56}

for _size, _width in LADDER.items():
    register_model(
        f"ddpm-unet-fmnist-{_size}", family="diffusion", task="generate", builder=BUILDER,
        config=UNetConfig(width=_width), paper=PAPER,
        input_spec=InputSpec(multiple_of=1, channels=1, color="L", value_range=(-1.0, 1.0),
                             fixed_size=(FMNIST_SIDE, FMNIST_SIDE)),
        export_size=(FMNIST_SIDE, FMNIST_SIDE), licence="Apache-2.0 (no weights ship yet)",
        description=f"DDPM UNet denoiser, width {_width} (epsilon prediction, cosine schedule, DDIM sampler): "
                    "Fashion-MNIST 32x32 grey; no weights ship yet (export with --untrained)",
        tags=("edge", "diffusion"),
    )
