"""Ship a trained predict-and-refine model (issue 11): its weights, and a manifest whose
quality rows say what each number of refinement steps buys, measured the way the
regression models of the task are (``edgezoo.zoo.evaluate.evaluate_restorer``: the
evaluation photos, the task's degradation and seeds), so that the planner compares the
predictor alone, predictor + K steps and the other models of the task on one footing.

``conditional-deblur`` models are scored on the ``deblur`` task they serve (beside the
regression deblurrers), ``conditional-sr4`` ones on ``super-resolve`` (each photo down-sampled
x4, bicubic up-sampling the baseline: :data:`edgezoo.zoo.evaluate.UPSCALING_TASKS`). A CoDi
student's rows stop at its own step count."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from edgezoo.files import size_bytes
from edgezoo.manifests import PACKAGED_DIR, Manifest
from edgezoo.manifests.schema import Paper, QualityResult, Weights
from edgezoo.zoo.registry import get_entry
from edgezoo.zoo.release import PHOTO_POOL, WEIGHTS_LICENCE
from edgezoo.zoo.weights import WEIGHTS_DIR, load_weights, save_weights

REFINE_STEPS = (0, 1, 2, 4, 25)  # 0: the predictor alone


def refine_steps(name: str) -> tuple[int, ...]:
    """The step counts a model's manifest measures: :data:`REFINE_STEPS` up to its
    program's own (a 4-step student's stop at 4)."""
    most = get_entry(name).config.steps
    return tuple(k for k in REFINE_STEPS if k <= most)


def refine_restorer(model: torch.nn.Module, steps: int, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """An HWC -> HWC restorer that serves ``model`` as the runtime does: the predictor,
    then ``steps`` DDIM steps on the residual (one sample, drawn from ``seed``)."""
    from edgezoo.runtimes.refine import refine
    from edgezoo.runtimes.samplers import scheduler_from_dict
    from edgezoo.tasks.conditional import sampler_program
    from edgezoo.zoo.evaluate import nchw_restorer
    from edgezoo.zoo.train_conditional import torch_components

    cfg = model.cfg
    predict, denoise = torch_components(model)
    scheduler = None if steps == 0 else scheduler_from_dict(sampler_program(cfg), steps)

    def run(batch: np.ndarray) -> np.ndarray:
        return refine(predict, denoise, scheduler, batch, cfg.residual_scale, count=1, seed=seed)[1]

    return nchw_restorer(run, cfg.multiple_of, scale=cfg.scale)


def measure_refinement(name: str, model: torch.nn.Module, steps: Sequence[int] | None = None,
                       names: set[str] | None = None,
                       progress: Callable[[str], None] | None = None) -> list[QualityResult]:
    """One quality row per step count (``metrics["steps"]``), on the task the model
    serves; the classical baselines once, on the predictor's row."""
    from edgezoo.tasks import served_task
    from edgezoo.zoo.evaluate import evaluate_restorer

    task = served_task(get_entry(name).task)
    rows = []
    for k in steps if steps is not None else refine_steps(name):
        result = evaluate_restorer(task, refine_restorer(model, k), names=names, baselines=k == 0, progress=progress)
        assert result.mean is not None
        result.metrics = {"steps": float(k), "psnr_db": result.mean.psnr_db, "ssim": result.mean.ssim}
        result.note = "the predictor alone" if k == 0 else f"predictor + {k} DDIM steps on the residual, one sample"
        rows.append(result)
    return rows


def release_conditional(name: str, weights: str | Path, recipe: str, trained_on: str = PHOTO_POOL,
                        steps: Sequence[int] | None = None, progress: Callable[[str], None] | None = None,
                        dtype: str = "float16") -> Manifest:
    """Package ``weights`` (a trained run's ``model.safetensors``) as the shipped weights
    of ``name`` and write its manifest, quality measured on the weights as shipped."""
    from edgezoo.export.contract import io_contract, preprocessing
    from edgezoo.export.folder import config_dict
    from edgezoo.zoo.flops import gflops_per_mpix_of

    entry = get_entry(name)
    model = entry.build().eval()
    load_weights(model, weights)
    target = WEIGHTS_DIR / f"{name}.safetensors"
    sha = save_weights(model, target, metadata={"model": name}, dtype=getattr(torch, dtype))
    load_weights(model, target, sha)  # score what ships
    params = sum(p.numel() for p in model.parameters())
    h, w = entry.export_size
    feeds = {"sample": torch.zeros(1, 3, h * model.cfg.scale, w * model.cfg.scale), "timestep": torch.zeros(1),
             "condition": torch.zeros(1, 3, h, w)}
    manifest = Manifest(
        name=name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=config_dict(entry, model), params=params,
        gflops_per_mpix=gflops_per_mpix_of(model, feeds),
        io=io_contract(entry, h, w, dynamic=True), spec=entry.spec(), preprocessing=preprocessing(entry),
        weights=Weights(file=target.name, sha256=sha, bytes=size_bytes(target), params=params, trained_on=trained_on,
                        recipe=recipe, licence=WEIGHTS_LICENCE, dtype=dtype),
        quality=measure_refinement(name, model, steps, progress=progress),
    )
    manifest.save(PACKAGED_DIR / f"{name}.yaml")
    return manifest


