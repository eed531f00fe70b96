"""Measure and ship a diffusion generator: its quality-versus-steps table (FD-fmnist,
precision, recall, the copy check, on 5,000 samples against the 10,000 Fashion-MNIST
test images, with the train-versus-test floor), its weights, and its manifest with the
training compute it got.

``python scripts/release_diffusion.py`` releases the ladder from a device run's output
(packed weights and quality JSON); ``edgezoo eval MODEL`` re-measures one step count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edgezoo.files import size_bytes
from edgezoo.manifests import PACKAGED_DIR, Manifest
from edgezoo.manifests.schema import Paper, QualityResult, Weights
from edgezoo.zoo.registry import get_entry

TEST_DATASET = "Fashion-MNIST test (10,000 images)"
GENERATED = "none: generated from noise"
FMNIST_TRAIN = ("Fashion-MNIST (Debian package dataset-fashion-mnist, MIT): the 55,000-image training split "
                "(the seeded 5,000-image selection split and the test images are never trained on)")
SAMPLES = 5000
FD_TOLERANCE = 0.02  # relative: same seeds and weights, another device's arithmetic (TF32 vs fp32)


def sample_pictures(model: torch.nn.Module, name: str, steps: int, count: int = SAMPLES, seed: int = 0,
                    batch: int = 500, device: str = "cpu") -> np.ndarray:
    """``count`` samples of generator ``name`` at ``steps`` sampling steps, seeded as the
    runtime seeds them, run in batches; (N, 1, 32, 32) pictures in [0, 1]."""
    from edgezoo.runtimes.samplers import generate, scheduler_from_dict
    from edgezoo.tasks.generate import sampler_data

    model = model.eval().to(device)

    def denoise(sample: np.ndarray, timestep: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(sample).to(device), torch.from_numpy(timestep.astype(np.float32)).to(device))
        return out.float().cpu().numpy()

    entry = get_entry(name)
    scheduler = scheduler_from_dict(sampler_data(entry.config), steps)
    shape = (1, entry.config.in_channels, *entry.config.image_size)
    samples = generate(denoise, scheduler, shape, count, seed, batch=batch)
    low, high = entry.input_spec.value_range
    return np.clip((samples - low) / (high - low), 0.0, 1.0)


def quality_result(row: dict[str, Any], steps: int, sampler: str, note: str) -> QualityResult:
    """A manifest quality entry from one measured row (``generation_quality.Reference.measure``)."""
    metrics = {
        "steps": float(steps), "fd_fmnist": row["fd_fmnist"], "fd_fmnist_floor": row["fd_fmnist_floor"],
        "precision": row["precision"], "recall": row["recall"],
        "copies_pct": round(100.0 * row["copies"] / row["samples"], 2),
    }
    # a row read back from a run's log lacks the distances (only the figures it printed)
    for key in ("nearest_train_median", "test_nearest_train_median", "fd_fmnist_selection"):
        if key in row:
            metrics[key] = row[key]
    return QualityResult(dataset=TEST_DATASET, degradation=GENERATED, seed=0, metrics=metrics,
                         note=f"{row['samples']} samples, {sampler} {steps} steps; {note}")


def measure(name: str, model: torch.nn.Module, steps: int, count: int = SAMPLES, seed: int = 0,
            device: str = "cpu", progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """One row of the quality table of ``model`` at ``steps`` steps, on this machine."""
    from edgezoo.zoo.fashion_mnist import load_split
    from edgezoo.zoo.generation_quality import Reference, feature_model

    progress(f"{name}: {count} samples at {steps} steps")
    pictures = sample_pictures(model, name, steps, count, seed, device=device)
    progress("features of the test and training images (the floor and the copy check)")
    reference = Reference(load_split("train")[0], load_split("test")[0], feature_model(device), device)
    return {"steps": steps, **reference.measure(pictures)}


def release_diffusion(name: str, state: dict[str, torch.Tensor], rows: dict[str, dict[str, Any]], record: dict[str, Any],
                      measured_on: str, weights_dtype: str = "float16") -> Manifest:
    """Ship generator ``name``: ``state`` (its EMA weights) into the package, stored as
    ``weights_dtype``, and its manifest with one quality entry per measured step count
    (``rows``: steps -> a measured row, made from exactly the weights that ship) and the
    training ``record`` (compute, recipe)."""
    from edgezoo.export.contract import io_contract, preprocessing
    from edgezoo.export.folder import config_dict
    from edgezoo.zoo.train_diffusion import forward_flops
    from edgezoo.zoo.weights import WEIGHTS_DIR, load_weights, save_weights

    entry = get_entry(name)
    model = entry.build().eval()
    model.load_state_dict(state)
    target = WEIGHTS_DIR / f"{name}.safetensors"
    dtype = torch.float16 if weights_dtype == "float16" else None
    sha = save_weights(model, target, metadata={"model": name}, dtype=dtype)
    load_weights(model, target, sha)
    params = sum(p.numel() for p in model.parameters())
    height, width = entry.config.image_size
    flops = forward_flops(model, torch.device("cpu"))
    sampler = entry.config.sampler
    quality = [quality_result(row, int(steps), sampler, measured_on) for steps, row in
               sorted(rows.items(), key=lambda kv: int(kv[0]))]
    manifest = Manifest(
        name=name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=config_dict(entry, model), params=params,
        gflops_per_mpix=round(flops / 1e9 / (height * width / 1e6), 2),
        io=io_contract(entry, height, width), spec=entry.spec(), preprocessing=preprocessing(entry),
        weights=Weights(file=target.name, sha256=sha, bytes=size_bytes(target), params=params, trained_on=FMNIST_TRAIN,
                        recipe=recipe_text(record), licence=entry.licence, steps=record.get("steps_done"),
                        dtype=weights_dtype),
        quality=quality,
    )
    manifest.save(PACKAGED_DIR / f"{name}.yaml")
    return manifest


def recipe_text(record: dict[str, Any]) -> str:
    """The training record in words: recipe, compute and where it ran."""
    if "rounds" in record:  # a distilled student
        rounds = ", ".join(f"{r['teacher_steps']}->{r['student_steps']} ({r['updates']} updates)" for r in record["rounds"])
        return (f"progressive distillation (edgezoo.zoo.train_diffusion.distill) of {record['teacher']}: rounds {rounds}, "
                f"batch {record['batch']}, AdamW lr {record['lr']:g}, EMA {record['ema']}; {record['device_seconds']} s "
                f"on {record['device']}")
    r = record["recipe"]
    return (f"edgezoo.zoo.train_diffusion (scripts/device_diffusion.py train): {record['steps_done']} steps of batch "
            f"{r['batch']} ({record['images_seen']:,} images), AdamW lr {r['lr']:g} after {r['warmup']} warm-up steps, "
            f"EMA {r['ema']}, grad clip {r['grad_clip']}, horizontal flips, seed {r['seed']}; compute: "
            f"{record['device_seconds']} s on {record['device']} ({record['precision']}), the same device-time budget "
            f"for every size of the ladder, {record['train_flops']:.3g} training FLOPs")


def check_diffusion(name: str, steps: int | None = None, count: int = SAMPLES, device: str = "cpu",
                    progress: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any], list[str]]:
    """Re-measure the shipped generator at ``steps`` (default: the program's) and compare
    with its manifest's row for that step count: (the fresh row, the differences)."""
    from edgezoo.manifests import packaged_manifest
    from edgezoo.zoo.registry import create_model

    manifest = packaged_manifest(name)
    steps = int(steps or (manifest.model_spec().program.sampler or {}).get("steps", 8))
    recorded = next((q for q in manifest.quality if int(q.metrics.get("steps", -1)) == steps), None)
    fresh = measure(name, create_model(name, pretrained=True), steps, count, device=device, progress=progress)
    problems = []
    if recorded is None:
        problems.append(f"the manifest records no quality at {steps} steps "
                        f"(it has {sorted(int(q.metrics['steps']) for q in manifest.quality)})")
    elif count != SAMPLES:
        problems.append(f"only {count} samples: the manifest's figures are for {SAMPLES}")
    else:
        want = recorded.metrics["fd_fmnist"]
        if abs(fresh["fd_fmnist"] - want) > FD_TOLERANCE * want:
            problems.append(f"fd_fmnist at {steps} steps: manifest {want}, recomputed {fresh['fd_fmnist']}")
    return fresh, problems


def load_packed(path: str | Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(float32 state dict, training record) of ``name`` from a device run's pack
    (``scripts/device_diffusion.py pack``: keys ``NAME/param``, records in the metadata)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    state = {k.split("/", 1)[1]: v.float() for k, v in load_file(str(path)).items() if k.startswith(name + "/")}
    with safe_open(str(path), "pt") as fh:
        record = json.loads((fh.metadata() or {}).get(name, "{}"))
    return state, record


__all__ = ["SAMPLES", "TEST_DATASET", "check_diffusion", "load_packed", "measure", "quality_result", "recipe_text",
           "release_diffusion", "sample_pictures"]
