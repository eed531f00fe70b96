"""The zoo's training recipe for restoration models: resumable, seeded, checkpointed.

``edgezoo train MODEL --images DIR`` runs it. Every ``checkpoint_every`` steps the full
state (model, optimizer, step, random states) goes to ``OUT/MODEL/last.pt``; the weights
that score best on held-out training-pool photos go to ``OUT/MODEL/best.safetensors``.
Evaluation photos are never seen here. Each task's inputs are synthesized from the clean
patches: Gaussian noise of sigma drawn in [0, ``sigma_max``] for denoising, the task's
seeded degradation (:data:`edgezoo.zoo.degradations.DEGRADATIONS`) for the others.

By default every step cuts fresh patches. With ``--reweight eg``, ``--target-corruption``
or ``--pool-patches`` the run trains instead on a fixed pool of patches drawn once
(:func:`edgezoo.zoo.data.draw_pool`), visited in seeded epochs, so that each example has
an identity: a share of their targets can be corrupted, and each can carry an
exponentiated-gradient weight (:class:`edgezoo.zoo.reweighting.ExampleWeights`) that is
saved in the checkpoint.
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

from edgezoo.errors import BadInputError
from edgezoo.files import atomic_path, atomic_write_text, sha256_file
from edgezoo.metrics import psnr
from edgezoo.zoo.data import ExamplePool, GaussianNoise, PatchSampler, draw_pool, load_named_photo_pool, swap_targets
from edgezoo.zoo.registry import create_model, get_entry
from edgezoo.zoo.reweighting import REWEIGHT_METHODS, ExampleWeights
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
    photo_shrink: int = 2  # photos are shrunk by this factor before patches are cut (the scale patches see)
    threads: int | None = None
    init_from: str | None = None
    device: str = "cpu"
    pool_patches: int | None = None  # a fixed pool of this many patches (None: fresh ones each step, see pool_size)
    target_corruption: float = 0.0  # share of the pool's targets swapped for another example's patch
    reweight: str = "none"  # "eg": exponentiated-gradient weights on the pool's examples
    eg_lr: float = 0.5
    extra: dict = field(default_factory=dict)


# The pool's size when --reweight eg or --target-corruption asks for one and --pool-patches is not given
DEFAULT_POOL_PATCHES = 4096


def pool_size(cfg: TrainConfig) -> int | None:
    """How many fixed examples the run trains on; None when it cuts fresh patches every step."""
    if cfg.pool_patches is not None:
        return cfg.pool_patches
    return DEFAULT_POOL_PATCHES if cfg.reweight != "none" or cfg.target_corruption else None


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


def photo_record(files: list[Path], holdout_photos: int) -> list[dict[str, str]]:
    """The run's photo pool in its order, each file by the sha256 of its bytes and its
    role (the last ``holdout_photos`` only choose the checkpoint)."""
    first_held_out = len(files) - holdout_photos
    return [{"file": path.name, "sha256": sha256_file(path), "role": "train" if i < first_held_out else "held-out"}
            for i, path in enumerate(files)]


def _degrade_denoise(cfg: TrainConfig) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = rng.uniform(0, cfg.sigma_max, size=(clean.shape[0], 1, 1, 1)).astype(np.float32)
        return clean + rng.standard_normal(clean.shape).astype(np.float32) * sigma / 255.0

    return degrade


def _degrade_by_registry(task: str) -> Callable[[TrainConfig], Callable[[np.ndarray, np.random.Generator], np.ndarray]]:
    """The recipe's degradation for ``task`` from :data:`edgezoo.zoo.degradations.DEGRADATIONS`:
    each patch of an NCHW batch degraded in turn, its parameters drawn from the task's ranges."""
    from edgezoo.zoo.degradations import DEGRADATIONS as TASK_DEGRADATIONS

    degradation = TASK_DEGRADATIONS[task]

    def factory(cfg: TrainConfig) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
        def degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return np.stack([degradation(patch.transpose(1, 2, 0), rng)[0].transpose(2, 0, 1)
                             for patch in clean]).astype(np.float32)

        return degrade

    return factory


# denoising keeps its own batch-wise noise (its random draws, and so its runs, are unchanged);
# the other restoration tasks degrade patch by patch through the registry
DEGRADATIONS: dict[str, Callable[[TrainConfig], Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "denoise": _degrade_denoise,
    **{task: _degrade_by_registry(task) for task in ("deblur", "derain", "dehaze", "enhance")},
}


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3, per_example: bool = False) -> torch.Tensor:
    error = torch.sqrt((pred - target) ** 2 + eps**2)
    return error.mean(dim=tuple(range(1, error.dim()))) if per_example else error.mean()


