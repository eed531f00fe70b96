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
classifier (``fd_fmnist``, lower is better), named for what it is, with precision,
recall and a copy check beside it (``edgezoo.zoo.generation_quality``); a manifest
records it per number of sampling steps, which the planner reads as size x steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, TensorSpec
from edgezoo.tasks.base import Contract, TaskProtocol, contract_inputs

CALIBRATION_SEED = 0

FD_FMNIST = Metric(
    name="fd_fmnist", unit="", higher_is_better=False,
    note="Fréchet distance between 5,000 generated samples and the 10,000 Fashion-MNIST test images in the feature "
         "space of the zoo's Fashion-MNIST classifier maxvit-tiny-fmnist (not FID: no Inception network offline)",
)


OUTPUT_NAMES = {"epsilon": "eps", "v": "v", "x0": "x0"}


def blur_schedule(config: Any) -> Any:
    """The :class:`~edgezoo.runtimes.samplers.BlurSchedule` a soft-diffusion config trains
    and samples with."""
    from edgezoo.errors import BadInputError

    if config.blur is None or config.blur.train_steps != config.train_steps:
        raise BadInputError("a soft-diffusion config needs a blur schedule over its own train_steps")
    return config.blur


def sampler_data(config: Any) -> dict[str, Any]:
    """The scheduler a config is served with, as a manifest's ``program.sampler`` data."""
    from edgezoo.runtimes.samplers import MomentumScheduler, SCHEDULERS, NoiseSchedule

    if getattr(config, "process", "gaussian") == "soft":
        return MomentumScheduler(blur_schedule(config), config.steps).to_dict()
    schedule = NoiseSchedule(kind=config.schedule, train_steps=config.train_steps)
    return SCHEDULERS[config.sampler](schedule, config.steps,
                                      prediction=getattr(config, "prediction", "epsilon")).to_dict()


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
        # the output is named for what the network predicts (eps, v or x0); the sampler's
        # data says the same in ``prediction``
        name = OUTPUT_NAMES[getattr(cfg, "prediction", "epsilon")]
        eps = sample.model_copy(update={"name": name, "shape_rule": "same:sample"})
        sampler = sampler_data(cfg)
        sampler["sample_range"] = [float(low), float(high)]
        return ModelSpec(
            protocol=self.name, components=[Component(name="denoiser", inputs=[sample, timestep], outputs=[eps])],
            program=Program(kind="sampler", component="denoiser", sampler=sampler), metrics=list(self.metrics),
        )

    def quality_problem(self, task: str) -> str | None:
        from edgezoo.zoo.fashion_mnist import DIR_ENV, available, data_dir

        if available():
            return None
        return (f"Fashion-MNIST is not at {data_dir()}: `apt-get install dataset-fashion-mnist` "
                f"(or set {DIR_ENV} to a folder with the four idx .gz files)")

    def calibration_samples(self, contract: Contract, count: int, seed: int = CALIBRATION_SEED) -> list[dict[str, np.ndarray]]:
        """``count`` requests the step graph sees in service: Fashion-MNIST training-split
        images (a seeded draw; padded to the sample's size, in the sampler's range) noised
        by the forward process, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (soft
        diffusion: y_t = C_t x0 + s_t eps), at the program's timesteps in turn. Sample i depends only on (seed, i), so a larger
        ``count`` extends a smaller one's."""
        from edgezoo.runtimes.samplers import MomentumScheduler, blur_image, scheduler_from_dict, step_inputs
        from edgezoo.tasks.classify import fashion_mnist

        sampler = ((contract.get("spec") or {}).get("program") or {}).get("sampler") or {}
        scheduler = scheduler_from_dict(sampler)
        sample, timestep = step_inputs(contract_inputs(contract))
        channels, height, width = (int(d) for d in sample.shape[1:4])
        low, high = sampler.get("sample_range", (-1.0, 1.0))
        images, _ = fashion_mnist("train")
        order = np.random.default_rng(seed).permutation(len(images))[:count]
        samples = []
        for i, index in enumerate(order):
            picture = images[index].astype(np.float32) / 255.0
            top, left = (height - picture.shape[0]) // 2, (width - picture.shape[1]) // 2
            if top < 0 or left < 0:
                raise NotImplementedError(f"Fashion-MNIST's 28 px pictures are larger than the {height}x{width} sample")
            x0 = np.zeros((1, channels, height, width), np.float32)
            x0[:, :, top:top + picture.shape[0], left:left + picture.shape[1]] = picture
            x0 = low + x0 * (high - low)
            t = int(scheduler.timesteps[i % scheduler.steps])
            eps = np.random.default_rng([seed, i]).standard_normal(x0.shape, dtype=np.float32)
            if isinstance(scheduler, MomentumScheduler):  # soft diffusion: y_t = C_t x0 + s_t eps
                x_t = blur_image(x0, scheduler.schedule.blur(t)) + scheduler.schedule.noise(t) * eps
            else:
                abar = scheduler.abar(t)
                x_t = np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * eps
            samples.append({sample.name: x_t.astype(np.dtype(sample.dtype)),
                            timestep.name: np.full((1,), t, np.dtype(timestep.dtype))})
        return samples

    def describe_calibration(self, contract: Contract, count: int) -> str:
        return (f"{count} Fashion-MNIST training-split images (seeded draw) noised by the forward process at the "
                "sampler's timesteps in turn")

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        """``outputs["sample"]``: final samples (N, C, H, W) in the sampler's sample range
        -> ``{"image": the same in [0, 1]}``."""
        low, high = (spec.program.sampler or {}).get("sample_range", (-1.0, 1.0))
        sample = np.asarray(outputs["sample"], dtype=np.float32)
        return {"image": np.clip((sample - low) / (high - low), 0.0, 1.0)}
