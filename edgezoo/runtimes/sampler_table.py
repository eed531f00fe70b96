"""A Gaussian diffusion sampler as a table of numbers, so an app replays it without
Python and without reimplementing the noise schedule.

Every DDPM and DDIM step (epsilon or v prediction) is the same two lines with per-step
coefficients; :func:`sampler_table` computes them from the scheduler
(:mod:`edgezoo.runtimes.samplers`), :func:`replay` runs them::

    x = standard normal noise of the sample's shape
    for each step k:
        out = network(sample=x, timestep=[timesteps[k]])
        x0  = clip(x0_from_sample[k] * x + x0_from_output[k] * out, -clip_sample, clip_sample)
        x   = next_from_x0[k] * x0 + next_from_sample[k] * x + noise_std[k] * fresh standard normal noise
    picture = x0-scale sample mapped from sample_range to 0..255

``fresh_noise[k]`` says whether step k draws noise (``noise_std[k] > 0``), after the
network call. Torch-free.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.runtimes.samplers import DDIMScheduler, DDPMScheduler, Scheduler, scheduler_from_dict

LINEAR_KINDS = ("ddpm", "ddim")
TABLE_FORM = "x0 = clip(x0_from_sample*x + x0_from_output*out); x = next_from_x0*x0 + next_from_sample*x + noise_std*z"


def _sig(value: float) -> float:
    return float(f"{value:.12g}")


def sampler_table(sampler: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """The per-step coefficients of the manifest's ``program.sampler`` run with ``steps``
    steps (see the module doc). :class:`BadInputError` for a sampler that is not a
    Gaussian DDPM/DDIM one (the momentum sampler blurs in the DCT basis: its table
    lists blur and noise levels instead, see :func:`level_table`)."""
    scheduler = scheduler_from_dict(sampler, steps)
    if not isinstance(scheduler, (DDPMScheduler, DDIMScheduler)):
        raise BadInputError(f"sampler '{scheduler.kind}' is not a linear (DDPM/DDIM) sampler")
    rows: dict[str, list] = {k: [] for k in ("timesteps", "x0_from_sample", "x0_from_output", "next_from_x0",
                                             "next_from_sample", "noise_std", "fresh_noise")}
    for t in scheduler.timesteps.tolist():
        a_x, a_o = _x0_coefficients(scheduler, t)
        m_x0, m_x, std = _next_coefficients(scheduler, t)
        rows["timesteps"].append(int(t))
        rows["x0_from_sample"].append(_sig(a_x))
        rows["x0_from_output"].append(_sig(a_o))
        rows["next_from_x0"].append(_sig(m_x0))
        rows["next_from_sample"].append(_sig(m_x))
        rows["noise_std"].append(_sig(std))
        rows["fresh_noise"].append(bool(scheduler.needs_noise(t)))
    return {"steps": int(steps), "form": TABLE_FORM, "clip_sample": scheduler.clip_sample, **rows}


def level_table(sampler: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """The scheduler's own data at ``steps`` steps (timesteps and, per kind, abar or the
    blur and noise levels): what :meth:`to_dict` records, for samplers without a linear table."""
    return scheduler_from_dict(sampler, steps).to_dict()


def _x0_coefficients(s: Scheduler, t: int) -> tuple[float, float]:
    abar = s.abar(t)
    if s.prediction == "v":
        return math.sqrt(abar), -math.sqrt(1 - abar)
    return 1 / math.sqrt(abar), -math.sqrt(1 - abar) / math.sqrt(abar)


def _next_coefficients(s: Scheduler, t: int) -> tuple[float, float, float]:
    prev = s.previous(t)
    abar_t, abar_s = s.abar(t), s.abar(prev)
    if isinstance(s, DDPMScheduler):
        beta = 1 - abar_t / abar_s
        std = math.sqrt(beta * (1 - abar_s) / (1 - abar_t)) if prev >= 0 else 0.0
        return math.sqrt(abar_s) * beta / (1 - abar_t), math.sqrt(1 - beta) * (1 - abar_s) / (1 - abar_t), std
    assert isinstance(s, DDIMScheduler)
    sigma = s.eta * math.sqrt((1 - abar_s) / (1 - abar_t)) * math.sqrt(1 - abar_t / abar_s)
    c = math.sqrt(max(1 - abar_s - sigma * sigma, 0.0))
    return math.sqrt(abar_s) - c * math.sqrt(abar_t) / math.sqrt(1 - abar_t), c / math.sqrt(1 - abar_t), sigma


def replay(table: Mapping[str, Any], network: Callable[[np.ndarray, np.ndarray], np.ndarray],
           shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Run the sampling loop of ``table`` (:func:`sampler_table`, e.g. read from a
    bundle's ``contract.json``) with ``network(sample, timestep) -> output``; the starting
    noise and every fresh noise are drawn from ``rng`` in that order (as
    :func:`edgezoo.runtimes.samplers.run_sampler` draws them, so the same generator
    gives the same sample). Returns the final sample (float32, sample scale)."""
    clip = table.get("clip_sample")
    x = rng.standard_normal(shape, dtype=np.float32).astype(np.float64)
    for k, t in enumerate(table["timesteps"]):
        out = np.asarray(network(x.astype(np.float32), np.full((shape[0],), t, np.float32)), dtype=np.float64)
        x0 = table["x0_from_sample"][k] * x + table["x0_from_output"][k] * out
        if clip is not None:
            x0 = np.clip(x0, -clip, clip)
        x = table["next_from_x0"][k] * x0 + table["next_from_sample"][k] * x
        if table["fresh_noise"][k]:
            x = x + table["noise_std"][k] * rng.standard_normal(shape, dtype=np.float32).astype(np.float64)
    return x.astype(np.float32)
