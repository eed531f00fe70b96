"""Restoration by conditional diffusion (predict-and-refine; issue 11): a ``predictor``
component, degraded picture -> first restoration, and a ``denoiser`` step graph,
(sample, timestep, condition) -> v, driven by a ``sampler`` program whose data carries
the scheduler and the predict-and-refine loop (:class:`edgezoo.runtimes.refine.RefineProgram`).

Tasks: ``conditional-deblur`` (same size) and ``conditional-sr4`` (the output is 4x the
input's sides). Roles: the predictor's ``degraded`` is an ``image`` in [0, 1], its
``prediction`` an image ``same`` or ``scale:4`` of it; the denoiser's ``sample`` is the
scaled residual (role ``noise``, variance about 1), ``timestep`` the training timestep as
float32, ``condition`` the degraded picture (role ``condition``, in [0, 1], at the input's
size: the graph up-samples it), and ``v`` the velocity (role ``noise``, ``same:sample``).

Quality: PSNR/SSIM on RGB in [0, 1] (``edgezoo.zoo.train_conditional.evaluate_conditional``
reports the predictor alone, single samples, the mean of K samples and the diversity
between samples). A component alone has no task figure, so the export measures the whole
program: every component artifact of one format, precision and shape kind loaded in its
runtime and composed as the runtime serves a request
(:func:`edgezoo.export.quantize.quality.program_quality`), at the program's own step
count, one sample from a fixed seed (fp32 and a reduced precision draw the same noise),
on photos degraded by the model's training degradation
(:meth:`ConditionalRestoreProtocol.measure_quality`). fp16 and int8 groups must stay
within 0.3 dB of PSNR of the fp32 group of their format; each component is int8-calibrated
on its own inputs in service (:meth:`ConditionalRestoreProtocol.calibration_samples`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, QualityResult, TensorSpec
from edgezoo.tasks.base import Contract, QualitySet, QualityTolerance, RunFunction, TaskProtocol

INT8_TOLERANCE_DB = 0.3  # a reduced-precision program may lose at most this much PSNR against fp32's
SCALES = {"conditional-deblur": 1, "conditional-sr4": 4}
# the task a user names that these models serve too (`edgezoo run deblur` plans over the
# regression deblurrers and the predict-and-refine ones alike)
SERVES = {"conditional-deblur": "deblur", "conditional-sr4": "super-resolve"}


def sampler_program(config: Any) -> dict[str, Any]:
    """A config's ``program.sampler`` data: the DDIM scheduler over its noise schedule
    (``edgezoo.tasks.generate.sampler_data``), the sample's range, and the refine loop."""
    from edgezoo.runtimes.refine import RefineProgram
    from edgezoo.tasks.generate import sampler_data

    sampler = sampler_data(config.backbone)
    sampler["sample_range"] = [-1.0, 1.0]
    sampler["refine"] = RefineProgram(residual_scale=float(config.residual_scale)).to_dict()
    return sampler


