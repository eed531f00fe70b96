"""Training and measuring the conditional-diffusion restoration family (issue 11), in
three phases, each resumable and replayed exactly by its seed:

- ``predictor``: the deterministic predictor on (degraded, clean) patches, Charbonnier loss;
- ``teacher``: the conditional denoiser on the residual ``(x - predictor(y)) *
  residual_scale`` (predictor frozen), Gaussian diffusion with v prediction (the
  forward process of :class:`edgezoo.zoo.train_diffusion.Corruption`), plus, with
  structure guidance, an L1 loss on the grey structure at every scale (Ren et al.);
- ``student``: CoDi (Mei et al. 2024) with parameter-efficient adapters: the teacher's
  denoiser frozen, zero-initialised adapters trained by a conditional consistency
  objective: the student's x0 at (x_t, t) is pulled towards its EMA's x0 at
  (x_t', t'), x_t' one deterministic DDIM step of the teacher from x_t on the teacher's
  ``teacher_steps`` grid (at the end of the grid, towards the teacher's own x0).

Patches come from the training photos (``edgezoo.zoo.data``: the pool minus its last
``holdout_photos``), cut with a margin, degraded by the config's
:data:`~edgezoo.zoo.degradations.CONDITIONAL_DEGRADATIONS` entry and cropped, so a
blur's borders see real picture. Every random draw of step k comes from
``numpy.random.default_rng([seed, k, ...])``, so a run resumed from its checkpoint at step
k continues exactly as the uninterrupted run (same device and precision).

Quality (:func:`evaluate_conditional`): PSNR/SSIM on the evaluation photos of the
predictor alone, of single samples and of the mean of K samples at each step count,
and the diversity between the samples, each picture served through
:func:`edgezoo.runtimes.serving.serve` and the runtime's refine loop."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from edgezoo.files import atomic_path, atomic_write_text
from edgezoo.metrics import psnr, ssim
from edgezoo.runtimes.refine import refine
from edgezoo.runtimes.samplers import spaced_timesteps
from edgezoo.zoo.conditional import ConditionalRestorer, freeze_all_but_adapters, grey_structure
from edgezoo.zoo.data import PatchSampler, load_photo_pool
from edgezoo.zoo.degradations import CONDITIONAL_DEGRADATIONS
from edgezoo.zoo.registry import get_entry
from edgezoo.zoo.train import charbonnier
from edgezoo.zoo.train_diffusion import Corruption, device_name
from edgezoo.zoo.weights import load_weights, save_weights

PHASES = ("predictor", "teacher", "student")
MARGIN = 16  # pixels cut around each patch before degrading (a multiple of every scale)


@dataclass
class ConditionalRecipe:
    """One phase's options. ``lr`` None: the phase's default (predictor 1e-3, denoiser
    2e-4, adapters 1e-3)."""

    phase: str = "predictor"
    steps: int = 2000
    batch: int = 16
    patch: int = 64  # the clean (output) patch side
    lr: float | None = None
    warmup: int = 100
    ema: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    holdout_photos: int = 2
    max_seconds: float | None = None
    guidance_weight: float = 0.5
    teacher_steps: int = 50  # the student's consistency grid: the teacher's DDIM steps
    workers: int = 0  # processes that cut and degrade patches ahead (0: inline; the batches are the same)


DEFAULT_LR = {"predictor": 1e-3, "teacher": 2e-4, "student": 1e-3}


def phase_dir(run: str | Path, model_name: str, phase: str) -> Path:
    """Where a phase of a model trains: ``RUN/MODEL/PHASE``."""
    return Path(run) / model_name / phase


def weights_path(run: str | Path, model_name: str) -> Path:
    """The whole model's trained weights (predictor + EMA denoiser): ``RUN/MODEL/model.safetensors``."""
    return Path(run) / model_name / "model.safetensors"


# ---- data ------------------------------------------------------------------------------

