"""The zoo's training recipe for restoration models: resumable, seeded, checkpointed.

``edgezoo train MODEL --images DIR`` runs it. Every ``checkpoint_every`` steps the full
state (model, optimizer, step, random states) goes to ``OUT/MODEL/last.pt``; the weights
that score best on held-out training-pool photos go to ``OUT/MODEL/best.safetensors``.
Evaluation photos are never seen here.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from edgezoo.files import atomic_path
from edgezoo.metrics import psnr
from edgezoo.zoo.data import GaussianNoise, PatchSampler, load_photo_pool
from edgezoo.zoo.registry import create_model, get_entry
from edgezoo.zoo.weights import load_weights, save_weights


@dataclass
class TrainConfig:
    """Every option of a training run; each is an ``edgezoo train`` option of the same
    name (``extra["lineage"]`` is ``--lineage``), so :func:`train_command` replays a run."""

    model: str
    images: list[str]
    out: str = "runs"
    steps: int = 20000
    batch: int = 16
    patch: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-5
    warmup: int = 200
    sigma_max: float = 50.0
    seed: int = 0
    checkpoint_every: int = 200
    val_every: int = 500
    holdout_photos: int = 2
    threads: int | None = None
    init_from: str | None = None
    device: str = "cpu"
    extra: dict = field(default_factory=dict)


# TrainConfig fields that are not replayed as a command-line option of the same name
_NOT_OPTIONS = ("model", "images", "extra")


def train_command(cfg: TrainConfig, images: str | None = None) -> str:
    """The ``edgezoo train`` command line that runs ``cfg`` again, every option spelled
    out (``images`` replaces the photo folders, e.g. by ``DIR`` in a recipe)."""
    import shlex

    parts = ["edgezoo", "train", cfg.model]
    for folder in ([images] if images else cfg.images):
        parts += ["--images", folder]
    for name, value in asdict(cfg).items():
        if name in _NOT_OPTIONS or value is None:
            continue
        parts += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    if cfg.extra.get("lineage"):
        parts += ["--lineage", str(cfg.extra["lineage"])]
    return " ".join(shlex.quote(p) if p != images else p for p in parts)


def code_commit() -> str | None:
    """``git rev-parse HEAD`` of the edgezoo source tree, with ``-dirty`` when it has
    uncommitted changes; None outside a git checkout."""
    import subprocess

    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _degrade_denoise(cfg: TrainConfig) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = rng.uniform(0, cfg.sigma_max, size=(clean.shape[0], 1, 1, 1)).astype(np.float32)
        return clean + rng.standard_normal(clean.shape).astype(np.float32) * sigma / 255.0

    return degrade


DEGRADATIONS: dict[str, Callable[[TrainConfig], Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "denoise": _degrade_denoise,
}


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((pred - target) ** 2 + eps**2).mean()


def multiscale_loss(outputs: list[list[torch.Tensor]], clean: torch.Tensor) -> torch.Tensor:
    """Charbonnier over every stage and supervision scale (outputs are coarse to fine)."""
    total = clean.new_zeros(())
    for stage in outputs:
        for out in stage:
            factor = clean.shape[-1] // out.shape[-1]
            target = F.avg_pool2d(clean, factor) if factor > 1 else clean
            total = total + charbonnier(out, target)
    return total


class _BatchStream:
    """(clean, noisy) training batches made ahead by one thread, so an accelerator is not left
    waiting on numpy. The batches are the same as made inline; each carries the random states
    *after* it was drawn, so a checkpoint taken after consuming it resumes exactly there."""

    def __init__(self, sampler: PatchSampler, noise_rng: np.random.Generator, degrade: Callable,
                 batch: int, count: int, depth: int = 4) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()

        def offer(item: object) -> bool:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for _ in range(count):
                    clean = sampler.batch(batch)
                    noisy = degrade(clean, noise_rng)
                    if not offer((clean, noisy, (sampler.rng.bit_generator.state, noise_rng.bit_generator.state))):
                        return
            except Exception as exc:  # handed to the consumer, which would otherwise wait forever
                offer(exc)

        self._thread = threading.Thread(target=produce, name="edgezoo-batches", daemon=True)
        self._thread.start()

    def next(self) -> tuple[np.ndarray, np.ndarray, tuple[dict, dict]]:
        item = self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def learning_rate(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def _validation_set(pool: list[np.ndarray], seed: int, patch: int = 128, count: int = 24) -> tuple[np.ndarray, np.ndarray]:
    sampler = PatchSampler(pool, patch, seed=seed + 1000)
    clean = sampler.batch(count)
    noisy = GaussianNoise(25)(clean, np.random.default_rng(seed + 2000))
    return clean, noisy


@torch.no_grad()
def _validate(model: torch.nn.Module, clean: np.ndarray, noisy: np.ndarray) -> float:
    model.eval()
    device = next(model.parameters()).device
    restored = torch.cat([model(torch.from_numpy(noisy[i : i + 8]).to(device)).cpu() for i in range(0, len(noisy), 8)])
    model.train()
    return psnr(clean, restored.clamp(0, 1).numpy())


def train(cfg: TrainConfig, resume: bool = True, log: Callable[[str], None] = print) -> Path:
    """Run (or resume) training; return the path of the best weights."""
    entry = get_entry(cfg.model)
    if entry.task not in DEGRADATIONS:
        raise NotImplementedError(f"no training recipe for task '{entry.task}' yet")
    if cfg.patch % entry.input_spec.multiple_of:
        raise ValueError(f"--patch must be a multiple of {entry.input_spec.multiple_of} for {cfg.model}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out) / cfg.model
    run_dir.mkdir(parents=True, exist_ok=True)
    last, best = run_dir / "last.pt", run_dir / "best.safetensors"

    pool = load_photo_pool(cfg.images)
    train_pool, held_out = pool[: -cfg.holdout_photos], pool[-cfg.holdout_photos :]
    val_clean, val_noisy = _validation_set(held_out, cfg.seed)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model = create_model(cfg.model, pretrained=False).train()
    if cfg.init_from:
        load_weights(model, cfg.init_from)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sampler = PatchSampler(train_pool, cfg.patch, seed=cfg.seed)
    noise_rng = np.random.default_rng(cfg.seed + 1)
    degrade = DEGRADATIONS[entry.task](cfg)
    step, best_val = 0, -float("inf")
    if resume and last.is_file():
        state = torch.load(last, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.rng.bit_generator.state = state["sampler_rng"]
        noise_rng.bit_generator.state = state["noise_rng"]
        step, best_val = state["step"], state["best_val"]
        log(f"resumed {cfg.model} at step {step} (best held-out PSNR {best_val:.2f} dB)")
    (run_dir / "config.json").write_text(json.dumps(
        {**asdict(cfg), "command": train_command(cfg), "code_commit": code_commit()}, indent=2))

    rng_states = (sampler.rng.bit_generator.state, noise_rng.bit_generator.state)

    def checkpoint() -> None:
        with atomic_path(last) as tmp:
            torch.save({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "best_val": best_val, "sampler_rng": rng_states[0], "noise_rng": rng_states[1],
                "config": asdict(cfg),
            }, tmp)

    started, losses = time.time(), []
    batches = _BatchStream(sampler, noise_rng, degrade, cfg.batch, max(0, cfg.steps - step))
    try:
        with open(run_dir / "log.jsonl", "a") as log_file:
            while step < cfg.steps:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, step)
                clean, noisy, rng_states = batches.next()
                clean_t, noisy_t = torch.from_numpy(clean).to(device), torch.from_numpy(noisy).to(device)
                loss = multiscale_loss(model.forward_all(noisy_t), clean_t)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                losses.append(loss.detach())  # no per-step sync with an accelerator
                step += 1
                record = None
                if step % cfg.val_every == 0 or step == cfg.steps:
                    val = _validate(model, val_clean, val_noisy)
                    if val > best_val:
                        best_val = val
                        save_weights(model, best, {"model": cfg.model, "step": str(step), "heldout_psnr": f"{val:.3f}"})
                    record = {"step": step, "loss": torch.stack(losses).mean().item(), "val_psnr_sigma25": val,
                              "lr": learning_rate(cfg, step), "seconds": round(time.time() - started, 1)}
                    log(json.dumps(record))
                    losses.clear()
                if record:
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    checkpoint()
    finally:
        batches.close()
    return best
