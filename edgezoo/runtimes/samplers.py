"""Diffusion samplers as small stateless numpy schedulers, shared by the PyTorch
reference and the runtime (the split diffusers makes between networks and schedulers).

A scheduler knows the noise schedule and how to take one reverse step; it knows nothing
of the network. The loop :func:`run_sampler` calls a denoiser (any callable
``(sample, timestep) -> eps``: a PyTorch module wrapped by ``edgezoo.zoo.sampling``, or
an exported step graph run by a backend) once per step. Everything a scheduler needs
is data (:meth:`Scheduler.to_dict`), stored as a manifest's ``program.sampler`` so an
app can replay the loop without Python.

Conventions: Gaussian diffusion corrupts ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) ε``
with x0 in [-1, 1], and the network predicts what the program's ``prediction`` says:
the noise ε (``epsilon``) or the velocity v = sqrt(abar_t) ε - sqrt(1 - abar_t) x0
(``v``, Salimans & Ho 2022). Soft (blur) diffusion corrupts ``y_t = C_t x0 + s_t η``
with C_t a Gaussian blur, and its network predicts x0 (``x0``): :class:`MomentumScheduler`.
Training timesteps are the integers 0 .. T-1 (fed to the network as float32);
sampling timesteps are spaced "trailing" (the first step starts at T-1, so even 2
steps begin from the prior), and the last step lands on the clean sample. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import TensorSpec

SCHEDULE_KINDS = ("cosine", "linear")


@dataclass(frozen=True)
class NoiseSchedule:
    """The forward process over ``train_steps`` steps. ``cosine`` (Nichol & Dhariwal
    2021): abar(t) = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2), each β clipped to
    ``max_beta``; ``linear`` (Ho et al. 2020): β from ``beta_start`` to ``beta_end``."""

    kind: str = "cosine"
    train_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    cosine_s: float = 0.008
    max_beta: float = 0.999

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise BadInputError(f"noise schedule '{self.kind}' is not one of {', '.join(SCHEDULE_KINDS)}")
        if self.train_steps < 1:
            raise BadInputError(f"a noise schedule needs at least one step, not {self.train_steps}")

    def betas(self) -> np.ndarray:
        """β_t for t = 0 .. T-1 (float64)."""
        steps = self.train_steps
        if self.kind == "linear":
            return np.linspace(self.beta_start, self.beta_end, steps, dtype=np.float64)

        def f(t: np.ndarray) -> np.ndarray:
            return np.cos((t / steps + self.cosine_s) / (1 + self.cosine_s) * math.pi / 2) ** 2

        t = np.arange(steps + 1, dtype=np.float64)
        abar = f(t) / f(np.zeros(1))
        return np.minimum(1 - abar[1:] / abar[:-1], self.max_beta)

    def alphas_cumprod(self) -> np.ndarray:
        """abar_t = prod_{s <= t} (1 - β_s) for t = 0 .. T-1 (float64, decreasing)."""
        return np.cumprod(1.0 - self.betas())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NoiseSchedule":
        return cls(**_known_fields(cls, data, "noise schedule"))


def _known_fields(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` as keyword arguments of dataclass ``cls``; unknown fields are an error
    (a manifest from a newer edgezoo), named with ``what`` they belong to."""
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise BadInputError(f"{what} fields {sorted(unknown)} are unknown (known: {sorted(cls.__dataclass_fields__)})")
    return dict(data)


def spaced_timesteps(train_steps: int, steps: int) -> np.ndarray:
    """``steps`` timesteps in [0, train_steps), descending, "trailing" spacing: the
    first is T-1, then every T/steps (rounded); ``steps == T`` gives T-1 .. 0."""
    if not 1 <= steps <= train_steps:
        raise BadInputError(f"steps must be between 1 and the schedule's {train_steps} training steps, not {steps}")
    return (np.round(np.arange(train_steps, 0, -train_steps / steps)).astype(np.int64) - 1)[:steps]


PREDICTIONS = ("epsilon", "v", "x0")