class PatchPairs:
    """(clean, degraded) training pairs, a function of (seed, step) alone."""

    def __init__(self, photos: list[np.ndarray], degradation: str, patch: int, scale: int, seed: int) -> None:
        if patch % scale or MARGIN % scale:
            raise ValueError(f"the patch ({patch}) must be a multiple of the scale ({scale})")
        self.sampler = PatchSampler(photos, patch + 2 * MARGIN, seed=seed)
        self.degradation = CONDITIONAL_DEGRADATIONS[degradation]
        self.patch, self.scale, self.seed = patch, scale, seed

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(clean (size, 3, p, p), degraded (size, 3, p/scale, p/scale)) float32 in [0, 1]."""
        self.sampler.rng = np.random.default_rng([self.seed, step, 0])
        wide = self.sampler.batch(size)
        rng = np.random.default_rng([self.seed, step, 1])
        m, p, s = MARGIN, self.patch, self.scale
        clean = wide[:, :, m:m + p, m:m + p]
        degraded = np.stack([self.degradation(w.transpose(1, 2, 0), rng)[0].transpose(2, 0, 1) for w in wide])
        return np.ascontiguousarray(clean), np.ascontiguousarray(degraded[:, :, m // s:(m + p) // s, m // s:(m + p) // s])


_WORKER_PAIRS: PatchPairs | None = None  # the pairs a forked worker process cuts from


def _worker_batch(step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER_PAIRS is not None
    return _WORKER_PAIRS.batch(step, size)


class PrefetchedPairs:
    """:class:`PatchPairs` cut ahead by ``workers`` forked processes, up to ``depth``
    steps beyond the one asked for, so an accelerator does not wait on numpy. A batch is
    still a function of (seed, step) alone: the same as cut inline."""

    def __init__(self, pairs: PatchPairs, batch: int, stop: int, workers: int, depth: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _WORKER_PAIRS
        _WORKER_PAIRS = pairs  # inherited by the forked workers, never pickled
        self.pairs, self.size, self.stop = pairs, batch, stop
        self.depth = depth or 4 * workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        self.futures: dict[int, Any] = {}
        self.submitted = -1

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        if size != self.size:
            return self.pairs.batch(step, size)
        self.submitted = max(self.submitted, step - 1)
        while self.submitted + 1 < min(self.stop, step + self.depth):
            self.submitted += 1
            self.futures[self.submitted] = self.pool.submit(_worker_batch, self.submitted, size)
        future = self.futures.pop(step, None)
        return future.result() if future is not None else self.pairs.batch(step, size)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


Pairs = PatchPairs | PrefetchedPairs


# ---- the phases ----------------------------------------------------------------------------

def _lr(recipe: ConditionalRecipe, step: int) -> float:
    return (recipe.lr or DEFAULT_LR[recipe.phase]) * min(1.0, (step + 1) / max(1, recipe.warmup))


def load_model(model_name: str, run: str | Path | None = None, weights: str | Path | None = None) -> ConditionalRestorer:
    """``model_name`` built untrained, with ``weights`` or its run's trained weights when given."""
    model = get_entry(model_name).build()
    path = weights or (weights_path(run, model_name) if run is not None else None)
    if path is not None:
        load_weights(model, path)
    return model


def student_from_teacher(model_name: str, teacher: ConditionalRestorer) -> ConditionalRestorer:
    """A CoDi student (``model_name``'s config, with adapters) holding ``teacher``'s
    weights, its adapters zero (so it starts as the teacher), everything but the adapters frozen."""
    student = get_entry(model_name).build()
    own = student.state_dict()
    for key, value in teacher.state_dict().items():  # an adapted block holds the frozen one as .block
        place = key if key in own else _adapted_key(key)
        if place not in own or own[place].shape != value.shape:
            raise KeyError(f"{model_name} has no place for its teacher's {key}: is {student.cfg.teacher} its teacher?")
        own[place] = value
    student.load_state_dict(own)
    freeze_all_but_adapters(student.denoiser)
    for p in student.predictor.parameters():
        p.requires_grad_(False)
    return student


