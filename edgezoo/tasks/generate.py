"""Unconditional generation by diffusion: a ``denoiser`` step graph, (x_t, t) -> the
noise estimate, called once per step by a ``sampler`` program whose scheduler is data
(``edgezoo.runtimes.samplers``). A request has no input picture: the runtime draws the
starting noise from a seed and returns the final sample as a picture.

Roles: the denoiser's ``sample`` input is x_t, Gaussian noise at the first step and a
noisier-than-clean picture after (variance about 1 throughout), so it has the ``noise``
role (example inputs draw it standard normal); ``timestep`` is the training timestep t
as float32 in [0, T-1]; the ``eps`` output is a noise estimate (role ``noise``, judged
by PSNR in parity like any non-logits output). The final sample lies in the config's
value range ([-1, 1]) and is mapped to [0, 1] for the user.

Quality is a Fréchet distance in the feature space of the zoo's own Fashion-MNIST
classifier (``fd_fmnist``, lower is better), named for what it is; it is not measured
yet, so no figure is recorded anywhere."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, TensorSpec
from edgezoo.tasks.base import TaskProtocol

FD_FMNIST = Metric(
    name="fd_fmnist", unit="", higher_is_better=False,
    note="Fréchet distance between generated samples and Fashion-MNIST test images in the feature space of the "
         "zoo's Fashion-MNIST classifier (not FID); not measured yet",
)


def sampler_data(config: Any) -> dict[str, Any]:
    """The scheduler a config is served with, as a manifest's ``program.sampler`` data."""
    from edgezoo.runtimes.samplers import SCHEDULERS, NoiseSchedule

    schedule = NoiseSchedule(kind=config.schedule, train_steps=config.train_steps)
    return SCHEDULERS[config.sampler](schedule, config.steps).to_dict()


class GenerateProtocol(TaskProtocol):
    name = "generate"
    tasks = ("generate",)
    metrics = (FD_FMNIST,)

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        cfg = entry.config
        side_h, side_w = cfg.image_size  # the model's own size: a sample is generated whole, never tiled
        low, high = entry.input_spec.value_range
        sample = TensorSpec(name="sample", role="noise", shape=[1, cfg.in_channels, side_h, side_w],
                            dtype="float32", layout="NCHW", range=None, color=entry.input_spec.color)
        timestep = TensorSpec(name="timestep", role="timestep", shape=[1], dtype="float32", layout="N",
                              range=(0.0, float(cfg.train_steps - 1)), color=None)
        eps = sample.model_copy(update={"name": "eps", "shape_rule": "same:sample"})
        sampler = sampler_data(cfg)
        sampler["sample_range"] = [float(low), float(high)]
        return ModelSpec(
            protocol=self.name, components=[Component(name="denoiser", inputs=[sample, timestep], outputs=[eps])],
            program=Program(kind="sampler", component="denoiser", sampler=sampler), metrics=list(self.metrics),
        )

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        """``outputs["sample"]``: final samples (N, C, H, W) in the sampler's sample range
        -> ``{"image": the same in [0, 1]}``."""
        low, high = (spec.program.sampler or {}).get("sample_range", (-1.0, 1.0))
        sample = np.asarray(outputs["sample"], dtype=np.float32)
        return {"image": np.clip((sample - low) / (high - low), 0.0, 1.0)}