class BaseScheduler:
    """What every scheduler shares: the sampling timesteps over ``train_steps``, the
    starting sample, the fresh noise of stochastic steps, and its data."""

    kind = ""
    stochastic = False
    prediction = "epsilon"

    def __init__(self, train_steps: int, steps: int | None = None) -> None:
        self.train_steps = int(train_steps)
        self.timesteps = np.zeros(0, np.int64)
        self.set_timesteps(steps or self.train_steps)

    def set_timesteps(self, steps: int) -> np.ndarray:
        """Use ``steps`` sampling steps; returns the timesteps, descending."""
        self.timesteps = spaced_timesteps(self.train_steps, int(steps))
        return self.timesteps

    @property
    def steps(self) -> int:
        return int(self.timesteps.size)

    def previous(self, t: int) -> int:
        """The timestep after ``t`` in this sampling run (-1 after the last: clean)."""
        where = np.flatnonzero(self.timesteps == t)
        if where.size == 0:
            raise BadInputError(f"timestep {t} is not one of this scheduler's {self.timesteps.tolist()}")
        i = int(where[0])
        return int(self.timesteps[i + 1]) if i + 1 < self.timesteps.size else -1

    def initial_sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """The first x_T of ``shape`` drawn from ``rng`` (default: standard normal)."""
        return rng.standard_normal(shape, dtype=np.float32)

    def needs_noise(self, t: int) -> bool:
        """Whether the step from ``t`` adds fresh noise (drawn after the network call)."""
        return self.stochastic and self.previous(int(t)) >= 0

    def step(self, model_output: np.ndarray, t: int, sample: np.ndarray, noise: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> np.ndarray:
        """x_{prev(t)} from x_t (``sample``) and the network's output at t. A stochastic
        step takes its fresh Gaussian ``noise`` (same shape) or draws it from ``rng``.
        Returns float32."""
        raise NotImplementedError

    def _noise(self, shape: tuple[int, ...], noise: np.ndarray | None, rng: np.random.Generator | None) -> np.ndarray:
        if noise is not None:
            return np.asarray(noise, dtype=np.float64)
        if rng is None:
            raise BadInputError(f"a {self.kind} step adds fresh noise: pass noise= or rng=")
        return rng.standard_normal(shape, dtype=np.float32).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class Scheduler(BaseScheduler):
    """Common part of DDPM and DDIM: the Gaussian schedule and x0/ε from the network's
    output (``prediction``: ``epsilon`` or ``v``). ``clip_sample``: the predicted x0 is
    clipped to [-clip, clip] (None: not clipped)."""

    def __init__(self, schedule: NoiseSchedule | None = None, steps: int | None = None,
                 clip_sample: float | None = 1.0, prediction: str = "epsilon") -> None:
        if prediction not in ("epsilon", "v"):
            raise BadInputError(f"a {self.kind or 'Gaussian'} scheduler reads epsilon or v predictions, not '{prediction}'")
        self.schedule = schedule or NoiseSchedule()
        self.clip_sample = clip_sample
        self.prediction = prediction
        self.alphas_cumprod = self.schedule.alphas_cumprod()
        super().__init__(self.schedule.train_steps, steps)

    def abar(self, t: int) -> float:
        """abar_t, with abar_{-1} = 1 (the clean sample)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def predicted_x0(self, model_output: np.ndarray, t: int, sample: np.ndarray) -> np.ndarray:
        abar = self.abar(t)
        out, x = model_output.astype(np.float64), sample.astype(np.float64)
        if self.prediction == "v":
            x0 = math.sqrt(abar) * x - math.sqrt(1 - abar) * out
        else:
            x0 = (x - math.sqrt(1 - abar) * out) / math.sqrt(abar)
        if self.clip_sample is not None:
            x0 = np.clip(x0, -self.clip_sample, self.clip_sample)
        return x0

    def to_dict(self) -> dict[str, Any]:
        """The scheduler as data (a manifest's ``program.sampler``): its kind, steps,
        schedule and options, plus the timesteps and abar at each, for apps that
        replay the loop without reimplementing the schedule."""
        return {
            "kind": self.kind, "steps": self.steps, "schedule": self.schedule.to_dict(),
            "clip_sample": self.clip_sample, "prediction": self.prediction, "spacing": "trailing",
            "timesteps": self.timesteps.tolist(),
            "alphas_cumprod": [float(f"{self.abar(int(t)):.9g}") for t in self.timesteps],
            **self._options(),
        }

    def _options(self) -> dict[str, Any]:
        return {}


class DDPMScheduler(Scheduler):
    """Ancestral sampling (Ho et al. 2020) over the sampling timesteps: from t to its
    predecessor s, β' = 1 - abar_t/abar_s, the posterior q(x_s | x_t, x0) with x0
    predicted from the network, and the posterior variance β'(1 - abar_s)/(1 - abar_t)."""

    kind = "ddpm"
    stochastic = True

    def step(self, model_output, t, sample, noise=None, rng=None):
        t = int(t)
        s = self.previous(t)
        abar_t, abar_s = self.abar(t), self.abar(s)
        beta = 1 - abar_t / abar_s
        x0 = self.predicted_x0(model_output, t, sample)
        mean = (math.sqrt(abar_s) * beta / (1 - abar_t)) * x0 \
            + (math.sqrt(1 - beta) * (1 - abar_s) / (1 - abar_t)) * sample.astype(np.float64)
        if s < 0:
            return mean.astype(np.float32)
        variance = beta * (1 - abar_s) / (1 - abar_t)
        return (mean + math.sqrt(variance) * self._noise(sample.shape, noise, rng)).astype(np.float32)


class DDIMScheduler(Scheduler):
    """DDIM (Song et al. 2021): x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - σ²) ε + σ z,
    σ = eta·sqrt((1 - abar_s)/(1 - abar_t))·sqrt(1 - abar_t/abar_s). ``eta = 0`` is
    deterministic (only the first noise matters); ``eta = 1`` is DDPM's variance."""

    kind = "ddim"

    def __init__(self, schedule: NoiseSchedule | None = None, steps: int | None = None,
                 clip_sample: float | None = 1.0, eta: float = 0.0, prediction: str = "epsilon") -> None:
        self.eta = float(eta)
        self.stochastic = self.eta > 0
        super().__init__(schedule, steps, clip_sample, prediction)

    def _options(self) -> dict[str, Any]:
        return {"eta": self.eta}

    def step(self, model_output, t, sample, noise=None, rng=None):
        t = int(t)
        s = self.previous(t)
        abar_t, abar_s = self.abar(t), self.abar(s)
        x0 = self.predicted_x0(model_output, t, sample)
        # ε consistent with the (possibly clipped) x0, as DDIM's update assumes
        eps = (sample.astype(np.float64) - math.sqrt(abar_t) * x0) / math.sqrt(1 - abar_t)
        sigma = self.eta * math.sqrt((1 - abar_s) / (1 - abar_t)) * math.sqrt(1 - abar_t / abar_s)
        out = math.sqrt(abar_s) * x0 + math.sqrt(max(1 - abar_s - sigma * sigma, 0.0)) * eps
        if sigma > 0:
            out = out + sigma * self._noise(sample.shape, noise, rng)
        return out.astype(np.float32)


@dataclass(frozen=True)
class BlurSchedule:
    """Soft (blur) diffusion's forward process over ``train_steps`` steps (Daras et al.
    2022): y_t = C_t x0 + s_t η, C_t a Gaussian blur of standard deviation b_t pixels
    (the heat equation in the DCT basis, reflecting borders), both levels geometric in
    u = (t + 1)/T: b_t from ``blur_min`` to ``blur_max``, s_t from ``noise_min`` to
    ``noise_max``. ``prior_mean``/``prior_std``: the Gaussian fitted to the lowest
    ``k x k`` DCT coefficients of C_{T-1} x0 over the training images (k² numbers each,
    row-major), the rest being blurred away, from which sampling starts."""

    train_steps: int = 1000
    blur_min: float = 0.3
    blur_max: float = 24.0
    noise_min: float = 0.01
    noise_max: float = 1.0
    prior_mean: tuple[float, ...] = ()
    prior_std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.train_steps < 1 or not 0 < self.blur_min <= self.blur_max or not 0 < self.noise_min <= self.noise_max:
            raise BadInputError("a blur schedule needs train_steps >= 1 and 0 < min <= max for blur and noise")
        if len(self.prior_mean) != len(self.prior_std) or math.isqrt(len(self.prior_mean)) ** 2 != len(self.prior_mean):
            raise BadInputError("a blur schedule's prior_mean and prior_std are k*k numbers each (the lowest DCT block)")

    def _level(self, t: int, low: float, high: float) -> float:
        u = (int(t) + 1) / self.train_steps
        return low * (high / low) ** u

    def blur(self, t: int) -> float:
        """b_t in pixels (0 at t = -1: the clean image)."""
        return 0.0 if t < 0 else self._level(t, self.blur_min, self.blur_max)

    def noise(self, t: int) -> float:
        """s_t (0 at t = -1)."""
        return 0.0 if t < 0 else self._level(t, self.noise_min, self.noise_max)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prior_mean"], data["prior_std"] = list(self.prior_mean), list(self.prior_std)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BlurSchedule":
        data = _known_fields(cls, data, "blur schedule")
        for key in ("prior_mean", "prior_std"):
            data[key] = tuple(float(v) for v in data.get(key, ()))
        return cls(**data)


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix (n, n): ``D @ x`` transforms along the first axis."""
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def heat_attenuation(height: int, width: int, sigma: float) -> np.ndarray:
    """The (H, W) gains of a Gaussian blur of ``sigma`` pixels on DCT coefficients:
    exp(-π²(i²/H² + j²/W²)·σ²/2), the heat equation run for time σ²/2."""
    i = np.arange(height)[:, None] / height
    j = np.arange(width)[None, :] / width
    return np.exp(-(math.pi ** 2) * (i ** 2 + j ** 2) * sigma * sigma / 2)


def blur_image(x: np.ndarray, sigma: float) -> np.ndarray:
    """C x: ``x`` (..., H, W) blurred by ``sigma`` pixels in the DCT basis (float64)."""
    if sigma <= 0:
        return np.asarray(x, dtype=np.float64)
    height, width = x.shape[-2:]
    dh, dw = dct_matrix(height), dct_matrix(width)
    coeffs = dh @ np.asarray(x, dtype=np.float64) @ dw.T
    return dh.T @ (coeffs * heat_attenuation(height, width, sigma)) @ dw


class MomentumScheduler(BaseScheduler):
    """Soft Diffusion's Momentum Sampler (Daras et al. 2022) over a :class:`BlurSchedule`,
    for a network that predicts x0. From t to its predecessor s, with x̂0 the
    (clipped) prediction and z = y_t - C_t x̂0 the noise it implies:

    y' = y_t + (C_s - C_t) x̂0   (the deblurring correction, added to the current
    iterate rather than re-drawing y_s around x̂0: errors of x̂0 enter only through the
    difference of two blurs), then the noise goes from s_t to s_s as in a
    variance-exploding ancestral step: y_s = y' - (1 - r²) z + eta·s_s·sqrt(1 - r²)·ξ
    with r = s_s/s_t when ``eta = 1`` (default), y_s = y' - (1 - r) z when ``eta = 0``.
    The last step returns x̂0. Sampling starts from the prior: the lowest DCT block drawn
    from the schedule's Gaussian, the rest zero, plus s_{T-1} noise."""

    kind = "momentum"
    prediction = "x0"

    def __init__(self, schedule: BlurSchedule | None = None, steps: int | None = None,
                 clip_sample: float | None = 1.0, eta: float = 1.0) -> None:
        self.schedule = schedule or BlurSchedule()
        self.clip_sample = clip_sample
        self.eta = float(eta)
        self.stochastic = self.eta > 0
        super().__init__(self.schedule.train_steps, steps)

    def initial_sample(self, shape, rng):
        k = math.isqrt(len(self.schedule.prior_mean))
        height, width = shape[-2:]
        coeffs = np.zeros(shape, np.float64)
        if k:
            mean = np.asarray(self.schedule.prior_mean).reshape(k, k)
            std = np.asarray(self.schedule.prior_std).reshape(k, k)
            draw = rng.standard_normal((*shape[:-2], k, k), dtype=np.float32)
            coeffs[..., :k, :k] = mean + std * draw
        dh, dw = dct_matrix(height), dct_matrix(width)
        low = dh.T @ coeffs @ dw
        top = self.schedule.noise(int(self.timesteps[0]))
        return (low + top * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)

    def step(self, model_output, t, sample, noise=None, rng=None):
        t = int(t)
        s = self.previous(t)
        x0 = model_output.astype(np.float64)
        if self.clip_sample is not None:
            x0 = np.clip(x0, -self.clip_sample, self.clip_sample)
        if s < 0:
            return x0.astype(np.float32)
        y = sample.astype(np.float64)
        blurred_t = blur_image(x0, self.schedule.blur(t))
        z = y - blurred_t
        out = y + blur_image(x0, self.schedule.blur(s)) - blurred_t
        r = self.schedule.noise(s) / self.schedule.noise(t)
        if self.stochastic:
            out = out - (1 - r * r) * z \
                + self.eta * self.schedule.noise(s) * math.sqrt(1 - r * r) * self._noise(sample.shape, noise, rng)
        else:
            out = out - (1 - r) * z
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "steps": self.steps, "schedule": self.schedule.to_dict(), "clip_sample": self.clip_sample,
            "prediction": self.prediction, "spacing": "trailing", "eta": self.eta,
            "timesteps": self.timesteps.tolist(),
            "blur_sigma": [float(f"{self.schedule.blur(int(t)):.6g}") for t in self.timesteps],
            "noise_sigma": [float(f"{self.schedule.noise(int(t)):.6g}") for t in self.timesteps],
        }


