"""The zoo's training recipe for classifiers: seeded, checkpointed each epoch, resumable
exactly; the checkpoint kept is the one with the best accuracy on the selection split."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from edgezoo.files import atomic_path
from edgezoo.zoo.registry import create_model
from edgezoo.zoo.reweighting import REWEIGHT_METHODS, ExampleWeights
from edgezoo.zoo.weights import save_weights


@dataclass
class ClassifierTrainConfig:
    model: str
    out: str = "runs"
    epochs: int = 20
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    seed: int = 0
    threads: int | None = None
    run_name: str | None = None  # the run's folder under ``out`` (default: the model's name)
    reweight: str = "none"  # "eg": exponentiated-gradient example reweighting (edgezoo.zoo.reweighting)
    eg_lr: float = 0.5
    overrides: dict = field(default_factory=dict)  # config fields changed from the registered variant


def augment(images: np.ndarray, rng: np.random.Generator, pad: int = 2) -> np.ndarray:
    """Random shifts of up to ``pad`` pixels (zero border) and horizontal flips."""
    n, h, w = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    ys, xs = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    out = np.stack([padded[i, ys[i]:ys[i] + h, xs[i]:xs[i] + w] for i in range(n)])
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][:, :, ::-1]
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)[:, None] / 255.0)


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        correct += int((model(to_tensor(images[i:i + batch])).argmax(1).numpy() == labels[i:i + batch]).sum())
    return 100.0 * correct / len(images)


def train_classifier(
    cfg: ClassifierTrainConfig, data: dict[str, tuple[np.ndarray, np.ndarray]], log: Callable[[str], None] = print,
) -> dict:
    """Train ``cfg.model`` on ``data['train']``, choosing the epoch on ``data['selection']``.

    Writes ``OUT/MODEL/last.pt`` (full state, for resuming), ``best.safetensors`` and
    ``log.jsonl``, and tells ``log`` each epoch's record once its checkpoint is on disk;
    returns the summary."""
    if cfg.reweight not in REWEIGHT_METHODS:
        raise ValueError(f"--reweight takes {', '.join(REWEIGHT_METHODS)}, not {cfg.reweight!r}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.out) / (cfg.run_name or cfg.model)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, pretrained=False, **cfg.overrides).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    images, labels = data["train"]
    steps_per_epoch = len(images) // cfg.batch
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    rng = np.random.default_rng(cfg.seed)
    epoch, best = 0, -1.0
    example_weights = ExampleWeights(len(images), cfg.eg_lr) if cfg.reweight == "eg" else None
    last = run / "last.pt"
    if last.is_file():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, best = state["epoch"], state["best"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if example_weights is not None:
            example_weights.load(state["example_weights"])
    while epoch < cfg.epochs:
        started = time.time()
        model.train()
        order = rng.permutation(len(images))
        losses = []
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            lr = cfg.lr * (step + 1) / warmup if step < warmup else \
                cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[i * cfg.batch:(i + 1) * cfg.batch]
            x, y = to_tensor(augment(images[idx], rng)), torch.from_numpy(labels[idx])
            per_example = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing, reduction="none")
            if example_weights is None:
                loss = per_example.mean()
            else:  # the model steps on the weighted loss, then the weights step on the losses
                loss = (per_example * torch.from_numpy(example_weights.batch(idx)).float()).mean()
                example_weights.update(idx, per_example.detach().numpy())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        epoch += 1
        selection = accuracy(model, *data["selection"])
        if selection > best:
            best = selection
            save_weights(model, run / "best.safetensors", metadata={"model": cfg.model, "epoch": str(epoch)})
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "selection_top1": selection,
                  "best_selection_top1": best, "seconds": round(time.time() - started, 1)}
        if example_weights is not None:
            record["effective_examples"] = round(example_weights.effective_count(), 1)
        with atomic_path(last) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "best": best, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "config": asdict(cfg),
                        "example_weights": example_weights.state() if example_weights is not None else None}, tmp)
        with open(run / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        log(json.dumps(record))
    summary = {"epochs": epoch, "best_selection_top1": best, "run": str(run)}
    if example_weights is not None:
        summary["example_weights"] = example_weights.weights
    return summary


def best_checkpoint_accuracy(summary: dict, model: str, overrides: dict, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 (%) on ``images`` of the run's selection-chosen checkpoint (``best.safetensors``)."""
    from edgezoo.zoo.weights import load_weights

    net = create_model(model, pretrained=False, **overrides)
    load_weights(net, Path(summary["run"]) / "best.safetensors")
    return accuracy(net, images, labels)