def _adapted_key(key: str) -> str:
    """A plain UNet block's parameter name as it is inside an :class:`AdaptedBlock`
    (``unet.down.0.0.conv1.weight`` -> ``unet.down.0.0.block.conv1.weight``)."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in ("down", "middle", "up") and i and parts[i - 1] == "unet":
            depth = 3 if part in ("down", "up") else 2  # down.L.B / middle.B
            return ".".join(parts[:i + depth] + ["block"] + parts[i + depth:])
    return key


class TrainingPhase:
    """One phase's state: the trained module, its EMA, the optimizer, the step and the
    device-seconds spent, saved to and resumed from ``DIR/last.pt``."""

    def __init__(self, trained: torch.nn.Module, params: list[torch.nn.Parameter], recipe: ConditionalRecipe,
                 folder: Path, device: torch.device, log: Callable[[str], None]) -> None:
        self.trained, self.recipe, self.folder, self.log = trained, recipe, folder, log
        self.ema = copy.deepcopy(trained).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.params = params
        self.opt = torch.optim.AdamW(params, lr=_lr(recipe, 0), weight_decay=0.0)
        self.step, self.spent, self.losses = 0, 0.0, []
        folder.mkdir(parents=True, exist_ok=True)
        last = folder / "last.pt"
        if last.is_file():
            state = torch.load(last, map_location=device, weights_only=False)
            trained.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
            self.opt.load_state_dict(state["opt"])
            self.step, self.spent = state["step"], state["seconds"]
            log(f"{recipe.phase}: resuming at step {self.step}")

    def update(self, loss: torch.Tensor) -> None:
        for group in self.opt.param_groups:
            group["lr"] = _lr(self.recipe, self.step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.recipe.grad_clip)
        self.opt.step()
        with torch.no_grad():
            decay = min(self.recipe.ema, (1 + self.step) / (10 + self.step))
            for e, p in zip(self.ema.parameters(), self.trained.parameters()):
                e.lerp_(p.detach(), 1 - decay)
        self.losses.append(loss.detach())
        self.step += 1

    def checkpoint(self) -> None:
        with atomic_path(self.folder / "last.pt") as tmp:
            torch.save({"model": self.trained.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                        "step": self.step, "seconds": self.spent, "recipe": asdict(self.recipe)}, tmp)
        save_weights(self.ema, self.folder / "ema.safetensors")
        loss = float(torch.stack(self.losses).mean()) if self.losses else None
        with open(self.folder / "log.jsonl", "a") as fh:
            fh.write(json.dumps({"step": self.step, "loss": loss, "seconds": round(self.spent, 2)}) + "\n")
        self.losses.clear()
        self.log(f"{self.recipe.phase}: step {self.step} loss {loss} ({self.spent:.0f} s)")

    def run(self, loss_at: Callable[[int], torch.Tensor], device: torch.device) -> int:
        """Steps until the recipe's count or its device-time budget; checkpoints on the way."""
        began = time.perf_counter()
        self.trained.train()
        while self.step < self.recipe.steps:
            if self.recipe.max_seconds is not None and self.spent + time.perf_counter() - began >= self.recipe.max_seconds:
                break
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = loss_at(self.step).float()
            self.update(loss)
            if self.step % self.recipe.checkpoint_every == 0 or self.step == self.recipe.steps:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                self.spent += time.perf_counter() - began
                began = time.perf_counter()
                self.checkpoint()
        if self.step % self.recipe.checkpoint_every and self.step != self.recipe.steps:
            self.spent += time.perf_counter() - began
            self.checkpoint()
        return self.step


