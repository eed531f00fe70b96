"""Ship the instruction-driven restorer (TIP): its trained text encoder and adaptor with
the frozen prior's weights as one file, and its manifest with quality measured here.

    python -m edgezoo.zoo.release_tip RUN      # a python -m edgezoo.zoo.train_tip --out RUN folder

Quality (the evaluation photos, never trained on; photo ``i`` of the sorted set degraded
with ``default_rng(i)``), the PyTorch model served in the contract (reflect-padded to its
multiple), one row per setting, the first the task protocol's own
(:mod:`edgezoo.tasks.instruct`: what the export's quality gate and the planner read):

1. blur 1.5 px + noise sigma 15, told "remove all degradation" (the blind default),
   beside the input, the frozen prior alone and Wiener deconvolution told the true kernel;
2. the zoo's Gaussian noise at sigma 25 (the same noise as maxim-tiny-denoise's rows),
   told "remove the noise", beside the input and the prior;
3. Gaussian blur 2 px, told "remove blur of 2 px", beside the input, the prior and Wiener;
4. the ``deblur`` task's own degradation (defocus and motion kernels, which TIP never
   saw), told "remove the blur", beside the input, the prior and the task's model,
   ``maxim-tiny-deblur``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edgezoo.files import atomic_write_text, size_bytes
from edgezoo.manifests import PACKAGED_DIR, Manifest
from edgezoo.manifests.schema import Paper, QualityResult, TrainingRecord, Weights
from edgezoo.tasks.instruct import DEFAULT_INSTRUCTION, QUALITY_SETTING
from edgezoo.zoo.registry import create_model, get_entry
from edgezoo.zoo.weights import WEIGHTS_DIR, load_weights, save_weights

NAME = "tip-tiny-restore"
# (degradation, its parameters, the instruction told, whether Wiener is a baseline, a task model beside it)
SETTINGS: tuple[tuple[str, dict[str, float], str, bool, str | None], ...] = (
    (QUALITY_SETTING, {}, DEFAULT_INSTRUCTION, True, None),  # the task protocol's own (INSTRUCTED_DEGRADATIONS)
    ("denoise", {"sigma": 25.0}, "remove the noise", False, None),
    ("blur-2", {"noise": 0.0, "blur": 2.0}, "remove blur of 2 px", True, None),
    ("deblur", {}, "remove the blur", False, "maxim-tiny-deblur"),
)


def instructed_restorer(model: Any, instruction: str, multiple_of: int) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` told ``instruction``, as an HWC -> HWC restorer served in its contract."""
    from edgezoo.tasks.instructions import tokenize
    from edgezoo.zoo.evaluate import nchw_restorer

    ids, numbers = (torch.from_numpy(a) for a in tokenize(instruction))

    @torch.no_grad()
    def run(batch: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(batch), ids, numbers).numpy()

    return nchw_restorer(run, multiple_of)


def measure_tip(model: Any, names: set[str] | None = None,
                progress: Callable[[str], None] | None = None) -> list[QualityResult]:
    """The manifest's quality rows (module doc) of a TIP ``model``."""
    from edgezoo.zoo.baselines import wiener
    from edgezoo.zoo.data import evaluation_images
    from edgezoo.zoo.degradations import DEGRADATIONS, INSTRUCTED_DEGRADATIONS, TaskDegradation, blur_then_noise
    from edgezoo.zoo.evaluate import score_degradation, torch_restorer

    multiple = get_entry(NAME).input_spec.multiple_of
    photos = evaluation_images()
    prior = torch_restorer(model.net.prior, multiple)
    rows = []
    for setting, params, instruction, with_wiener, task_model in SETTINGS:
        if setting in DEGRADATIONS:  # a task's own degradation, as its models are scored
            degradation = DEGRADATIONS[setting]
        elif setting in INSTRUCTED_DEGRADATIONS:
            degradation = INSTRUCTED_DEGRADATIONS[setting]
        else:
            degradation = TaskDegradation(setting, blur_then_noise, params)
        baselines: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
            "the frozen prior alone": lambda degraded, info: prior(degraded)}
        if task_model is not None:
            task = torch_restorer(create_model(task_model), get_entry(task_model).input_spec.multiple_of)
            baselines[f"{task_model} (the task's model)"] = lambda degraded, info, task=task: task(degraded)
        if with_wiener:
            baselines["Wiener, true kernel"] = lambda degraded, info: wiener(
                degraded, {"kernel": info["kernel"], "noise": info["sigma"] / 255.0})
        result = score_degradation(instructed_restorer(model, instruction, multiple), photos, degradation, 0,
                                   baselines=baselines, what=f"{setting} told {instruction!r}", names=names,
                                   progress=progress)
        rows.append(result.model_copy(update={"note": f"told {instruction!r}"}))
    return rows


