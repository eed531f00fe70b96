"""The numpy schedulers against closed forms: the schedule is a proper forward process,
the timesteps are the ones asked for, a perfect noise oracle makes DDIM land exactly on
the clean image, and a scheduler survives being written into a manifest as data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgezoo.errors import BadInputError
from edgezoo.runtimes.samplers import (
    BlurSchedule,
    DDIMScheduler,
    DDPMScheduler,
    MomentumScheduler,
    NoiseSchedule,
    blur_image,
    dct_matrix,
    generate,
    heat_attenuation,
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


# ---- v prediction -------------------------------------------------------------------

def _v_oracle(x0: np.ndarray, scheduler):
    """The exact velocity v = sqrt(abar) eps - sqrt(1 - abar) x0 of x_t, in float64."""

    def denoise(sample: np.ndarray, t: np.ndarray) -> np.ndarray:
        abar = scheduler.abar(int(t[0]))
        eps = (sample.astype(np.float64) - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
        return math.sqrt(abar) * eps - math.sqrt(1 - abar) * x0

    return denoise


@pytest.mark.parametrize("steps", [1, 4, 50])
@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_ddim_with_a_perfect_v_oracle_recovers_x0(steps, kind):
    x0 = np.random.default_rng(1).uniform(-1, 1, (1, 1, 8, 8))
    scheduler = DDIMScheduler(NoiseSchedule(kind=kind), steps=steps, prediction="v")
    out = run_sampler(_v_oracle(x0, scheduler), scheduler, x0.shape, np.random.default_rng(2))
    assert np.abs(out - x0).max() < 1e-5


def test_v_and_epsilon_predictions_give_the_same_x0_and_gaussian_schedulers_refuse_x0():
    schedule = NoiseSchedule()
    eps_s, v_s = DDIMScheduler(schedule, 4, clip_sample=None), DDIMScheduler(schedule, 4, clip_sample=None,
                                                                              prediction="v")
    rng = np.random.default_rng(0)
    x0, eps = rng.uniform(-1, 1, (1, 1, 4, 4)), rng.standard_normal((1, 1, 4, 4))
    t = 499
    abar = schedule.alphas_cumprod()[t]
    x_t = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * eps
    v = math.sqrt(abar) * eps - math.sqrt(1 - abar) * x0
    assert np.allclose(eps_s.predicted_x0(eps, t, x_t), x0) and np.allclose(v_s.predicted_x0(v, t, x_t), x0)
    assert np.allclose(eps_s.step(eps, t, x_t), v_s.step(v, t, x_t), atol=1e-6)
    with pytest.raises(BadInputError, match="x0"):
        DDIMScheduler(schedule, 4, prediction="x0")


# ---- Soft Diffusion: the DCT heat equation and the Momentum Sampler ------------------

@pytest.mark.parametrize("n", [1, 5, 8, 32])
def test_dct_matrix_is_orthonormal_dct_ii(n):
    d = dct_matrix(n)
    assert d.shape == (n, n)
    assert np.allclose(d @ d.T, np.eye(n), atol=1e-12) and np.allclose(d.T @ d, np.eye(n), atol=1e-12)
    assert np.allclose(d[0], 1 / math.sqrt(n))  # the DC row: the scaled mean
    scipy_fft = pytest.importorskip("scipy.fft")
    x = np.random.default_rng(n).standard_normal(n)
    assert np.allclose(d @ x, scipy_fft.dct(x, type=2, norm="ortho"))


def test_heat_attenuation_is_identity_at_zero_keeps_dc_and_decays_with_frequency():
    assert np.array_equal(heat_attenuation(7, 5, 0.0), np.ones((7, 5)))
    for sigma in (0.3, 1.0, 2.0, 24.0):
        gains = heat_attenuation(16, 12, sigma)
        assert gains.shape == (16, 12) and gains[0, 0] == 1.0  # the DC gain: a blur keeps the mean
        assert np.all(gains >= 0) and np.all(gains <= 1)
        assert np.all(np.diff(gains, axis=0) <= 0) and np.all(np.diff(gains, axis=1) <= 0)
        if sigma <= 2.0:  # (at 24 px the highest frequencies underflow to 0)
            assert np.all(gains > 0) and np.all(np.diff(gains, axis=0) < 0) and np.all(np.diff(gains, axis=1) < 0)
    stronger, weaker = heat_attenuation(16, 16, 2.0), heat_attenuation(16, 16, 1.0)
    assert stronger[0, 0] == weaker[0, 0] == 1.0 and np.all(stronger.ravel()[1:] < weaker.ravel()[1:])


@pytest.mark.parametrize("sigma", [0.3, 2.0, 24.0])
def test_blur_image_keeps_the_mean_and_damps_a_cosine_mode_in_closed_form(sigma):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 1, 16, 12))
    blurred = blur_image(x, sigma)
    assert blurred.shape == x.shape and blurred.dtype == np.float64
    assert np.allclose(blurred.mean(axis=(-2, -1)), x.mean(axis=(-2, -1)), atol=1e-12)
    # one DCT mode (i, j) is an eigenfunction of the blur: cos(pi (2h+1) i / 2H) cos(pi (2w+1) j / 2W)
    height, width, i, j = 16, 12, 3, 2
    h, w = np.arange(height)[:, None], np.arange(width)[None, :]
    mode = np.cos(math.pi * (2 * h + 1) * i / (2 * height)) * np.cos(math.pi * (2 * w + 1) * j / (2 * width))
    gain = math.exp(-(math.pi ** 2) * ((i / height) ** 2 + (j / width) ** 2) * sigma ** 2 / 2)
    assert np.allclose(blur_image(0.5 + mode, sigma), 0.5 + gain * mode, atol=1e-12)
    assert np.array_equal(blur_image(x, 0.0), x)


def test_blur_schedule_levels_are_geometric_and_clean_before_the_first_step():
    schedule = BlurSchedule(train_steps=100)
    assert schedule.blur(-1) == 0.0 and schedule.noise(-1) == 0.0
    assert schedule.blur(99) == pytest.approx(24.0) and schedule.noise(99) == pytest.approx(1.0)
    blurs = np.array([schedule.blur(t) for t in range(100)])
    assert np.allclose(blurs[1:] / blurs[:-1], (24.0 / 0.3) ** (1 / 100))
    with pytest.raises(BadInputError):
        BlurSchedule(prior_mean=(0.0, 0.0), prior_std=(1.0, 1.0))  # not k*k numbers
    with pytest.raises(BadInputError):
        BlurSchedule(blur_min=2.0, blur_max=1.0)


SIDE = 16


def _exact_prior(x0: np.ndarray, schedule: BlurSchedule, block: int = 3) -> BlurSchedule:
    """``schedule`` with a zero-width prior at the lowest DCT block of C_{T-1} x0: sampling then
    starts on the forward marginal at T-1 (the coefficients beyond the block are ~1e-5 or less)."""
    d = dct_matrix(x0.shape[-1])
    coeffs = d @ x0[0, 0] @ d.T * heat_attenuation(*x0.shape[-2:], schedule.blur(schedule.train_steps - 1))
    mean = coeffs[:block, :block].ravel()
    return BlurSchedule(**{**schedule.to_dict(), "prior_mean": tuple(mean), "prior_std": (0.0,) * mean.size})


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_momentum_with_a_perfect_x0_oracle_walks_the_forward_marginal_and_ends_on_x0(eta):
    """With x̂0 = x0 every iterate is y_t = C_t x0 + s_t η, over many rows: mean C_t x0
    per pixel and noise of standard deviation s_t; the last step returns x0 itself."""
    x0 = np.random.default_rng(1).uniform(-0.9, 0.9, (1, 1, SIDE, SIDE))
    scheduler = MomentumScheduler(_exact_prior(x0, BlurSchedule()), steps=6, eta=eta)
    seen: dict[int, np.ndarray] = {}

    def oracle(sample, t):
        seen[int(t[0])] = sample.copy()
        return np.broadcast_to(x0, sample.shape)

    rows = 2000
    out = generate(oracle, scheduler, x0.shape, count=rows, seed=4, batch=rows)
    assert out.shape == (rows, 1, SIDE, SIDE)
    assert np.array_equal(out, np.broadcast_to(x0.astype(np.float32), out.shape))
    assert sorted(seen) == sorted(scheduler.timesteps.tolist())
    for t, sample in seen.items():
        clean, level = blur_image(x0, scheduler.schedule.blur(t))[0], scheduler.schedule.noise(t)
        residual = sample - clean
        assert np.abs(residual.mean(0)).max() < 5 * level / math.sqrt(rows) + 1e-4, t
        assert residual.std() == pytest.approx(level, rel=0.02), t
        per_pixel = residual.std(0)
        assert per_pixel.min() > 0.85 * level and per_pixel.max() < 1.15 * level, t


def test_momentum_step_is_the_soft_diffusion_update_in_closed_form():
    schedule = BlurSchedule(train_steps=50)
    scheduler = MomentumScheduler(schedule, steps=5, clip_sample=None)
    rng = np.random.default_rng(0)
    y, x0, xi = (rng.standard_normal((1, 1, 8, 8)) for _ in range(3))
    t = int(scheduler.timesteps[1])
    s = scheduler.previous(t)
    r = schedule.noise(s) / schedule.noise(t)
    z = y - blur_image(x0, schedule.blur(t))
    want = blur_image(x0, schedule.blur(s)) + r * r * z + schedule.noise(s) * math.sqrt(1 - r * r) * xi
    assert np.allclose(scheduler.step(x0, t, y, noise=xi), want, atol=1e-5)
    with pytest.raises(BadInputError, match="noise"):
        scheduler.step(x0, t, y)  # eta = 1: stochastic


def test_deterministic_momentum_depends_only_on_the_first_draw():
    x0 = np.random.default_rng(1).uniform(-0.9, 0.9, (1, 1, SIDE, SIDE))
    prior = BlurSchedule(prior_mean=tuple(np.linspace(-3, 1, 9)), prior_std=(1.0,) * 9)
    scheduler = MomentumScheduler(prior, steps=5, eta=0.0)
    assert not scheduler.stochastic
    denoise = lambda x, t: np.tanh(x + x0) * (1 - t[0] / 2000)  # noqa: E731
    a = run_sampler(denoise, scheduler, x0.shape, sample_rng(7))
    b = run_sampler(denoise, scheduler, x0.shape, sample_rng(7))
    c = run_sampler(denoise, scheduler, x0.shape, sample_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c) and a.dtype == np.float32
    # the same loop by hand: only the starting sample is drawn, no step asks for noise
    sample = scheduler.initial_sample(x0.shape, sample_rng(7))
    for t in scheduler.timesteps:
        assert not scheduler.needs_noise(int(t))
        sample = scheduler.step(denoise(sample, np.full((1,), t, np.float32)), int(t), sample)
    assert np.array_equal(sample, a)


def test_momentum_initial_sample_is_the_prior_block_plus_top_noise():
    mean, std = tuple(np.linspace(-3, 1, 9)), tuple(np.linspace(0.1, 2, 9))
    scheduler = MomentumScheduler(BlurSchedule(prior_mean=mean, prior_std=std), steps=4)
    rows = 4000
    first = np.concatenate([scheduler.initial_sample((1, 1, SIDE, SIDE), sample_rng(0, i)) for i in range(rows)])
    d = dct_matrix(SIDE)
    coeffs = d @ first[:, 0].astype(np.float64) @ d.T
    top = scheduler.schedule.noise(int(scheduler.timesteps[0]))
    low = coeffs[:, :3, :3].reshape(rows, 9)
    assert np.allclose(low.mean(0), mean, atol=5 * math.sqrt(max(std) ** 2 + top ** 2) / math.sqrt(rows))
    assert np.allclose(low.std(0), np.sqrt(np.square(std) + top ** 2), rtol=0.06)
    high = coeffs[:, 3:, 3:]
    assert abs(high.mean()) < 0.01 and high.std() == pytest.approx(top, rel=0.02)


def test_momentum_round_trips_through_its_data_and_reads_only_x0():
    mean, std = tuple(np.linspace(-3, 1, 9)), tuple(np.linspace(0.1, 2, 9))
    schedule = BlurSchedule(train_steps=100, blur_max=12.0, noise_min=0.02, prior_mean=mean, prior_std=std)
    scheduler = MomentumScheduler(schedule, steps=8, clip_sample=None, eta=0.5)
    data = json.loads(json.dumps(scheduler.to_dict()))  # what a manifest stores
    assert data["kind"] == "momentum" and data["prediction"] == "x0" and data["steps"] == 8
    assert len(data["timesteps"]) == len(data["blur_sigma"]) == len(data["noise_sigma"]) == 8
    assert data["blur_sigma"][0] == pytest.approx(12.0) and data["noise_sigma"][0] == pytest.approx(1.0)
    again = scheduler_from_dict(data)
    assert type(again) is MomentumScheduler and again.schedule == schedule
    assert again.timesteps.tolist() == scheduler.timesteps.tolist()
    assert again.eta == 0.5 and again.clip_sample is None and again.stochastic
    assert scheduler_from_dict(data, steps=3).steps == 3
    for prediction in ("epsilon", "v"):
        with pytest.raises(BadInputError, match="x0"):
            scheduler_from_dict({**data, "prediction": prediction})
    with pytest.raises(BadInputError):
        scheduler_from_dict({**data, "schedule": {**data["schedule"], "sharpness": 1}})


def test_v_prediction_survives_the_round_trip():
    scheduler = DDIMScheduler(NoiseSchedule(train_steps=100), steps=4, prediction="v", eta=0.3)
    again = scheduler_from_dict(json.loads(json.dumps(scheduler.to_dict())))
    assert type(again) is DDIMScheduler and again.prediction == "v" and again.eta == pytest.approx(0.3)


def _batched_cases():
    prior = BlurSchedule(train_steps=200, prior_mean=tuple(np.linspace(-3, 1, 9)), prior_std=(0.5,) * 9)
    return {
        "ddpm": DDPMScheduler(NoiseSchedule(train_steps=200), steps=5),
        "ddim": DDIMScheduler(NoiseSchedule(train_steps=200), steps=5, prediction="v"),
        "ddim-eta": DDIMScheduler(NoiseSchedule(train_steps=200), steps=5, eta=1.0),
        "momentum": MomentumScheduler(prior, steps=5),
        "momentum-eta0": MomentumScheduler(prior, steps=5, eta=0.0),
    }


@pytest.mark.parametrize("case", list(_batched_cases()))
def test_batched_generation_returns_exactly_the_row_by_row_samples(case):
    scheduler = _batched_cases()[case]
    calls = []

    def denoise(sample, t):  # row-wise, and each row sees its own timestep
        calls.append(sample.shape[0])
        assert t.shape == (sample.shape[0],) and np.all(t == t[0])
        return np.tanh(0.7 * sample) * (1 - t[:, None, None, None] / 400)

    one = generate(denoise, scheduler, (1, 1, SIDE, SIDE), count=7, seed=11, batch=1)
    assert set(calls) == {1} and len(calls) == 7 * scheduler.steps
    calls.clear()
    three = generate(denoise, scheduler, (1, 1, SIDE, SIDE), count=7, seed=11, batch=3)
    assert calls == [3] * scheduler.steps + [3] * scheduler.steps + [1] * scheduler.steps
    assert three.shape == (7, 1, SIDE, SIDE) and three.dtype == np.float32
    assert np.array_equal(one, three)
    assert len({row.tobytes() for row in one}) == 7  # distinct seeds per sample
    assert np.array_equal(one[:1], run_sampler(denoise, scheduler, (1, 1, SIDE, SIDE), sample_rng(11, 0)))