def run_recipe(name: str, run: str | Path, note: str = "") -> tuple[str, str]:
    """(recipe line, combined loss log) of ``name``'s phases in a training run
    (``RUN/MODEL/PHASE/record.json`` and ``log.jsonl`` as
    :func:`edgezoo.zoo.train_conditional.train_phase` writes them)."""
    import json

    from edgezoo.runtimes.profile import device_profile
    from edgezoo.zoo.train_conditional import phase_dir

    cfg = get_entry(name).config
    phases = ("student",) if cfg.adapter_rank else ("predictor", "teacher")
    parts, logs, first = [], [], None
    for phase in phases:
        folder = phase_dir(run, name, phase)
        record = json.loads((folder / "record.json").read_text())
        first = first or record
        parts.append(f"{phase} {record['steps_done']:,} steps ({record['device_seconds']:.0f} s"
                     + (f", {record['trainable_fraction']:.1%} of the parameters trainable" if phase == "student" else "")
                     + ")")
        for line in (folder / "log.jsonl").read_text().splitlines():
            logs.append(json.dumps({"phase": phase, **json.loads(line)}))
    assert first is not None
    recipe = first["recipe"]
    command = (f"scripts/device_conditional.py --models {name} --device cpu --batch {recipe['batch']} "
               f"--patch {recipe['patch']} --checkpoint-every {recipe['checkpoint_every']}")
    teacher = f" from the teacher {cfg.teacher} on its {recipe['teacher_steps']}-step DDIM grid" if cfg.adapter_rank else ""
    line = (f"{command}: {', then '.join(parts)}{teacher}, {first['device']} (device profile {device_profile().id}); "
            f"{first['degradation']} on {first['photos']} pool photos; EMA weights at the end (no checkpoint selection)"
            + (f"; {note}" if note else ""))
    return line, "\n".join(logs) + "\n"


def release_run(name: str, run: str | Path, note: str = "", dtype: str = "float16",
                progress: Callable[[str], None] | None = None) -> Manifest:
    """Ship ``RUN/MODEL/model.safetensors`` (:func:`release_conditional`) with the recipe
    its phases' records state and their loss logs beside the weights (``NAME.log.jsonl``)."""
    from edgezoo.files import atomic_write_text
    from edgezoo.zoo.train_conditional import weights_path

    recipe, log = run_recipe(name, run, note)
    manifest = release_conditional(name, weights_path(run, name), recipe, progress=progress, dtype=dtype)
    atomic_write_text(WEIGHTS_DIR / f"{name}.log.jsonl", log)
    return manifest


def check_refinement(name: str, names: set[str] | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[list[QualityResult], list[str]]:
    """Recompute every step count's figures of the shipped ``name`` from its shipped
    weights (on ``names`` only: those photos' per-image figures) and say which moved
    beyond the release tolerances."""
    from edgezoo.manifests import packaged_manifest
    from edgezoo.zoo.registry import create_model
    from edgezoo.zoo.release import PSNR_TOLERANCE_DB, SSIM_TOLERANCE

    manifest = packaged_manifest(name)
    model = create_model(name, pretrained=True).eval()
    steps = [int(q.metrics["steps"]) for q in manifest.quality]
    measured = measure_refinement(name, model, steps, names=names, progress=progress)
    problems = []
    for recorded, result in zip(manifest.quality, measured):
        pairs = [(n, recorded.per_image[n], result.per_image[n]) for n in sorted(result.per_image)] if names else \
            [("mean", recorded.mean, result.mean)]
        for where, old, new in pairs:
            for metric, allowed in (("psnr_db", PSNR_TOLERANCE_DB), ("ssim", SSIM_TOLERANCE)):
                a, b = getattr(old, metric), getattr(new, metric)
                if abs(a - b) > allowed:
                    problems.append(f"{int(recorded.metrics['steps'])} steps, {where}: {metric} recorded {a}, "
                                    f"measured {b:.4f} (allowed {allowed:g})")
    return measured, problems


__all__ = ["REFINE_STEPS", "refine_steps", "release_run", "run_recipe", "check_refinement", "measure_refinement", "refine_restorer", "release_conditional"]