def train_phase(model_name: str, images: list[str | Path], run: str | Path, recipe: ConditionalRecipe,
                device: str = "cpu", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) one phase of ``model_name`` on the photos under ``images`` into
    ``RUN/MODEL/PHASE`` (``last.pt``, ``ema.safetensors``, ``log.jsonl``, ``record.json``);
    the whole model's weights so far go to ``RUN/MODEL/model.safetensors``. The teacher
    phase needs the predictor phase's weights; a student's phase needs its teacher's
    model weights in ``RUN/TEACHER``. Returns the phase's record."""
    if recipe.phase not in PHASES:
        raise ValueError(f"the phase is one of {', '.join(PHASES)}, not {recipe.phase!r}")
    entry = get_entry(model_name)
    cfg = entry.config
    student = bool(cfg.adapter_rank)
    if student != (recipe.phase == "student"):
        raise ValueError(f"{model_name} trains the phases {'student' if student else 'predictor and teacher'}, "
                         f"not {recipe.phase}")
    dev = torch.device(device)
    torch.manual_seed(recipe.seed)
    photos = load_photo_pool([str(p) for p in images])
    if len(photos) <= recipe.holdout_photos:
        raise ValueError(f"{len(photos)} photos leave none to train on after holding out {recipe.holdout_photos}")
    pairs = PatchPairs(photos[:-recipe.holdout_photos] if recipe.holdout_photos else photos, cfg.degradation,
                       recipe.patch, cfg.scale, recipe.seed)
    if recipe.workers:
        pairs = PrefetchedPairs(pairs, recipe.batch, recipe.steps, recipe.workers)  # type: ignore[assignment]
    folder = phase_dir(run, model_name, recipe.phase)
    if recipe.phase == "predictor":
        model = entry.build().to(dev)
        phase = TrainingPhase(model.predictor, list(model.predictor.parameters()), recipe, folder, dev, log)
        loss_at = _predictor_loss(model, pairs, recipe, dev)
    elif recipe.phase == "teacher":
        model = entry.build()
        load_weights(model.predictor, phase_dir(run, model_name, "predictor") / "ema.safetensors")
        model = model.to(dev)
        for p in model.predictor.parameters():
            p.requires_grad_(False)
        phase = TrainingPhase(model.denoiser, list(model.denoiser.parameters()), recipe, folder, dev, log)
        loss_at = _teacher_loss(model, pairs, recipe, dev)
    else:
        teacher = load_model(cfg.teacher, run).to(dev).eval()
        model = student_from_teacher(model_name, teacher).to(dev)
        params = [p for p in model.denoiser.parameters() if p.requires_grad]
        phase = TrainingPhase(model.denoiser, params, recipe, folder, dev, log)
        loss_at = _consistency_loss(model, teacher, phase, pairs, recipe, dev)
    try:
        done = phase.run(loss_at, dev)
    finally:
        if isinstance(pairs, PrefetchedPairs):
            pairs.close()
    # the whole model as it ships: the phase's EMA in place of the trained part
    (model.predictor if recipe.phase == "predictor" else model.denoiser).load_state_dict(phase.ema.state_dict())
    save_weights(model, weights_path(run, model_name))
    trainable = sum(p.numel() for p in phase.params)
    total = sum(p.numel() for p in model.parameters())
    record = {"model": model_name, "phase": recipe.phase, "recipe": asdict(recipe), "steps_done": done,
              "stopped_early": done < recipe.steps, "patches_seen": done * recipe.batch, "device": device_name(dev),
              "device_seconds": round(phase.spent, 1), "trainable_params": trainable, "params": total,
              "trainable_fraction": round(trainable / total, 4), "degradation": cfg.degradation,
              "photos": len(photos) - recipe.holdout_photos,
              "precision": "bf16 autocast" if dev.type == "cuda" else "fp32"}
    atomic_write_text(folder / "record.json", json.dumps(record, indent=2))
    return record