SCHEDULERS: dict[str, type[BaseScheduler]] = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler,
                                              "momentum": MomentumScheduler}


def scheduler_from_dict(data: Mapping[str, Any], steps: int | None = None) -> BaseScheduler:
    """The scheduler a manifest's ``program.sampler`` describes, with ``steps`` sampling
    steps (default: the dict's). Derived fields (timesteps, abar, levels) are recomputed."""
    kind = data.get("kind")
    if kind not in SCHEDULERS:
        raise BadInputError(f"sampler kind '{kind}' is not one of {', '.join(SCHEDULERS)}: upgrade edgezoo")
    if data.get("spacing", "trailing") != "trailing":
        raise BadInputError("only trailing timestep spacing is implemented here: upgrade edgezoo")
    prediction = data.get("prediction", SCHEDULERS[kind].prediction)
    clip = data.get("clip_sample", 1.0)
    if kind == "momentum":
        if prediction != "x0":
            raise BadInputError(f"the momentum sampler reads x0 predictions, not '{prediction}'")
        blur = BlurSchedule.from_dict(data.get("schedule") or {})
        return MomentumScheduler(blur, int(steps or data.get("steps") or blur.train_steps), clip, data.get("eta", 1.0))
    schedule = NoiseSchedule.from_dict(data.get("schedule") or {})
    kwargs: dict[str, Any] = {"clip_sample": clip, "prediction": prediction}
    if kind == "ddim":
        kwargs["eta"] = data.get("eta", 0.0)
    return SCHEDULERS[kind](schedule, int(steps or data.get("steps") or schedule.train_steps), **kwargs)


