"""Ship a trained classifier: its weights into the package, its manifest with top-1
accuracy on the official test images (never used for training or checkpoint choice).

``python scripts/release_weights.py maxvit-tiny-fmnist RUN_DIR`` calls :func:`release_classifier`.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgezoo.files import atomic_write_text, size_bytes
from edgezoo.manifests import PACKAGED_DIR, Manifest
from edgezoo.manifests.schema import Paper, QualityResult, Weights
from edgezoo.zoo.registry import create_model, get_entry
from edgezoo.zoo.weights import WEIGHTS_DIR, load_weights, save_weights

FMNIST_SOURCE = ("Fashion-MNIST (Debian package dataset-fashion-mnist, MIT): 55,000 of the 60,000 training images; "
                 "the other 5,000 (a seeded split) chose the checkpoint")


def _recipe(run_dir: Path) -> tuple[str, int | None, int | None, float | None]:
    """(recipe in words, epoch and optimizer step of the shipped checkpoint, its selection
    accuracy) from the run's log and last checkpoint."""
    log = run_dir / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    best = max(records, key=lambda r: r["selection_top1"], default=None)
    cfg = {}
    last = run_dir / "last.pt"
    if last.is_file():
        import torch

        cfg = torch.load(last, weights_only=False).get("config", {})
    recipe = (f"edgezoo train {run_dir.name} (recipe edgezoo.zoo.train_classifier: {cfg.get('epochs')} epochs planned, "
              f"{len(records)} run, batch {cfg.get('batch')}, AdamW lr {cfg.get('lr')} with warm-up and cosine decay, "
              f"weight decay {cfg.get('weight_decay')}, label smoothing {cfg.get('label_smoothing')}, shifts of up to "
              f"2 px and horizontal flips, seed {cfg.get('seed')})")
    epoch = (best or {}).get("epoch")
    steps = epoch * (55_000 // int(cfg["batch"])) if epoch and cfg.get("batch") else None
    return recipe, epoch, steps, (best or {}).get("selection_top1")


TEST_DATASET = "Fashion-MNIST test (10,000 images)"


def classifier_quality(model: "object", note: str | None = None) -> QualityResult:
    """Top-1 accuracy (%) of ``model`` on the 10,000 official Fashion-MNIST test images."""
    from edgezoo.zoo.fashion_mnist import load_split
    from edgezoo.zoo.train_classifier import accuracy

    top1 = accuracy(model, *load_split("test"))  # type: ignore[arg-type]
    return QualityResult(dataset=TEST_DATASET, degradation="none", seed=0, metrics={"top1": round(top1, 2)}, note=note)


def check_classifier(name: str, tolerance: float = 0.01) -> list[str]:
    """Recompute every figure of a shipped classifier's manifest (test top-1, parameters,
    FLOPs) from the shipped weights; the differences beyond ``tolerance``, in words."""
    from edgezoo.manifests import packaged_manifest
    from edgezoo.zoo.release import gflops_per_mpix

    manifest = packaged_manifest(name)
    model = create_model(name, pretrained=True)
    problems = []
    params = sum(p.numel() for p in model.parameters())
    if params != manifest.params:
        problems.append(f"params: manifest {manifest.params}, recomputed {params}")
    height, width = get_entry(name).export_size
    flops = gflops_per_mpix(model, height, width, get_entry(name).input_spec.channels)
    if manifest.gflops_per_mpix is None or abs(flops - manifest.gflops_per_mpix) > tolerance:
        problems.append(f"gflops_per_mpix: manifest {manifest.gflops_per_mpix}, recomputed {flops}")
    for recorded in manifest.quality:
        fresh = classifier_quality(model).metrics["top1"]
        if abs(fresh - recorded.metrics.get("top1", float("nan"))) > tolerance or "top1" not in recorded.metrics:
            problems.append(f"top1 on {recorded.dataset}: manifest {recorded.metrics.get('top1')}, recomputed {fresh}")
    return problems


def release_classifier(name: str, run_dir: str | Path) -> Manifest:
    """Package ``RUN_DIR/best.safetensors`` as the shipped weights of classifier ``name``
    and write ``edgezoo/manifests/NAME.yaml`` with its measured test accuracy."""
    from edgezoo.export.contract import io_contract, preprocessing
    from edgezoo.export.folder import config_dict
    from edgezoo.zoo.release import gflops_per_mpix

    run_dir = Path(run_dir)
    entry = get_entry(name)
    model = create_model(name, pretrained=False).eval()
    load_weights(model, run_dir / "best.safetensors")
    target = WEIGHTS_DIR / f"{name}.safetensors"
    sha = save_weights(model, target, metadata={"model": name})
    load_weights(model, target, sha)  # score what ships
    recipe, epoch, steps, selection = _recipe(run_dir)
    params = sum(p.numel() for p in model.parameters())
    height, width = entry.export_size
    quality = classifier_quality(
        model, note=f"checkpoint of epoch {epoch}, chosen by its top-1 of {selection:.2f}% on the 5,000-image selection split",
    )
    manifest = Manifest(
        name=name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=config_dict(entry, model), params=params,
        gflops_per_mpix=gflops_per_mpix(model, height, width, entry.input_spec.channels),
        io=io_contract(entry, height, width), spec=entry.spec(), preprocessing=preprocessing(entry),
        weights=Weights(file=target.name, sha256=sha, bytes=size_bytes(target), params=params, trained_on=FMNIST_SOURCE,
                        recipe=recipe, licence=entry.licence, steps=steps),
        quality=[quality],
    )
    log = run_dir / "log.jsonl"
    if log.is_file():  # the training log ships beside the weights: every epoch's loss and selection accuracy
        atomic_write_text(WEIGHTS_DIR / f"{name}.log.jsonl", log.read_text(encoding="utf-8"))
    manifest.save(PACKAGED_DIR / f"{name}.yaml")
    return manifest
