"""The zoo's training recipe for diffusion denoisers on Fashion-MNIST padded to 32x32:
Gaussian diffusion (ε or v prediction) and Soft Diffusion (blur + noise, x0 prediction,
the Soft Score Matching loss), plus progressive distillation of a Gaussian model into a
few-step student. The forward processes are the runtime's own (``edgezoo.runtimes.samplers``:
the schedules are data there; here they become tensors).

Every random draw of step k comes from generators seeded by (seed, k) alone (images,
flips and timesteps from ``numpy.random.default_rng([seed, k])``, the noise from a
torch generator on the training device), so a run resumed from its checkpoint at step k
continues exactly as the uninterrupted run would (on the same device and precision).
Each run records its compute: steps, images seen, training FLOPs (3 x a forward pass,
counted by PyTorch) and device-seconds on the device it ran on."""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from edgezoo.files import atomic_path
from edgezoo.runtimes.samplers import BlurSchedule, NoiseSchedule, dct_matrix, heat_attenuation, spaced_timesteps
from edgezoo.tasks.generate import blur_schedule
from edgezoo.zoo.registry import get_entry

SIDE = 32
PRIOR_BLOCK = 3  # the lowest k x k DCT coefficients that survive the last blur: the prior fitted to them


@dataclass
class DiffusionRecipe:
    steps: int = 4000
    batch: int = 128
    lr: float = 2e-4
    warmup: int = 200
    ema: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    max_seconds: float | None = None  # stop early (the record says so) when the device time is up


def padded_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 32, 32) in [-1, 1], zero (black, -1) border."""
    pad = (SIDE - images.shape[-1]) // 2
    out = np.full((len(images), 1, SIDE, SIDE), -1.0, np.float32)
    out[:, 0, pad:pad + images.shape[-2], pad:pad + images.shape[-1]] = images.astype(np.float32) / 127.5 - 1.0
    return out


def blur_prior(images: np.ndarray, schedule: BlurSchedule, block: int = PRIOR_BLOCK) -> tuple[list[float], list[float]]:
    """(mean, std) of the lowest ``block`` x ``block`` DCT coefficients of C_{T-1} x0 over
    ``images`` (float (N, 1, H, W) in [-1, 1]), row-major: the Soft Diffusion prior."""
    height, width = images.shape[-2:]
    dh, dw = dct_matrix(height), dct_matrix(width)
    coeffs = dh @ images[:, 0].astype(np.float64) @ dw.T
    coeffs *= heat_attenuation(height, width, schedule.blur(schedule.train_steps - 1))
    low = coeffs[:, :block, :block].reshape(len(images), -1)
    return [round(float(v), 5) for v in low.mean(0)], [round(float(v), 5) for v in low.std(0)]


class Corruption:
    """The forward process of a config as tensors on ``device``: ``corrupt(x0, t, noise)``
    and ``loss(model, x0, t, noise)`` for Gaussian (ε or v target) or soft diffusion."""

    def __init__(self, config: Any, device: torch.device) -> None:
        self.process = getattr(config, "process", "gaussian")
        self.prediction = config.prediction
        self.device = device
        if self.process == "soft":
            self.blur = blur_schedule(config)
            steps = self.blur.train_steps
            gains = np.stack([heat_attenuation(SIDE, SIDE, self.blur.blur(t)) for t in range(steps)])
            self.gains = torch.tensor(gains, dtype=torch.float32, device=device)
            self.noise = torch.tensor([self.blur.noise(t) for t in range(steps)], dtype=torch.float32, device=device)
            self.dct = torch.tensor(dct_matrix(SIDE), dtype=torch.float32, device=device)
        else:
            schedule = NoiseSchedule(kind=config.schedule, train_steps=config.train_steps)
            abar = torch.tensor(schedule.alphas_cumprod(), dtype=torch.float32, device=device)
            self.alpha, self.sigma = abar.sqrt(), (1 - abar).sqrt()

    def _dct(self, x: torch.Tensor) -> torch.Tensor:
        return self.dct @ x @ self.dct.T

    def blur_at(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.dct.T @ (self._dct(x) * self.gains[t][:, None]) @ self.dct

    def corrupt(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.process == "soft":
            return self.blur_at(x0, t) + self.noise[t].view(-1, 1, 1, 1) * noise
        return self.alpha[t].view(-1, 1, 1, 1) * x0 + self.sigma[t].view(-1, 1, 1, 1) * noise

    def loss(self, model: torch.nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x_t = self.corrupt(x0, t, noise)
        out = model(x_t, t.float()).float()
        if self.process == "soft":
            # Soft Score Matching: the predicted clean image is corrupted before it is compared,
            # in the DCT basis, where the blur is a gain per coefficient (orthonormal: same L2)
            return ((self._dct(out - x0) * self.gains[t][:, None]) ** 2).mean()
        if self.prediction == "v":
            target = self.alpha[t].view(-1, 1, 1, 1) * noise - self.sigma[t].view(-1, 1, 1, 1) * x0
        else:
            target = noise
        return F.mse_loss(out, target)


def batch_draw(seed: int, step: int, count: int, batch: int, train_steps: int,
               device: torch.device) -> tuple[torch.Tensor, ...]:
    """Step ``step``'s (indices, flips, timesteps, noise) on ``device``: a function of
    (seed, step) only. The noise is drawn on the device (a host draw and copy would cost
    as much as a small model's step)."""
    rng = np.random.default_rng([seed, step])
    index = rng.integers(0, count, batch)
    flip = rng.random(batch) < 0.5
    t = rng.integers(0, train_steps, batch)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(np.random.default_rng([seed, step, 1]).integers(2 ** 62)))
    noise = torch.randn((batch, 1, SIDE, SIDE), generator=generator, device=device)
    return (torch.from_numpy(index).to(device), torch.from_numpy(flip).to(device).view(-1, 1, 1, 1),
            torch.from_numpy(t).to(device), noise)