Denoiser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sample_rng(seed: int, index: int = 0) -> np.random.Generator:
    """The generator of sample ``index`` of a request seeded ``seed``: the same seed
    gives the same samples in the PyTorch reference and in the runtime."""
    return np.random.default_rng([int(seed), int(index)])


def run_sampler_rows(denoise: Denoiser, scheduler: BaseScheduler, shape: tuple[int, ...],
                     rngs: list[np.random.Generator], timestep_dtype: Any = np.float32) -> np.ndarray:
    """One sample of ``shape`` per generator, run as one batch (rows concatenated on
    the first axis): each row's starting sample and fresh noise come from its own
    generator in the order a single-row run draws them, so a batched run returns
    exactly what row-by-row runs return. ``denoise`` gets the batch and a timestep per row."""
    sample = np.concatenate([scheduler.initial_sample(shape, rng) for rng in rngs], axis=0)
    for t in scheduler.timesteps:
        out = np.asarray(denoise(sample, np.full((sample.shape[0],), t, dtype=timestep_dtype)))
        noise = (np.concatenate([rng.standard_normal(shape, dtype=np.float32) for rng in rngs], axis=0)
                 if scheduler.needs_noise(int(t)) else None)
        sample = scheduler.step(out, int(t), sample, noise=noise)
    return sample


