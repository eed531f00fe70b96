"""The numpy schedulers against closed forms: the schedule is a proper forward process,
the timesteps are the ones asked for, a perfect noise oracle makes DDIM land exactly on
the clean image, and a scheduler survives being written into a manifest as data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgezoo.errors import BadInputError
from edgezoo.runtimes.samplers import (
    DDIMScheduler,
    DDPMScheduler,
    NoiseSchedule,
    run_sampler,
    sample_rng,
    scheduler_from_dict,
    spaced_timesteps,
)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_alphas_cumprod_fall_from_one_to_almost_nothing(kind):
    schedule = NoiseSchedule(kind=kind)
    betas, abar = schedule.betas(), schedule.alphas_cumprod()
    assert betas.shape == abar.shape == (1000,)
    assert np.all(betas > 0) and np.all(betas < 1)
    assert np.all(np.diff(abar) < 0)  # strictly more noise at every step
    assert abar[0] > 0.99 and abar[-1] < 1e-3
    assert np.allclose(abar, np.cumprod(1 - betas))


def test_linear_schedule_is_ho_et_al():
    betas = NoiseSchedule(kind="linear", train_steps=1000).betas()
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert np.allclose(np.diff(betas), (0.02 - 1e-4) / 999)


def test_cosine_schedule_follows_its_closed_form():
    s, steps = 0.008, 1000
    abar = NoiseSchedule(kind="cosine").alphas_cumprod()
    f = lambda t: math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 500, 900):  # before the clip of beta at 0.999 bites
        assert abar[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_timesteps_are_trailing_and_descending():
    assert spaced_timesteps(1000, 4).tolist() == [999, 749, 499, 249]
    assert spaced_timesteps(1000, 1000).tolist() == list(range(999, -1, -1))
    for n in (1, 3, 7, 50, 999):
        ts = spaced_timesteps(1000, n)
        assert ts.size == n and ts[0] == 999 and np.all(np.diff(ts) < 0) and ts[-1] >= 0
    with pytest.raises(BadInputError):
        spaced_timesteps(1000, 0)


def test_ddpm_with_n_steps_visits_every_timestep_once():
    schedule = NoiseSchedule(train_steps=20)
    scheduler = DDPMScheduler(schedule, steps=20)
    visited = []
    sample = np.zeros((1, 1, 2, 2), np.float32)
    rng = np.random.default_rng(0)
    for t in scheduler.timesteps:
        visited.append(int(t))
        sample = scheduler.step(np.zeros_like(sample), int(t), sample, rng=rng)
    assert visited == list(range(19, -1, -1))
    assert scheduler.previous(0) == -1 and scheduler.previous(5) == 4


def _oracle(x0: np.ndarray, scheduler):
    """The exact noise of x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, in float64."""

    def denoise(sample: np.ndarray, t: np.ndarray) -> np.ndarray:
        abar = scheduler.abar(int(t[0]))
        return (sample.astype(np.float64) - math.sqrt(abar) * x0) / math.sqrt(1 - abar)

    return denoise


@pytest.mark.parametrize("steps", [1, 4, 50])
@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_ddim_with_a_perfect_oracle_recovers_x0(steps, kind):
    x0 = np.random.default_rng(1).uniform(-1, 1, (1, 1, 8, 8))
    scheduler = DDIMScheduler(NoiseSchedule(kind=kind), steps=steps)
    out = run_sampler(_oracle(x0, scheduler), scheduler, x0.shape, np.random.default_rng(2))
    assert np.abs(out - x0).max() < 1e-5


def test_ddpm_with_a_perfect_oracle_also_ends_on_x0():
    """The last DDPM step adds no noise and returns the predicted x0."""
    x0 = np.random.default_rng(1).uniform(-0.9, 0.9, (1, 1, 8, 8))
    scheduler = DDPMScheduler(NoiseSchedule(), steps=10)
    out = run_sampler(_oracle(x0, scheduler), scheduler, x0.shape, np.random.default_rng(3))
    assert np.abs(out - x0).max() < 1e-5


def test_ddpm_step_is_the_posterior_in_closed_form():
    """One full-schedule DDPM step: mean (sqrt(abar_s) beta x0 + sqrt(alpha)(1 - abar_s) x_t)/(1 - abar_t),
    variance beta (1 - abar_s)/(1 - abar_t), with beta = beta_t of the schedule."""
    schedule = NoiseSchedule(kind="linear")
    scheduler = DDPMScheduler(schedule, steps=1000, clip_sample=None)
    rng = np.random.default_rng(0)
    x_t, eps, z = (rng.standard_normal((1, 1, 4, 4)) for _ in range(3))
    t = 500
    beta, abar_t, abar_s = schedule.betas()[t], schedule.alphas_cumprod()[t], schedule.alphas_cumprod()[t - 1]
    x0 = (x_t - math.sqrt(1 - abar_t) * eps) / math.sqrt(abar_t)
    mean = (math.sqrt(abar_s) * beta * x0 + math.sqrt(1 - beta) * (1 - abar_s) * x_t) / (1 - abar_t)
    want = mean + math.sqrt(beta * (1 - abar_s) / (1 - abar_t)) * z
    assert np.allclose(scheduler.step(eps, t, x_t, noise=z), want, atol=1e-5)
    with pytest.raises(BadInputError, match="noise"):
        scheduler.step(eps, t, x_t)  # stochastic: needs noise or a generator


def test_deterministic_ddim_depends_only_on_the_first_noise():
    scheduler = DDIMScheduler(steps=5)
    denoise = lambda x, t: 0.5 * x  # noqa: E731
    a = run_sampler(denoise, scheduler, (1, 1, 4, 4), sample_rng(7))
    b = run_sampler(denoise, scheduler, (1, 1, 4, 4), sample_rng(7))
    c = run_sampler(denoise, scheduler, (1, 1, 4, 4), sample_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32


@pytest.mark.parametrize("cls", [DDPMScheduler, DDIMScheduler])
def test_a_scheduler_round_trips_through_its_data(cls):
    scheduler = cls(NoiseSchedule(kind="linear", train_steps=100), steps=8)
    data = scheduler.to_dict()
    assert data["kind"] == cls.kind and data["steps"] == 8 and len(data["timesteps"]) == 8
    assert data["alphas_cumprod"][0] == pytest.approx(scheduler.alphas_cumprod[99])
    again = scheduler_from_dict(data)
    assert type(again) is cls and again.timesteps.tolist() == scheduler.timesteps.tolist()
    assert np.array_equal(again.alphas_cumprod, scheduler.alphas_cumprod)
    assert scheduler_from_dict(data, steps=3).steps == 3
    with pytest.raises(BadInputError):
        scheduler_from_dict({**data, "kind": "euler"})
