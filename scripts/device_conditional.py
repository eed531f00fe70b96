"""Train and measure the conditional-diffusion restoration family (issue 11) on one
accelerator (or, slowly, the CPU), writing checkpoints and quality JSON to --out as it goes.

Plan (each step skips what is already done, so a killed run resumes where it stopped):

    deblur (Gaussian blur only):  dvsr-tiny-deblur         predictor, teacher
                                  dvsr-tiny-deblur-guided  predictor, teacher (structure guidance)
                                  codi-tiny-deblur         student of dvsr-tiny-deblur
    x4 super-resolution:          dvsr-tiny-sr4            predictor, teacher
                                  codi-tiny-sr4            student of dvsr-tiny-sr4
    evaluate: every trained model on the evaluation photos: predictor alone, sample and
              mean of K at each step count, diversity; deblurring in domain (Gaussian)
              and out of domain (motion), with and without guidance.

Outputs under --out: ``runs/MODEL/...`` (resumable phases, ``model.safetensors``),
``train.json`` (each phase's record) and ``quality.json`` (rewritten after each model).
``--smoke`` runs everything for a few steps on small patches and two small photos (on
the CPU it proves the script end to end in a few minutes; its numbers mean nothing).

Everything is the repo's own code (``edgezoo.zoo.train_conditional``); this script
only orders it and writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgezoo.files import atomic_write_text  # noqa: E402
from edgezoo.zoo.data import evaluation_images  # noqa: E402
from edgezoo.zoo.registry import get_entry  # noqa: E402
from edgezoo.zoo.train_conditional import ConditionalRecipe, evaluate_conditional, load_model, train_phase  # noqa: E402

# (model, phases) in the order they must run: a student needs its teacher
PLAN = (
    ("dvsr-tiny-deblur", ("predictor", "teacher")),
    ("dvsr-tiny-deblur-guided", ("predictor", "teacher")),
    ("codi-tiny-deblur", ("student",)),
    ("dvsr-tiny-sr4", ("predictor", "teacher")),
    ("codi-tiny-sr4", ("student",)),
)
# what each model is measured on: deblurring in domain (its training family) and out of it
EVALUATE_ON = {"conditional-deblur": ("blur-gaussian", "blur-motion"), "conditional-sr4": ("sr4",)}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "out"))
    parser.add_argument("--images", default="/tmp/egd-apt/photos", help="folder of clean training photos")
    parser.add_argument("--models", default="", help="comma-separated subset of the plan (default: all)")
    parser.add_argument("--phases", default="predictor,teacher,student,evaluate")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seconds", type=float, default=45.0,
                        help="device-time budget of each phase (8 phases: about 8 minutes with photo loading and evaluation)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="steps cap of each phase")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--workers", type=int, default=-1,
                        help="processes cutting patches ahead (-1: all cores but two on CUDA, none on the CPU)")
    parser.add_argument("--teacher-steps", type=int, default=50, help="the student's consistency grid")
    parser.add_argument("--eval-steps", default="1,2,4,25,50", help="sampling step counts to measure")
    parser.add_argument("--eval-samples", type=int, default=4, help="K samples per picture")
    parser.add_argument("--eval-images", type=int, default=0, help="first N evaluation photos (0: all)")
    parser.add_argument("--eval-side", type=int, default=256, help="centre crop of each evaluation photo")
    parser.add_argument("--smoke", action="store_true", help="a few steps of everything (proves the script)")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.batch, args.patch, args.checkpoint_every = 4, 2, 32, 2
        args.teacher_steps, args.eval_steps, args.eval_samples = 5, "1,2", 2
        args.eval_images, args.eval_side = 2, 64
    if args.workers < 0:
        args.workers = max(1, (os.cpu_count() or 4) - 2) if args.device == "cuda" else 0
    if args.smoke:
        args.workers = 1  # the prefetching path runs too
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    runs = out / "runs"
    wanted = set(filter(None, args.models.split(",")))
    phases = set(args.phases.split(","))
    plan = [(m, p) for m, p in PLAN if not wanted or m in wanted]
    train_log = out / "train.json"
    records = json.loads(train_log.read_text()) if train_log.is_file() else {}
    for model, model_phases in plan:
        for phase in model_phases:
            if phase not in phases:
                continue
            recipe = ConditionalRecipe(phase=phase, steps=args.steps, batch=args.batch, patch=args.patch,
                                       checkpoint_every=args.checkpoint_every, max_seconds=args.seconds,
                                       teacher_steps=args.teacher_steps, workers=args.workers, seed=0)
            record = train_phase(model, [args.images], runs, recipe, args.device, log=_log)
            records[f"{model}/{phase}"] = record
            _write_json(train_log, records)
            _log(f"{model} {phase}: {record['steps_done']} steps, {record['device_seconds']} s, "
                 f"trainable {record['trainable_fraction']:.2%} of {record['params']:,}")
    if "evaluate" not in phases:
        return
    photos = evaluation_images(max_side=args.eval_side)
    if args.eval_images:
        photos = dict(sorted(photos.items())[:args.eval_images])
    steps = tuple(int(s) for s in args.eval_steps.split(","))
    quality_path = out / "quality.json"
    quality = json.loads(quality_path.read_text()) if quality_path.is_file() else {}
    quality["device"] = args.device if args.device == "cpu" else torch.cuda.get_device_name()
    quality["note"] = ("PyTorch reference in fp32 through the runtime's refine loop and serving path; evaluation "
                       f"photos centre-cropped to {args.eval_side} px")
    quality.setdefault("models", {})
    for model, _ in plan:
        if not (runs / model / "model.safetensors").is_file():
            continue
        restorer = load_model(model, runs)
        entry = get_entry(model)
        model_steps = steps if not entry.config.adapter_rank else tuple(s for s in steps if s <= 4)
        results = {}
        for degradation in EVALUATE_ON[entry.task]:
            began = time.perf_counter()
            results[degradation] = evaluate_conditional(restorer, degradation, photos, model_steps, args.eval_samples,
                                                        device=args.device, progress=_log)
            results[degradation]["seconds"] = round(time.perf_counter() - began, 1)
            _log(f"{model} on {degradation}: {json.dumps(results[degradation]['mean'])}")
        quality["models"][model] = results
        _write_json(quality_path, quality)


if __name__ == "__main__":
    main()