def check_tip(names: set[str] | None = None, progress: Callable[[str], None] | None = None,
              ) -> tuple[list[QualityResult], list[str]]:
    """The shipped manifest's rows recomputed from the shipped weights (``names``: only
    those photos, degraded as in the full set): (rows, what moved beyond PSNR 0.002 dB or
    SSIM 0.0002, per photo and baseline)."""
    from edgezoo.manifests import packaged_manifest

    recorded = packaged_manifest(NAME).quality
    measured = measure_tip(create_model(NAME), names, progress)
    problems = []
    for old, new in zip(recorded, measured):
        scored = {"model": (old.per_image, new.per_image),
                  **{k: (old.baselines_per_image.get(k, {}), v) for k, v in new.baselines_per_image.items()}}
        for what, (before, after) in scored.items():
            for photo, score in after.items():
                was = before.get(photo)
                if was is None or abs(was.psnr_db - score.psnr_db) > 0.002 or abs(was.ssim - score.ssim) > 0.0002:
                    problems.append(f"{old.degradation} {what} on {photo}: {score.psnr_db:.3f} dB / {score.ssim:.4f} "
                                    f"measured, {'nothing' if was is None else f'{was.psnr_db:.3f} dB / {was.ssim:.4f}'}"
                                    " recorded")
    return measured, problems


def release_tip(run: str | Path, progress: Callable[[str], None] | None = None) -> Manifest:
    """Ship ``RUN``'s text encoder and adaptor (EMA, the end of the run: no checkpoint
    selection) with the frozen prior as ``edgezoo/weights/tip-tiny-restore.safetensors``,
    its loss log beside it, and write its manifest, measured on the weights as shipped."""
    from edgezoo.export.contract import io_contract, preprocessing
    from edgezoo.export.folder import config_dict
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.zoo.flops import gflops_per_mpix_of
    from edgezoo.zoo.release import PHOTO_POOL, WEIGHTS_LICENCE
    from edgezoo.zoo.train_tip import load_tip

    run = Path(run)
    entry = get_entry(NAME)
    model = load_tip(run)
    target = WEIGHTS_DIR / f"{NAME}.safetensors"
    sha = save_weights(model, target, metadata={"model": NAME})
    model = create_model(NAME, pretrained=False)
    load_weights(model, target, sha)  # score what ships
    record = json.loads((run / "record.json").read_text())
    recipe = record["recipe"]
    command = (f"python -m edgezoo.zoo.train_tip --images DIR --out RUN --steps {recipe['steps']} --full-steps "
               f"{recipe['full_steps']} --batch {recipe['batch']} --patch {recipe['patch']} --seed {recipe['seed']}")
    log_name = f"{NAME}.log.jsonl"
    atomic_write_text(WEIGHTS_DIR / log_name, (run / "log.jsonl").read_text(encoding="utf-8"))
    params = sum(p.numel() for p in model.parameters())
    h, w = entry.export_size
    feeds = {"image": torch.zeros(1, 3, h, w), "tokens": torch.zeros(1, entry.config.max_tokens, dtype=torch.int32),
             "numbers": torch.zeros(1, entry.config.max_tokens)}
    manifest = Manifest(
        name=NAME, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=config_dict(entry, model), params=params,
        gflops_per_mpix=gflops_per_mpix_of(model, feeds),
        io=io_contract(entry, h, w, dynamic=True), spec=entry.spec(), preprocessing=preprocessing(entry),
        weights=Weights(
            file=target.name, sha256=sha, bytes=size_bytes(target), params=params, trained_on=PHOTO_POOL,
            recipe=(f"{command}: {record['steps']:,} steps in {record['seconds']:.0f} s on {record['device']} "
                    f"(device profile {device_profile().id}); {record['trainable_params']:,} trainable parameters "
                    f"(text encoder and adaptor), the {record['prior_params']:,} of the prior "
                    f"({entry.config.prior}'s shipped weights) frozen and stored with them; EMA weights at the end"),
            licence=WEIGHTS_LICENCE, steps=int(record["steps"]),
            training=TrainingRecord(command=command, config={**recipe, **record["config"]}, seed=int(recipe["seed"]),
                                    log=log_name, note="written by the run's record.json (train_tip)"),
        ),
        quality=measure_tip(model, progress=progress),
    )
    manifest.save(PACKAGED_DIR / f"{NAME}.yaml")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a python -m edgezoo.zoo.train_tip --out folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    manifest = release_tip(args.run, progress=print)
    for row in manifest.quality:
        print(row.degradation, row.note, row.mean, {k: v.psnr_db for k, v in row.baselines.items()})


if __name__ == "__main__":
    main()