def _tensors(pairs: "Pairs", step: int, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    clean, degraded = pairs.batch(step, batch)
    return torch.from_numpy(clean).to(device), torch.from_numpy(degraded).to(device)


def _draws(seed: int, step: int, batch: int, shape: tuple[int, ...], high: int,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s (timestep indices in [0, high), noise of ``shape``), from (seed, step)."""
    rng = np.random.default_rng([seed, step, 2])
    index = rng.integers(0, high, batch)
    noise = rng.standard_normal((batch, *shape), dtype=np.float32)
    return torch.from_numpy(index).to(device), torch.from_numpy(noise).to(device)


def _predictor_loss(model: ConditionalRestorer, pairs: "Pairs", recipe: ConditionalRecipe,
                    dev: torch.device) -> Callable[[int], torch.Tensor]:
    def loss_at(step: int) -> torch.Tensor:
        clean, degraded = _tensors(pairs, step, recipe.batch, dev)
        return charbonnier(model.predictor(degraded), clean)

    return loss_at


def residual_target(model: ConditionalRestorer, clean: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
    """The diffusion's x0: ``(clean - predictor(degraded)) * residual_scale`` in [-1, 1]."""
    with torch.no_grad():
        prediction = model.predictor(degraded)
    return ((clean - prediction) * model.cfg.residual_scale).clamp(-1.0, 1.0)


def _teacher_loss(model: ConditionalRestorer, pairs: "Pairs", recipe: ConditionalRecipe,
                  dev: torch.device) -> Callable[[int], torch.Tensor]:
    backbone = model.cfg.backbone
    corruption = Corruption(backbone, dev)
    levels = model.cfg.levels

    def loss_at(step: int) -> torch.Tensor:
        clean, degraded = _tensors(pairs, step, recipe.batch, dev)
        x0 = residual_target(model, clean, degraded)
        t, noise = _draws(recipe.seed, step, recipe.batch, tuple(x0.shape[1:]), backbone.train_steps, dev)
        structures: list[torch.Tensor] = []

        def denoise(x_t: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            v, found = model.denoiser.forward_with_structure(x_t, timestep, degraded)
            structures.extend(found)
            return v

        loss = corruption.loss(denoise, x0, t, noise)
        if structures:
            targets = grey_structure(clean, levels)
            loss = loss + recipe.guidance_weight * sum(F.l1_loss(s, g) for s, g in zip(structures, targets)) / levels
        return loss

    return loss_at


def _consistency_loss(model: ConditionalRestorer, teacher: ConditionalRestorer, phase: TrainingPhase, pairs: "Pairs",
                      recipe: ConditionalRecipe, dev: torch.device) -> Callable[[int], torch.Tensor]:
    backbone = model.cfg.backbone
    corruption = Corruption(backbone, dev)
    alpha, sigma = corruption.alpha, corruption.sigma
    # the teacher's grid, ascending, with -1 (clean) below its first point
    grid = torch.tensor([-1] + spaced_timesteps(backbone.train_steps, recipe.teacher_steps)[::-1].tolist(), device=dev)

    def x0_of(v: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return alpha[t].view(-1, 1, 1, 1) * x_t - sigma[t].view(-1, 1, 1, 1) * v

    def loss_at(step: int) -> torch.Tensor:
        clean, degraded = _tensors(pairs, step, recipe.batch, dev)
        x0 = residual_target(model, clean, degraded)
        i, noise = _draws(recipe.seed, step, recipe.batch, tuple(x0.shape[1:]), recipe.teacher_steps, dev)
        t, s = grid[i + 1], grid[i]
        x_t = corruption.corrupt(x0, t, noise)
        with torch.no_grad():
            teacher_x0 = x0_of(teacher.denoiser(x_t, t.float(), degraded), x_t, t).clamp(-1, 1)
            eps = (x_t - alpha[t].view(-1, 1, 1, 1) * teacher_x0) / sigma[t].view(-1, 1, 1, 1)
            s_pos = s.clamp(min=0)
            x_s = alpha[s_pos].view(-1, 1, 1, 1) * teacher_x0 + sigma[s_pos].view(-1, 1, 1, 1) * eps
            target = x0_of(phase.ema(x_s, s_pos.float(), degraded), x_s, s_pos).clamp(-1, 1)
            target = torch.where((s < 0).view(-1, 1, 1, 1), teacher_x0, target)
        student_x0 = x0_of(model.denoiser(x_t, t.float(), degraded), x_t, t)
        return F.mse_loss(student_x0, target)

    return loss_at


# ---- quality -------------------------------------------------------------------------------

def torch_components(model: ConditionalRestorer, device: str = "cpu") -> tuple[Callable, Callable]:
    """(predict, denoise) numpy callables of a PyTorch model, for :func:`edgezoo.runtimes.refine.refine`."""
    dev = torch.device(device)
    model = model.to(dev).eval()

    def predict(degraded: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model.predictor(torch.from_numpy(degraded).to(dev)).float().cpu().numpy()

    def denoise(sample: np.ndarray, timestep: np.ndarray, condition: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model.denoiser(torch.from_numpy(np.ascontiguousarray(sample, np.float32)).to(dev),
                                 torch.from_numpy(np.ascontiguousarray(timestep, np.float32)).to(dev),
                                 torch.from_numpy(np.ascontiguousarray(condition, np.float32)).to(dev))
        return out.float().cpu().numpy()

    return predict, denoise


def diversity(samples: np.ndarray) -> dict[str, float]:
    """Mean pairwise PSNR between ``samples`` (K, C, H, W) (lower: more diverse) and the
    mean over pixels of their per-pixel standard deviation."""
    k = len(samples)
    pairs = [psnr(samples[a], samples[b]) for a in range(k) for b in range(a + 1, k)]
    return {"pairwise_psnr_db": round(float(np.mean(pairs)), 3) if pairs else float("nan"),
            "pixel_std": round(float(samples.std(axis=0).mean()), 5)}


def evaluate_conditional(model: ConditionalRestorer, degradation: str, images: dict[str, np.ndarray],
                         steps: tuple[int, ...] = (25,), samples: int = 4, seed: int = 0, device: str = "cpu",
                         baselines: bool = True, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Quality of ``model`` on ``images`` (name -> clean HxWx3 float in [0, 1], sides a
    multiple of the scale) degraded by ``degradation`` (image ``i`` of the sorted set
    with ``default_rng(seed + i)``, as ``edgezoo.zoo.evaluate`` degrades). Per step
    count: the mean PSNR/SSIM of sample 0, of the mean of ``samples`` samples, and
    their diversity; the predictor alone; the degraded input (same-size problems) and
    the degradation's classical baselines. Returns means and per-image figures."""
    from edgezoo.runtimes.samplers import scheduler_from_dict
    from edgezoo.runtimes.serving import serve
    from edgezoo.tasks.conditional import sampler_program
    from edgezoo.zoo.baselines import CONDITIONAL_BASELINES

    cfg = model.cfg
    predict, denoise = torch_components(model, device)
    program = sampler_program(cfg)
    table: dict[str, dict[str, list[float]]] = {}

    def add(row: str, name: str, clean: np.ndarray, result: np.ndarray) -> None:
        result = np.clip(result, 0.0, 1.0)
        entry = table.setdefault(row, {"psnr_db": [], "ssim": [], "images": []})
        entry["psnr_db"].append(psnr(clean, result))
        entry["ssim"].append(ssim(clean, result))
        entry["images"].append(name)

    def served(fn: Callable[[np.ndarray], np.ndarray], degraded: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(degraded.transpose(2, 0, 1)[None], np.float32)
        # same-size problems take the runtime's padding to the model's multiple; x4 inputs need none
        out = serve(fn, batch, cfg.multiple_of) if cfg.scale == 1 else fn(batch)
        return out[0].transpose(1, 2, 0)

    extra: dict[str, list[float]] = {}
    for i, (name, clean) in enumerate(sorted(images.items())):
        degraded, info = CONDITIONAL_DEGRADATIONS[degradation](clean, np.random.default_rng(seed + i))
        if degraded.shape == clean.shape:
            add("degraded", name, clean, degraded)
        if baselines:
            for label, baseline in CONDITIONAL_BASELINES[degradation].items():
                add(label, name, clean, baseline(degraded, info))
        add("predictor", name, clean, served(lambda b: refine(predict, denoise, None, b, 1.0)[0], degraded))
        for n in steps:
            scheduler = scheduler_from_dict(program, n)
            kept: dict[str, np.ndarray] = {}

            def run(batch: np.ndarray) -> np.ndarray:
                _, restored = refine(predict, denoise, scheduler, batch, cfg.residual_scale, samples, seed + i,
                                     batch=samples)
                kept["samples"] = restored
                return np.concatenate([restored[:1], restored.mean(axis=0, keepdims=True)], axis=1)

            both = served(run, degraded)
            add(f"sample@{n}", name, clean, both[..., :3])
            add(f"mean{samples}@{n}", name, clean, both[..., 3:])
            for key, value in diversity(kept["samples"]).items():
                extra.setdefault(f"{key}@{n}", []).append(value)
        if progress:
            progress(f"{degradation}: {name} predictor {table['predictor']['psnr_db'][-1]:.2f} dB")
    means = {row: {"psnr_db": round(float(np.mean(v["psnr_db"])), 3), "ssim": round(float(np.mean(v["ssim"])), 4)}
             for row, v in table.items()}
    return {"degradation": CONDITIONAL_DEGRADATIONS[degradation].label, "seed": seed, "samples": samples,
            "images": sorted(images), "mean": means,
            "diversity": {k: round(float(np.mean(v)), 4) for k, v in extra.items()},
            "per_image": {row: {n: round(p, 3) for n, p in zip(v["images"], v["psnr_db"])} for row, v in table.items()}}


__all__ = ["ConditionalRecipe", "PHASES", "PatchPairs", "TrainingPhase", "diversity", "evaluate_conditional", "load_model",
           "PrefetchedPairs", "phase_dir", "residual_target", "student_from_teacher", "torch_components", "train_phase", "weights_path"]
