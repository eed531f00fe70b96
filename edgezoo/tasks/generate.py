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
records it per number of sampling steps, which the planner reads as size x steps.

int8 is judged on that Fréchet distance too (:meth:`GenerateProtocol.measure_quality`):
``GATE_SAMPLES`` samples generated through the artifact's own step graph, one call per
step, with the program's scheduler and the same seeds as the fp32 artifact of the same
format, whose FD is measured the same way (see ``INT8_FD_RELATIVE``)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, QualityResult, TensorSpec
from edgezoo.tasks.base import (
    Contract,
    QualitySet,
    QualityTolerance,
    RunFunction,
    TaskProtocol,
    contract_inputs,
    contract_outputs,
    pick_output,
)

CALIBRATION_SEED = 0

# The int8 gate. GATE_SAMPLES samples (the program's steps, batch 1, one call per step)
# keep an export of ddpm-unet-fmnist-s to three formats at fp32/fp16/int8 within a few
# minutes on 2 CPU cores (one generation per artifact: 500 x 8 calls of ~5-20 ms).
# 500 is far too few for an absolute FD (its bias at this count is several units above
# the 5,000-sample figure the manifest records), but the gate is a paired comparison:
# the int8 and fp32 artifacts start from the same noise and draw the same fresh noise,
# so their samples differ only by what quantization changed and the bias is common to
# both. The rule: int8 FD <= fp32 FD x (1 + INT8_FD_RELATIVE) + INT8_FD_ABSOLUTE. A
# relative bound because FD is a squared distance whose scale depends on the model and
# on N; 10% is half of what the shipped ladder gains from 8 to 16 sampling steps
# (FD 5.6 -> 4.4 for -s), i.e. a loss a user would notice is caught, while the
# absolute 0.25 covers the sampling noise of a paired difference near a small FD (at
# N = 500 the fp16 and good int8 step graphs of -s land within 0.03 of fp32's FD; a
# slack of 0.5 would have added 8 more points to the 10% at FD 6 and let through a
# TFLite int8 step graph 17% worse).
GATE_SAMPLES = 500
INT8_FD_RELATIVE = 0.10
INT8_FD_ABSOLUTE = 0.25
TEST_DATASET = "Fashion-MNIST test (10,000 images)"  # the shipped manifests' name for the test split
SELECTION_DATASET = "Fashion-MNIST selection split (5,000 of the official training images)"
GENERATED = "none: generated from noise"

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


_FEATURES: dict[str, np.ndarray] = {}  # the real images' features, by content, per process
_SAMPLES: "OrderedDict[tuple, np.ndarray]" = OrderedDict()  # generated pictures, by step graph fingerprint
_SAMPLES_KEPT = 8
_FEATURE_MODEL: dict[str, Any] = {}  # the classifier whose features FD-fmnist compares, loaded once


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _feature_model() -> Any:
    from edgezoo.zoo.generation_quality import feature_model

    if "model" not in _FEATURE_MODEL:
        _FEATURE_MODEL["model"] = feature_model("cpu")
    return _FEATURE_MODEL["model"]