def multiscale_loss(outputs: list[list[torch.Tensor]], clean: torch.Tensor, per_example: bool = False) -> torch.Tensor:
    """Charbonnier over every stage and supervision scale (outputs are coarse to fine):
    a scalar, or one loss per example of the batch with ``per_example``."""
    total = clean.new_zeros(clean.shape[:1] if per_example else ())
    for stage in outputs:
        for out in stage:
            factor = clean.shape[-1] // out.shape[-1]
            target = F.avg_pool2d(clean, factor) if factor > 1 else clean
            total = total + charbonnier(out, target, per_example=per_example)
    return total


class _FreshPatches:
    """Fresh random patches every step (the default recipe): each is its own target."""

    state_key = "sampler_rng"

    def __init__(self, sampler: PatchSampler) -> None:
        self.sampler = sampler

    def draw(self, size: int) -> tuple[np.ndarray, np.ndarray, None]:
        clean = self.sampler.batch(size)
        return clean, clean, None

    def state(self) -> dict:
        return self.sampler.rng.bit_generator.state

    def load(self, state: dict) -> None:
        self.sampler.rng.bit_generator.state = state


class _PoolPatches:
    """The examples of a fixed pool in seeded epochs (a permutation each; the remainder
    that does not fill a batch waits for the next epoch), so a batch's indices are distinct."""

    state_key = "example_order"

    def __init__(self, pool: ExamplePool, seed: int) -> None:
        self.pool, self.rng = pool, np.random.default_rng(seed)
        self.order, self.position = np.empty(0, dtype=np.int64), 0

    def draw(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.position + size > len(self.order):
            self.order, self.position = self.rng.permutation(len(self.pool)), 0
        index = self.order[self.position:self.position + size]
        self.position += size
        return (self.pool.clean[index].astype(np.float32) / 255.0, self.pool.targets[index].astype(np.float32) / 255.0,
                index)

    def state(self) -> dict:  # the order array is replaced, never changed in place, so no copy is needed
        return {"rng": self.rng.bit_generator.state, "order": self.order, "position": self.position}

    def load(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order, self.position = np.asarray(state["order"]), int(state["position"])


class _BatchStream:
    """(target, noisy, example indices) training batches made ahead by one thread, so an
    accelerator is not left waiting on numpy. The batches are the same as made inline; each
    carries the source's and the noise's states *after* it was drawn, so a checkpoint taken
    after consuming it resumes exactly there."""

    def __init__(self, source: _FreshPatches | _PoolPatches, noise_rng: np.random.Generator, degrade: Callable,
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
                    clean, target, index = source.draw(batch)
                    noisy = degrade(clean, noise_rng)
                    if not offer((target, noisy, index, (source.state(), noise_rng.bit_generator.state))):
                        return
            except Exception as exc:  # handed to the consumer, which would otherwise wait forever
                offer(exc)

        self._thread = threading.Thread(target=produce, name="edgezoo-batches", daemon=True)
        self._thread.start()

    def next(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[dict, dict]]:
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


def _task_validation_set(pool: list[np.ndarray], seed: int, task: str, patch: int = 128,
                         count: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Held-out (clean, degraded) patches for a task other than denoising: the patches
    :func:`_validation_set` cuts, degraded by the task's registry degradation
    (parameters drawn per patch, seeded)."""
    from edgezoo.zoo.degradations import DEGRADATIONS as TASK_DEGRADATIONS

    clean = PatchSampler(pool, patch, seed=seed + 1000).batch(count)
    rng = np.random.default_rng(seed + 2000)
    degraded = np.stack([TASK_DEGRADATIONS[task](c.transpose(1, 2, 0), rng)[0].transpose(2, 0, 1) for c in clean])
    return clean, degraded.astype(np.float32)


def validation_key(task: str) -> str:
    """The log record's name for the held-out PSNR (denoising's says its sigma)."""
    return "val_psnr_sigma25" if task == "denoise" else "val_psnr"


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
    if cfg.reweight not in REWEIGHT_METHODS:
        raise BadInputError(f"--reweight takes {', '.join(REWEIGHT_METHODS)}, not {cfg.reweight!r}")
    examples = pool_size(cfg)
    if examples is not None and examples < cfg.batch:
        raise BadInputError(f"--pool-patches ({examples}) must hold at least one batch ({cfg.batch})")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out) / cfg.model
    run_dir.mkdir(parents=True, exist_ok=True)
    last, best = run_dir / "last.pt", run_dir / "best.safetensors"

    named = load_named_photo_pool(cfg.images, shrink=cfg.photo_shrink)
    photos = [photo for _, photo in named]
    train_pool, held_out = photos[: -cfg.holdout_photos], photos[-cfg.holdout_photos :]
    val_clean, val_noisy = (_validation_set(held_out, cfg.seed) if entry.task == "denoise"
                            else _task_validation_set(held_out, cfg.seed, entry.task))
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model = create_model(cfg.model, pretrained=False).train()
    if cfg.init_from:
        load_weights(model, cfg.init_from)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    pool, pool_digest, example_weights = None, None, None
    if examples is None:
        source: _FreshPatches | _PoolPatches = _FreshPatches(PatchSampler(train_pool, cfg.patch, seed=cfg.seed))
    else:
        # drawn with the seed the fresh-patch sampler would use; corrupted and visited with their own
        pool = swap_targets(draw_pool(train_pool, cfg.patch, examples, seed=cfg.seed), cfg.target_corruption,
                            seed=cfg.seed + 3000)
        pool_digest = pool.digest()
        source = _PoolPatches(pool, seed=cfg.seed + 4000)
        if cfg.reweight == "eg":
            example_weights = ExampleWeights(len(pool), cfg.eg_lr)
    noise_rng = np.random.default_rng(cfg.seed + 1)
    degrade = DEGRADATIONS[entry.task](cfg)
    step, best_val = 0, -float("inf")
    if resume and last.is_file():
        state = torch.load(last, weights_only=False, map_location=device)
        if source.state_key not in state or (pool is not None and state.get("pool_digest") != pool_digest):
            raise BadInputError(f"{last} was made with other training examples (another --reweight, --pool-patches, "
                                "--target-corruption, --patch, --seed or photos): resume with those, or --no-resume")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        source.load(state[source.state_key])
        noise_rng.bit_generator.state = state["noise_rng"]
        if example_weights is not None:
            if state.get("example_weights") is None:
                raise BadInputError(f"{last} has no example weights (it trained without --reweight eg): use --no-resume")
            example_weights.load(state["example_weights"])
            example_weights.eta = cfg.eg_lr  # the step size is the run's option, the weights are the state
        step, best_val = state["step"], state["best_val"]
        log(f"resumed {cfg.model} at step {step} (best held-out PSNR {best_val:.2f} dB)")
    atomic_write_text(run_dir / "config.json", json.dumps(
        {**asdict(cfg), "command": train_command(cfg), "code_commit": code_commit(),
         "photos": photo_record([path for path, _ in named], cfg.holdout_photos)}, indent=2))

    rng_states = (source.state(), noise_rng.bit_generator.state)

    def checkpoint() -> None:
        extra = {} if pool is None else {
            "pool_digest": pool_digest, "corrupted": pool.corrupted,
            "example_weights": example_weights.state() if example_weights is not None else None,
        }
        with atomic_path(last) as tmp:
            torch.save({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "best_val": best_val, source.state_key: rng_states[0], "noise_rng": rng_states[1],
                "config": asdict(cfg), **extra,
            }, tmp)

    started, losses = time.time(), []
    batches = _BatchStream(source, noise_rng, degrade, cfg.batch, max(0, cfg.steps - step))
    try:
        with open(run_dir / "log.jsonl", "a") as log_file:
            while step < cfg.steps:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, step)
                target, noisy, index, rng_states = batches.next()
                target_t, noisy_t = torch.from_numpy(target).to(device), torch.from_numpy(noisy).to(device)
                if pool is None:
                    loss = multiscale_loss(model.forward_all(noisy_t), target_t)
                else:
                    per_example = multiscale_loss(model.forward_all(noisy_t), target_t, per_example=True)
                    if example_weights is None:
                        loss = per_example.mean()
                    else:  # the model steps on the weighted loss, then the weights step on the losses
                        weights = torch.from_numpy(example_weights.batch(index)).to(per_example)
                        loss = (per_example * weights).mean()
                        example_weights.update(index, per_example.detach().cpu().numpy())
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
                    record = {"step": step, "loss": torch.stack(losses).mean().item(), validation_key(entry.task): val,
                              "lr": learning_rate(cfg, step), "seconds": round(time.time() - started, 1)}
                    if example_weights is not None:
                        record["effective_examples"] = round(example_weights.effective_count(), 1)
                        if pool.corrupted.any():
                            w = example_weights.weights
                            record["weight_corrupted_to_clean"] = round(
                                float(w[pool.corrupted].mean() / w[~pool.corrupted].mean()), 4)
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