class ConditionalRestoreProtocol(TaskProtocol):
    name = "conditional-restore"
    tasks = tuple(SCALES)
    serves = SERVES
    metrics = (Metric(name="psnr_db", unit="dB"), Metric(name="ssim"))

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        scale = SCALES[entry.task]
        if getattr(entry.config, "scale", scale) != scale:
            raise ValueError(f"{entry.name}: task {entry.task} is x{scale}, its config x{entry.config.scale}")
        symbolic = dynamic or height is None
        sides: list[int | str] = ["H", "W"] if symbolic else [height, width]
        # the output's sides: a symbol of its own when symbolic and scaled (a runtime reads them from the rule)
        out_sides: list[int | str] = (sides if scale == 1 else [f"{scale}H", f"{scale}W"]) if symbolic \
            else [height * scale, width * scale]
        degraded = self.image_tensor(entry, "degraded", sides)
        rule = "same:degraded" if scale == 1 else f"scale:{scale}:degraded"
        prediction = degraded.model_copy(update={"name": "prediction", "shape": [1, 3, *out_sides], "multiple_of": None,
                                                 "shape_rule": rule})
        sample = TensorSpec(name="sample", role="noise", shape=[1, 3, *out_sides], range=None, color="RGB",
                            multiple_of=2 ** (entry.config.levels - 1))
        timestep = TensorSpec(name="timestep", role="timestep", shape=[1], layout="N", color=None,
                              range=(0.0, float(entry.config.backbone.train_steps - 1)))
        condition = degraded.model_copy(update={"name": "condition", "role": "condition"})
        v = sample.model_copy(update={"name": "v", "multiple_of": None, "shape_rule": "same:sample"})
        return ModelSpec(
            protocol=self.name,
            components=[Component(name="predictor", inputs=[degraded], outputs=[prediction]),
                        Component(name="denoiser", inputs=[sample, timestep, condition], outputs=[v])],
            program=Program(kind="sampler", component="denoiser", scale=scale, sampler=sampler_program(entry.config)),
            metrics=list(self.metrics),
        )

    def calibration_samples(self, contract: dict[str, Any], count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """``count`` requests one component sees in service, from views of the bundled
        calibration photos (clean at the output's size) degraded by the model's training
        degradation: the predictor gets the degraded picture; the step graph gets it as
        its condition, with the sample the forward process makes of a residual at the
        program's timesteps in turn (the residual of a predictor that returned its input,
        up-sampled by repetition for x4: a proxy of the range the trained one leaves).
        Sample i depends only on (seed, i), so a larger ``count`` extends a smaller one's."""
        from edgezoo.export.quantize.calibration import clean_mosaic
        from edgezoo.runtimes.refine import RefineProgram
        from edgezoo.runtimes.samplers import scheduler_from_dict
        from edgezoo.tasks.base import contract_inputs
        from edgezoo.zoo.degradations import degrade
        from edgezoo.zoo.registry import get_entry

        program = contract["spec"]["program"]
        sampler, scale = program["sampler"], int(program.get("scale", 1))
        refine = RefineProgram.from_sampler(sampler)
        degradation = get_entry(contract["model"]).config.degradation
        inputs = {t.name: t for t in contract_inputs(contract)}
        picture = inputs.get(refine.predictor_input) or inputs[refine.condition]
        height, width = (int(d) for d in picture.shape[-2:])
        rng = np.random.default_rng(seed)
        scheduler = scheduler_from_dict(sampler)
        samples = []
        for i in range(count):
            clean = clean_mosaic(height * scale, width * scale, rng)
            degraded, _ = degrade(degradation, clean, seed * 1_000_003 + i)
            nchw = np.ascontiguousarray(degraded.transpose(2, 0, 1)[None], np.float32)
            if refine.predictor_input in inputs:
                samples.append({refine.predictor_input: nchw})
                continue
            up = np.repeat(np.repeat(nchw, scale, axis=2), scale, axis=3)
            x0 = np.clip((clean.transpose(2, 0, 1)[None] - up) * refine.residual_scale, -1.0, 1.0)
            t = int(scheduler.timesteps[i % scheduler.steps])
            eps = np.random.default_rng([seed, i]).standard_normal(x0.shape, dtype=np.float32)
            abar = scheduler.abar(t)
            sample = next(s for s in inputs.values() if s.role == "noise")
            timestep = next(s for s in inputs.values() if s.role == "timestep")
            samples.append({sample.name: (np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * eps).astype(np.float32),
                            timestep.name: np.full((1,), t, np.float32), refine.condition: nchw})
        return samples

    def describe_calibration(self, contract: dict[str, Any], count: int) -> str:
        return (f"{count} views of the bundled calibration photos degraded by the model's training degradation "
                "(the step graph's samples: a residual noised by the forward process at the program's timesteps)")

    # --- the task-quality gate, through the whole program -----------------------------

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        return QualityTolerance("psnr_db", "dB", INT8_TOLERANCE_DB) if task in SCALES else None

    def quality_problem(self, task: str) -> str | None:
        """The photos come from scikit-image and scikit-learn (as restoration's do)."""
        import importlib.util

        missing = [p for p, module in (("scikit-image", "skimage"), ("scikit-learn", "sklearn"))
                   if importlib.util.find_spec(module) is None]
        if missing:
            return f"the evaluation photos need {' and '.join(missing)}: pip install {' '.join(missing)}"
        return None

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        """Clean photos by name, as restoration's (:meth:`RestoreProtocol.quality_set`:
        the caller's, the selection photos or every evaluation photo), centre-cropped to
        sides that are a multiple of the scale times the model's multiple, so that the
        degraded input of a x4 model has whole sides its graphs take."""
        from edgezoo.tasks.restore import RestoreProtocol

        spec = ModelSpec.model_validate(contract["spec"])
        refine = _refine_of(spec)
        picture = next(t for t in spec.component(refine.predictor).inputs if t.name == refine.predictor_input)
        multiple = int(spec.program.scale) * int(picture.multiple_of or 1)
        photos = RestoreProtocol().quality_set(contract, split, data)
        return dataclasses.replace(photos, data={name: _centre_crop(image, multiple)
                                                 for name, image in photos.data.items()})

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """PSNR/SSIM of the whole program on ``data``'s photos degraded by the model's
        training degradation (photo ``i`` of the sorted set drawn from ``default_rng(seed
        + i)``, as :func:`edgezoo.zoo.train_conditional.evaluate_conditional` draws it).

        ``run`` is the whole program as one call (``{predictor input: degraded (1, C, h,
        w)} -> {"restored": (1, C, H, W)}``, e.g.
        :func:`edgezoo.export.quantize.quality.program_runner`), served as the runtime
        serves it: tiled at ``tile`` (the predictor's static size; None: each photo whole,
        padded to ``align``), the output ``scale`` times the input. The result's
        ``metrics`` carry ``steps``, the program's step count (``contract["spec"]``'s
        sampler), which ``run`` must take."""
        from edgezoo.errors import BadInputError
        from edgezoo.zoo.degradations import CONDITIONAL_DEGRADATIONS
        from edgezoo.zoo.evaluate import nchw_restorer, score_degradation
        from edgezoo.zoo.registry import get_entry

        spec = ModelSpec.model_validate(contract["spec"])
        refine = _refine_of(spec)
        steps = int((spec.program.sampler or {})["steps"])
        degradation = CONDITIONAL_DEGRADATIONS[get_entry(contract["model"]).config.degradation]
        tile = None if tile is None else (int(tile[0]), int(tile[1]))

        def program(batch: np.ndarray) -> np.ndarray:
            outputs = run({refine.predictor_input: np.ascontiguousarray(batch, dtype=np.float32)})
            if "restored" not in outputs:
                raise BadInputError(f"the task quality of {contract.get('model')} is its whole program's: run must "
                                    f"answer 'restored' (edgezoo.export.quantize.quality.program_runner), not "
                                    f"{sorted(outputs)}")
            return outputs["restored"]

        restore = nchw_restorer(program, align, tile, scale=spec.program.scale)
        result = score_degradation(restore, data.data, degradation, seed, what=f"{steps} steps")
        assert result.mean is not None
        return result.model_copy(update={"dataset": data.dataset, "metrics": {
            "steps": float(steps), "psnr_db": result.mean.psnr_db, "ssim": result.mean.ssim}})

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        """The restored picture: the ``restored`` output of the refine loop (else the prediction)."""
        image = outputs.get("restored", outputs.get("prediction"))
        if image is None:
            raise KeyError(f"a conditional restoration answers 'restored' or 'prediction', not {sorted(outputs)}")
        return {"image": np.clip(np.asarray(image, np.float32), 0.0, 1.0)}


def _refine_of(spec: ModelSpec) -> Any:
    from edgezoo.runtimes.refine import RefineProgram

    return RefineProgram.from_sampler(spec.program.sampler or {})


def _centre_crop(image: np.ndarray, multiple: int) -> np.ndarray:
    """The centre of an HxWxC ``image`` with sides a multiple of ``multiple``."""
    height, width = image.shape[0] // multiple * multiple, image.shape[1] // multiple * multiple
    if not (height and width):
        from edgezoo.errors import BadInputError

        raise BadInputError(f"a photo of {image.shape[0]}x{image.shape[1]} is smaller than {multiple} pixels")
    y, x = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[y:y + height, x:x + width])


__all__ = ["INT8_TOLERANCE_DB", "ConditionalRestoreProtocol", "SCALES", "SERVES", "sampler_program"]