def real_features(images: np.ndarray) -> np.ndarray:
    """The feature rows of real ``images`` (computed once per process per content: each
    artifact of an export is compared with the same reference)."""
    from edgezoo.zoo.generation_quality import features

    key = _digest(np.asarray(images))
    if key not in _FEATURES:
        _FEATURES[key] = features(np.asarray(images), _feature_model())
    return _FEATURES[key]


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

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        return QualityTolerance("fd_fmnist", "", INT8_FD_ABSOLUTE, higher_is_better=False, relative=INT8_FD_RELATIVE)

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        """The real images the samples are compared with: the selection split (the int8
        choice) or the official test split (the record), and how many samples to draw
        (``GATE_SAMPLES``, seed 0, both splits: the samples are generated once per step
        graph and compared with each). ``data`` may be the caller's real images (uint8
        (N, 28, 28) or (N, 1, H, W) in [0, 1]), or ``{"images": ..., "samples": n,
        "seed": s}``."""
        samples, seed = GATE_SAMPLES, 0
        if isinstance(data, Mapping):
            samples, seed = int(data.get("samples", samples)), int(data.get("seed", seed))
            data = data.get("images")
        if data is not None:
            images = np.asarray(data)
            dataset = f"caller's images ({len(images)})"
        else:
            from edgezoo.tasks.classify import fashion_mnist

            images = fashion_mnist("selection" if split == "selection" else "test")[0]
            dataset = SELECTION_DATASET if split == "selection" else TEST_DATASET
        return QualitySet(dataset, split, samples, (images, np.asarray([samples, seed], np.int64)))

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """FD-fmnist (with precision and recall) of ``data.count`` samples generated by
        ``run``, the artifact's step graph at batch 1, one call per step, with the
        program's scheduler and the seeds of :func:`~edgezoo.runtimes.samplers.sample_rng`
        (sample i of seed s, as the PyTorch reference and ``Session.generate`` draw it),
        against the features of ``data``'s real images. The samples are kept per step
        graph (keyed by its output on a fixed input), so measuring one artifact on both
        splits generates once.

        N is ``GATE_SAMPLES`` = 500 by default: 500 samples x 8 steps = 4,000 batch-1
        calls per step graph, about a minute on 2 CPU cores, so an export of -s to three
        formats at three precisions stays around ten minutes. 500 samples give a biased
        FD (it is not the manifest's 5,000-sample figure), but the int8 gate compares two
        step graphs on the same seeds, so the bias is shared and the difference is what
        quantization changed: fp16 and good int8 artifacts land within 0.03 of fp32's."""
        from edgezoo.runtimes.samplers import generate, scheduler_from_dict, step_inputs
        from edgezoo.zoo.generation_quality import features, frechet_distance, precision_recall

        images, (count, data_seed) = data.data
        count, sample_seed = int(count), int(data_seed) + int(seed)
        sampler = ((contract.get("spec") or {}).get("program") or {}).get("sampler") or {}
        scheduler = scheduler_from_dict(sampler)
        sample, timestep = step_inputs(contract_inputs(contract))
        output = contract_outputs(contract)[0].name
        shape = tuple(int(d) for d in sample.shape)
        sample_dtype, time_dtype = np.dtype(sample.dtype), np.dtype(timestep.dtype)

        def denoise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
            out = run({sample.name: x.astype(sample_dtype), timestep.name: t.astype(time_dtype)})
            return np.asarray(pick_output(out, output), dtype=np.float32)

        probe = np.random.default_rng(1234).standard_normal(shape, dtype=np.float32)
        fingerprint = _digest(denoise(probe, np.full((1,), scheduler.timesteps[0], np.float32)))
        key = (fingerprint, count, sample_seed, repr(sorted(sampler.items())))
        if key not in _SAMPLES:
            low, high = sampler.get("sample_range", (-1.0, 1.0))
            raw = generate(denoise, scheduler, shape, count, sample_seed, timestep_dtype=time_dtype, batch=1)
            _SAMPLES[key] = np.clip((raw - low) / (high - low), 0.0, 1.0)
            while len(_SAMPLES) > _SAMPLES_KEPT:
                _SAMPLES.popitem(last=False)
        pictures = _SAMPLES[key]
        real = real_features(images)
        fake = features(pictures, _feature_model())
        metrics = {"fd_fmnist": round(frechet_distance(fake, real), 3), "steps": float(scheduler.steps),
                   "samples": float(count)}
        if min(len(real), len(fake)) > 3:  # k = 3 nearest neighbours
            precision, recall = precision_recall(real[: len(fake)], fake)
            metrics.update(precision=round(precision, 4), recall=round(recall, 4))
        return QualityResult(dataset=data.dataset, degradation=GENERATED, seed=sample_seed, metrics=metrics,
                             note=(f"{count} samples (seed {sample_seed}), {sampler.get('kind', '?')} "
                                   f"{scheduler.steps} steps through the step graph at batch 1: for the paired "
                                   "int8 gate, not comparable with the manifest's 5,000-sample figures"))

    def quality_problem(self, task: str) -> str | None:
        from edgezoo.zoo.fashion_mnist import missing_problem

        return missing_problem()

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
