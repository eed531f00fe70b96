"""Diffusion samplers as small stateless numpy schedulers, shared by the PyTorch
reference and the runtime (the split diffusers makes between networks and schedulers).

A scheduler knows the noise schedule and how to take one reverse step; it knows nothing
of the network. The loop :func:`run_sampler` calls a denoiser (any callable
``(sample, timestep) -> eps``: a PyTorch module wrapped by ``edgezoo.zoo.sampling``, or
an exported step graph run by a backend) once per step. Everything a scheduler needs
is data (:meth:`Scheduler.to_dict`), stored as a manifest's ``program.sampler`` so an
app can replay the loop without Python.

Conventions: the network predicts the noise ε (ε-parameterisation) of
``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) ε`` with x0 in [-1, 1]; training timesteps
are the integers 0 .. T-1 (fed to the network as float32); sampling timesteps are
spaced "trailing" (the first step starts at T-1, so even 2 steps begin from pure
noise), and the last step lands on the clean sample (abar = 1). Torch-free.
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
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise BadInputError(f"noise schedule fields {sorted(unknown)} are unknown (known: {sorted(known)})")
        return cls(**dict(data))


def spaced_timesteps(train_steps: int, steps: int) -> np.ndarray:
    """``steps`` timesteps in [0, train_steps), descending, "trailing" spacing: the
    first is T-1, then every T/steps (rounded); ``steps == T`` gives T-1 .. 0."""
    if not 1 <= steps <= train_steps:
        raise BadInputError(f"steps must be between 1 and the schedule's {train_steps} training steps, not {steps}")
    return (np.round(np.arange(train_steps, 0, -train_steps / steps)).astype(np.int64) - 1)[:steps]


class Scheduler:
    """Common part of DDPM and DDIM: the schedule, the sampling timesteps, and x0 from ε.
    ``clip_sample``: the predicted x0 is clipped to [-clip, clip] (None: not clipped)."""

    kind = ""
    stochastic = False

    def __init__(self, schedule: NoiseSchedule | None = None, steps: int | None = None,
                 clip_sample: float | None = 1.0) -> None:
        self.schedule = schedule or NoiseSchedule()
        self.clip_sample = clip_sample
        self.alphas_cumprod = self.schedule.alphas_cumprod()
        self.timesteps = np.zeros(0, np.int64)
        self.set_timesteps(steps or self.schedule.train_steps)

    def set_timesteps(self, steps: int) -> np.ndarray:
        """Use ``steps`` sampling steps; returns the timesteps, descending."""
        self.timesteps = spaced_timesteps(self.schedule.train_steps, int(steps))
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

    def abar(self, t: int) -> float:
        """abar_t, with abar_{-1} = 1 (the clean sample)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def predicted_x0(self, eps: np.ndarray, t: int, sample: np.ndarray) -> np.ndarray:
        abar = self.abar(t)
        x0 = (sample.astype(np.float64) - math.sqrt(1 - abar) * eps) / math.sqrt(abar)
        if self.clip_sample is not None:
            x0 = np.clip(x0, -self.clip_sample, self.clip_sample)
        return x0

    def step(self, model_output: np.ndarray, t: int, sample: np.ndarray, noise: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> np.ndarray:
        """x_{prev(t)} from x_t (``sample``) and the network's ε (``model_output``).
        A stochastic step takes its fresh Gaussian ``noise`` (same shape) or draws it
        from ``rng``. Returns float32."""
        raise NotImplementedError

    def _noise(self, shape: tuple[int, ...], noise: np.ndarray | None, rng: np.random.Generator | None) -> np.ndarray:
        if noise is not None:
            return np.asarray(noise, dtype=np.float64)
        if rng is None:
            raise BadInputError(f"a {self.kind} step adds fresh noise: pass noise= or rng=")
        return rng.standard_normal(shape, dtype=np.float32).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """The scheduler as data (a manifest's ``program.sampler``): its kind, steps,
        schedule and options, plus the timesteps and abar at each, for apps that
        replay the loop without reimplementing the schedule."""
        return {
            "kind": self.kind, "steps": self.steps, "schedule": self.schedule.to_dict(),
            "clip_sample": self.clip_sample, "prediction": "epsilon", "spacing": "trailing",
            "timesteps": self.timesteps.tolist(),
            "alphas_cumprod": [float(f"{self.abar(int(t)):.9g}") for t in self.timesteps],
            **self._options(),
        }

    def _options(self) -> dict[str, Any]:
        return {}


class DDPMScheduler(Scheduler):
    """Ancestral sampling (Ho et al. 2020) over the sampling timesteps: from t to its
    predecessor s, β' = 1 - abar_t/abar_s, the posterior q(x_s | x_t, x0) with x0
    predicted from ε, and the posterior variance β'(1 - abar_s)/(1 - abar_t)."""

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
                 clip_sample: float | None = 1.0, eta: float = 0.0) -> None:
        self.eta = float(eta)
        self.stochastic = self.eta > 0
        super().__init__(schedule, steps, clip_sample)

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