def run_sampler(denoise: Denoiser, scheduler: BaseScheduler, shape: tuple[int, ...], rng: np.random.Generator,
                timestep_dtype: Any = np.float32) -> np.ndarray:
    """One sample: x_T from the scheduler's prior (``shape``, drawn from ``rng``), then
    for each sampling timestep t, ``out = denoise(x_t, [t])`` and one scheduler step
    (fresh noise from the same ``rng``). Returns the final sample (float32, x0 scale)."""
    return run_sampler_rows(denoise, scheduler, shape, [rng], timestep_dtype)


def step_inputs(inputs: Iterable[TensorSpec], fed: Iterable[str] = ()) -> tuple[TensorSpec, TensorSpec]:
    """(sample, timestep): the step graph's inputs with the ``noise`` and ``timestep``
    roles, which the loop fills. Other inputs must be named in ``fed`` (a condition
    picture the caller feeds at every step); any other is not served by this loop yet:
    :class:`BadInputError` says which."""
    inputs = list(inputs)
    fed = set(fed)
    sample = [t for t in inputs if t.role == "noise"]
    timestep = [t for t in inputs if t.role == "timestep"]
    others = [t.name for t in inputs if t.role not in ("noise", "timestep") and t.name not in fed]
    if len(sample) != 1 or len(timestep) != 1 or others:
        raise BadInputError("the sampling loop drives a step graph with one 'noise' input (the sample) and one "
                            f"'timestep' input; this one has {[(t.name, t.role) for t in inputs]}")
    return sample[0], timestep[0]