def forward_flops(model: torch.nn.Module, device: torch.device) -> int:
    """FLOPs of one forward pass at batch 1, as PyTorch's counter sees them."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, SIDE, SIDE, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, torch.zeros(1, device=device))
    return int(counter.get_total_flops())


def _lr(recipe: DiffusionRecipe, step: int) -> float:
    return recipe.lr * min(1.0, (step + 1) / max(1, recipe.warmup))


def _update(opt: torch.optim.Optimizer, net: torch.nn.Module, ema: torch.nn.Module, loss: torch.Tensor,
            recipe: DiffusionRecipe, step: int) -> None:
    """One optimizer step at the recipe's learning rate for ``step`` (clipped gradients),
    then the EMA, whose decay ramps up over the first steps so that it follows early."""
    for group in opt.param_groups:
        group["lr"] = _lr(recipe, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
    opt.step()
    with torch.no_grad():
        decay = min(recipe.ema, (1 + step) / (10 + step))
        for e, p in zip(ema.parameters(), net.parameters()):
            e.lerp_(p, 1 - decay)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def train_diffusion(model_name: str, images: np.ndarray, run: str | Path, recipe: DiffusionRecipe,
                    device: str = "cpu", log: Callable[[str], None] = print, model: torch.nn.Module | None = None) -> dict:
    """Train ``model_name``'s denoiser on ``images`` (uint8 (N, 28, 28), the training split)
    into ``run``: ``last.pt`` (everything needed to resume), ``ema.safetensors`` (the EMA
    weights, the ones that ship), ``log.jsonl``; resumes from ``last.pt`` when present.
    Returns the run's record (recipe, compute, final loss)."""
    from edgezoo.zoo.weights import save_weights

    entry = get_entry(model_name)
    dev = torch.device(device)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    net = (model or entry.build()).to(dev)
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=0.0, fused=dev.type == "cuda")
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    corruption = Corruption(entry.config, dev)
    data = torch.from_numpy(padded_images(images)).to(dev)
    start, spent, losses = 0, 0.0, []
    last = run / "last.pt"
    if last.is_file():
        state = torch.load(last, map_location=dev, weights_only=False)
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start, spent = state["step"], state["seconds"]
        log(f"{model_name}: resuming at step {start}")
    flops = forward_flops(net, dev)
    autocast = dev.type == "cuda"

    def checkpoint(step: int) -> None:
        with atomic_path(last) as tmp:
            torch.save({"model": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "step": step, "seconds": spent}, tmp)
        save_weights(ema, run / "ema.safetensors")
        record = {"step": step, "loss": float(np.mean(losses)) if losses else None, "seconds": round(spent, 2)}
        with open(run / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        losses.clear()
        log(f"{model_name}: step {step} loss {record['loss']} ({spent:.0f} s)")

    step = start
    began = time.perf_counter()
    net.train()
    while step < recipe.steps:
        if recipe.max_seconds is not None and spent + (time.perf_counter() - began) >= recipe.max_seconds:
            break
        index, flip, t, noise = batch_draw(recipe.seed, step, len(data), recipe.batch, entry.config.train_steps, dev)
        x0 = data[index]
        x0 = torch.where(flip, x0.flip(-1), x0)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
            loss = corruption.loss(net, x0, t, noise)
        _update(opt, net, ema, loss, recipe, step)
        if (step + 1) % 50 == 0:  # reading the loss waits for the device: not every step
            losses.append(float(loss.detach()))
        step += 1
        if step % recipe.checkpoint_every == 0 or step == recipe.steps:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            spent += time.perf_counter() - began
            began = time.perf_counter()
            checkpoint(step)
    if step % recipe.checkpoint_every and step != recipe.steps:
        spent += time.perf_counter() - began
        checkpoint(step)
    record = {
        "model": model_name, "recipe": asdict(recipe), "steps_done": step, "stopped_early": step < recipe.steps,
        "images_seen": step * recipe.batch, "forward_flops": flops,
        "train_flops": 3 * flops * step * recipe.batch, "device": device_name(dev),
        "device_seconds": round(spent, 1), "precision": "bf16 autocast" if autocast else "fp32",
        "params": sum(p.numel() for p in net.parameters()),
    }
    with atomic_path(run / "record.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return record


# ---- progressive distillation (Salimans & Ho 2022) -----------------------------------

def _ddim_step(model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, alpha: torch.Tensor,
               sigma: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step per row, t -> s, of a v-prediction model (x0 clipped
    to [-1, 1]), as the runtime's DDIMScheduler takes it; rows with s = -1 end on x0."""
    a_t, s_t = alpha[t].view(-1, 1, 1, 1), sigma[t].view(-1, 1, 1, 1)
    out = model(x, t.float()).float()
    x0 = (a_t * x - s_t * out).clamp(-1, 1)
    eps = (x - a_t * x0) / s_t
    clean = (s < 0).view(-1, 1, 1, 1)
    s = s.clamp(min=0)
    return torch.where(clean, x0, alpha[s].view(-1, 1, 1, 1) * x0 + sigma[s].view(-1, 1, 1, 1) * eps)


def distill(teacher: torch.nn.Module, config: Any, images: np.ndarray, run: str | Path, student_steps: list[int],
            steps_per_round: int, recipe: DiffusionRecipe, device: str = "cpu",
            log: Callable[[str], None] = print, max_seconds: float | None = None) -> tuple[torch.nn.Module, dict]:
    """Progressive distillation of a v-prediction Gaussian ``teacher``: for each N in
    ``student_steps`` (e.g. 32, 16, 8, 4), a student initialised from the current
    teacher learns to take in one DDIM step from t to its successor on the N-step grid
    what the teacher takes in two (through the 2N-step grid's midpoint); the student then
    teaches the next round (its EMA). Each round takes ``steps_per_round`` updates or
    ``max_seconds``, whichever ends first. Returns the last student and the run's record."""
    if config.prediction != "v":
        raise ValueError("progressive distillation here trains v-prediction students of v-prediction teachers")
    dev = torch.device(device)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    schedule = NoiseSchedule(kind=config.schedule, train_steps=config.train_steps)
    abar = torch.tensor(schedule.alphas_cumprod(), dtype=torch.float32, device=dev)
    alpha, sigma = abar.sqrt(), (1 - abar).sqrt()
    data = torch.from_numpy(padded_images(images)).to(dev)
    teacher = teacher.to(dev).eval()
    autocast = dev.type == "cuda"
    began, rounds = time.perf_counter(), []
    for r, n in enumerate(student_steps):
        round_began = time.perf_counter()
        student = copy.deepcopy(teacher).train()
        ema = copy.deepcopy(teacher).eval()
        opt = torch.optim.AdamW(student.parameters(), lr=recipe.lr, weight_decay=0.0, fused=dev.type == "cuda")
        grid = torch.tensor(spaced_timesteps(config.train_steps, n).tolist() + [-1], device=dev)
        fine = torch.tensor(spaced_timesteps(config.train_steps, 2 * n).tolist() + [-1], device=dev)
        losses, done = [], 0
        for k in range(steps_per_round):
            if max_seconds is not None and time.perf_counter() - round_began >= max_seconds:
                break
            done = k + 1
            index, flip, i, noise = batch_draw(recipe.seed + 1000 * (r + 1), k, len(data), recipe.batch, n, dev)
            x0 = torch.where(flip, data[index].flip(-1), data[index])
            t, s, mid = grid[i], grid[i + 1], fine[2 * i + 1]
            a_t, s_t = alpha[t].view(-1, 1, 1, 1), sigma[t].view(-1, 1, 1, 1)
            x_t = a_t * x0 + s_t * noise
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                # two teacher steps t -> mid -> s (mid = -1 only when the 2N grid ends first: then one)
                x_mid = _ddim_step(teacher, x_t, t, mid, alpha, sigma)
                x_s = _ddim_step(teacher, x_mid, mid.clamp(min=0), s, alpha, sigma)
                x_s = torch.where((mid < 0).view(-1, 1, 1, 1), x_mid, x_s).float()
            # the x0 from which one DDIM step t -> s lands on the teacher's x_s (x_s itself when s is clean)
            s_pos = s.clamp(min=0)
            ratio = sigma[s_pos].view(-1, 1, 1, 1) / s_t
            x0_target = (x_s - ratio * x_t) / (alpha[s_pos].view(-1, 1, 1, 1) - ratio * a_t)
            x0_target = torch.where((s < 0).view(-1, 1, 1, 1), x_s, x0_target)
            v_target = (a_t * x_t - x0_target) / s_t
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                out = student(x_t, t.float()).float()
            loss = F.mse_loss(out, v_target)
            _update(opt, student, ema, loss, recipe, k)
            if (k + 1) % 50 == 0:
                losses.append(float(loss.detach()))
        rounds.append({"student_steps": n, "teacher_steps": 2 * n, "updates": done,
                       "loss_last": float(np.mean(losses[-4:])) if losses else None})
        log(f"distill: {2 * n} -> {n} steps, {done} updates, loss {rounds[-1]['loss_last']}")
        teacher = ema
    record = {"rounds": rounds, "batch": recipe.batch, "lr": recipe.lr, "ema": recipe.ema,
              "device": device_name(dev), "device_seconds": round(time.perf_counter() - began, 1)}
    with atomic_path(run / "distill.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return teacher, record


__all__ = ["Corruption", "DiffusionRecipe", "batch_draw", "blur_prior", "distill", "padded_images",
           "train_diffusion"]
