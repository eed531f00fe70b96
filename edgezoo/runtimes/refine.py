"""Predict-and-refine sampling: the serving loop of a conditional restoration model
(``edgezoo.tasks.conditional``), shared by the PyTorch reference and the runtime.

A request runs the ``predictor`` component once on the degraded picture, then the
program's scheduler (``edgezoo.runtimes.samplers``) over the ``denoiser`` component,
which sees the sample, the timestep and the degraded picture as its condition; the
sample is the residual times ``residual_scale``, so the answer is
``prediction + sample / residual_scale``, clipped to [0, 1]. Zero steps is the
predictor alone. Torch-free; the components are any functions on numpy arrays
(:func:`refine`), or loaded runners composed into the whole program as one call
(:func:`refine_run`: what the runtime's session serves per tile, and what the export's
task-quality gate measures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.runtimes.compose import runner_call
from edgezoo.runtimes.samplers import BaseScheduler, generate, step_inputs

Predict = Callable[[np.ndarray], np.ndarray]  # degraded (1, C, h, w) -> prediction (1, C, H, W)
ConditionalDenoise = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (sample, timestep, condition) -> v


@dataclass(frozen=True)
class RefineProgram:
    """What a ``sampler`` program's data says about the predict-and-refine loop: the
    predictor component and its tensors, the denoiser's condition input, and the
    residual's scale."""

    predictor: str = "predictor"
    predictor_input: str = "degraded"
    prediction: str = "prediction"
    condition: str = "condition"
    residual_scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"predictor": self.predictor, "predictor_input": self.predictor_input, "prediction": self.prediction,
                "condition": self.condition, "residual_scale": self.residual_scale}

    @classmethod
    def from_sampler(cls, sampler: Mapping[str, Any]) -> "RefineProgram":
        """The loop a manifest's ``program.sampler`` describes (its ``refine`` entry)."""
        data = sampler.get("refine")
        if not isinstance(data, Mapping):
            raise BadInputError("this sampler program has no 'refine' entry: it is not a predict-and-refine model")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadInputError(f"refine fields {sorted(unknown)} are unknown to this edgezoo: upgrade it")
        return cls(**dict(data))


def refine(predict: Predict, denoise: ConditionalDenoise, scheduler: BaseScheduler | None, degraded: np.ndarray,
           residual_scale: float, count: int = 1, seed: int = 0, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Restore one degraded picture by predict-and-refine.

    Parameters
    ----------
    predict, denoise
        The predictor and the conditional denoiser (``(sample, timestep, condition)``).
    scheduler
        The program's scheduler at the wanted number of steps; None: the predictor alone.
    degraded
        (1, C, h, w) float32 in [0, 1].
    residual_scale
        The sampler works on ``(x - prediction) * residual_scale``.
    count, seed, batch
        ``count`` samples, sample i from :func:`~edgezoo.runtimes.samplers.sample_rng`
        (seed, i), ``batch`` rows per denoiser call (their values do not depend on it).

    Returns
    -------
    (prediction, restored)
        (1, C, H, W) and (count, C, H, W) float32, both clipped to [0, 1]; with no
        scheduler, ``restored`` is the prediction once.
    """
    degraded = np.ascontiguousarray(degraded, dtype=np.float32)
    if degraded.ndim != 4 or degraded.shape[0] != 1:
        raise BadInputError(f"refine takes one degraded picture as (1, C, h, w), not {list(degraded.shape)}")
    prediction = np.asarray(predict(degraded), dtype=np.float32)
    if scheduler is None:
        clipped = np.clip(prediction, 0.0, 1.0)
        return clipped, clipped.copy()

    def step(sample: np.ndarray, timestep: np.ndarray) -> np.ndarray:
        return denoise(sample, timestep, np.repeat(degraded, sample.shape[0], axis=0))

    residual = generate(step, scheduler, tuple(prediction.shape), count, seed, batch=batch)
    restored = np.clip(prediction + residual / float(residual_scale), 0.0, 1.0).astype(np.float32)
    return np.clip(prediction, 0.0, 1.0), restored


def refine_run(program: RefineProgram, step: Any, predictor: Any, denoiser: Any, scheduler: BaseScheduler | None,
               seed: int = 0) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The whole predict-and-refine program as one call on loaded components.

    Parameters
    ----------
    program
        The loop's data (:meth:`RefineProgram.from_sampler` of the manifest's sampler).
    step
        The step graph's component (``edgezoo.manifests.schema.Component``): its inputs'
        roles say which one is the sample and which the timestep.
    predictor, denoiser
        Loaded runners (``run(inputs by name) -> outputs by name``, and ``inputs``: the
        names and dtypes they take, which each feed is cast to).
    scheduler
        The program's scheduler at the wanted number of steps; None: the predictor alone.
    seed
        One sample, drawn from ``sample_rng(seed, 0)``: every call (every tile) the same
        noise, so two precisions of a program are compared on the same draw.

    Returns
    -------
    callable
        ``{program.predictor_input: (1, C, h, w) degraded}`` -> ``{"prediction": (1, C,
        H, W), "restored": (1, C, H, W)}``, float32 in [0, 1], one picture (or tile) per
        call: tiling is the caller's (:func:`edgezoo.runtimes.serving.serve`).
    """
    sample, timestep = step_inputs(step.inputs, (program.condition,))
    predictor_call = runner_call(predictor, program.prediction)
    denoiser_call = runner_call(denoiser, step.outputs[0].name)

    def predict(degraded: np.ndarray) -> np.ndarray:
        return predictor_call({program.predictor_input: degraded})

    def denoise(z: np.ndarray, t: np.ndarray, condition: np.ndarray) -> np.ndarray:
        return denoiser_call({sample.name: z, timestep.name: t, program.condition: condition})

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if program.predictor_input not in inputs:
            raise BadInputError(f"the program takes '{program.predictor_input}', not {sorted(inputs)}")
        prediction, restored = refine(predict, denoise, scheduler, inputs[program.predictor_input],
                                      program.residual_scale, count=1, seed=seed)
        return {"prediction": prediction, "restored": restored}

    return run


__all__ = ["ConditionalDenoise", "Predict", "RefineProgram", "refine", "refine_run"]