def generate(denoise: Denoiser, scheduler: BaseScheduler, shape: tuple[int, ...], count: int = 1, seed: int = 0,
             timestep_dtype: Any = np.float32, batch: int = 1) -> np.ndarray:
    """``count`` samples of ``shape`` (one batch row each, e.g. (1, C, H, W)), sample i
    drawn with :func:`sample_rng(seed, i) <sample_rng>`, concatenated on the batch axis.
    ``batch`` rows go through ``denoise`` at once (a step graph exported for batch 1
    takes 1); the samples do not depend on it."""
    if count < 1:
        raise BadInputError(f"the number of samples must be at least 1, not {count}")
    batch = max(1, int(batch))
    return np.concatenate([
        run_sampler_rows(denoise, scheduler, shape, [sample_rng(seed, i) for i in range(start, min(start + batch, count))],
                         timestep_dtype)
        for start in range(0, count, batch)], axis=0)


__all__ = ["BaseScheduler", "BlurSchedule", "DDIMScheduler", "DDPMScheduler", "MomentumScheduler", "NoiseSchedule",
           "PREDICTIONS", "SCHEDULERS", "Scheduler", "blur_image", "dct_matrix", "generate", "heat_attenuation",
           "run_sampler", "run_sampler_rows", "sample_rng", "scheduler_from_dict", "spaced_timesteps", "step_inputs"]