SCHEDULERS: dict[str, type[Scheduler]] = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}


def scheduler_from_dict(data: Mapping[str, Any], steps: int | None = None) -> Scheduler:
    """The scheduler a manifest's ``program.sampler`` describes, with ``steps`` sampling
    steps (default: the dict's). Derived fields (timesteps, abar) are recomputed."""
    kind = data.get("kind")
    if kind not in SCHEDULERS:
        raise BadInputError(f"sampler kind '{kind}' is not one of {', '.join(SCHEDULERS)}: upgrade edgezoo")
    if data.get("prediction", "epsilon") != "epsilon" or data.get("spacing", "trailing") != "trailing":
        raise BadInputError("only epsilon prediction with trailing timestep spacing is implemented here")
    schedule = NoiseSchedule.from_dict(data.get("schedule") or {})
    kwargs: dict[str, Any] = {"clip_sample": data.get("clip_sample", 1.0)}
    if kind == "ddim":
        kwargs["eta"] = data.get("eta", 0.0)
    return SCHEDULERS[kind](schedule, int(steps or data.get("steps") or schedule.train_steps), **kwargs)


Denoiser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sample_rng(seed: int, index: int = 0) -> np.random.Generator:
    """The generator of sample ``index`` of a request seeded ``seed``: the same seed
    gives the same samples in the PyTorch reference and in the runtime."""
    return np.random.default_rng([int(seed), int(index)])


def run_sampler(denoise: Denoiser, scheduler: Scheduler, shape: tuple[int, ...], rng: np.random.Generator,
                timestep_dtype: Any = np.float32) -> np.ndarray:
    """One sample: x_T ~ N(0, I) of ``shape`` from ``rng``, then for each sampling
    timestep t, ``eps = denoise(x_t, [t])`` and one scheduler step (fresh noise from the
    same ``rng``). Returns the final sample (float32, x0 scale: [-1, 1])."""
    sample = rng.standard_normal(shape, dtype=np.float32)
    for t in scheduler.timesteps:
        eps = np.asarray(denoise(sample, np.full((1,), t, dtype=timestep_dtype)))
        sample = scheduler.step(eps, int(t), sample, rng=rng)
    return sample


def step_inputs(inputs: Iterable[TensorSpec]) -> tuple[TensorSpec, TensorSpec]:
    """(sample, timestep): the step graph's inputs with the ``noise`` and ``timestep``
    roles, which the loop fills. A step graph with other inputs (a condition, text) is
    not served by this loop yet: :class:`BadInputError` says which."""
    inputs = list(inputs)
    sample = [t for t in inputs if t.role == "noise"]
    timestep = [t for t in inputs if t.role == "timestep"]
    others = [t.name for t in inputs if t.role not in ("noise", "timestep")]
    if len(sample) != 1 or len(timestep) != 1 or others:
        raise BadInputError("the sampling loop drives a step graph with one 'noise' input (the sample) and one "
                            f"'timestep' input; this one has {[(t.name, t.role) for t in inputs]}")
    return sample[0], timestep[0]


def generate(denoise: Denoiser, scheduler: Scheduler, shape: tuple[int, ...], count: int = 1, seed: int = 0,
             timestep_dtype: Any = np.float32) -> np.ndarray:
    """``count`` samples of ``shape`` (one batch row each, e.g. (1, C, H, W)), sample i
    drawn with :func:`sample_rng(seed, i) <sample_rng>`, concatenated on the batch axis."""
    if count < 1:
        raise BadInputError(f"the number of samples must be at least 1, not {count}")
    return np.concatenate([run_sampler(denoise, scheduler, shape, sample_rng(seed, i), timestep_dtype)
                           for i in range(count)], axis=0)


__all__ = ["DDIMScheduler", "DDPMScheduler", "NoiseSchedule", "SCHEDULERS", "Scheduler", "generate", "run_sampler",
           "sample_rng", "scheduler_from_dict", "spaced_timesteps", "step_inputs"]
