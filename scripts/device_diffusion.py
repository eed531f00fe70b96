"""Train, distill and measure the diffusion ladder on one accelerator (or, slowly, the CPU).

Phases (each a subcommand, so two families can train side by side):

    train --family gaussian|soft   each ladder size for the same device-time budget
    pack                           the EMA weights of every trained run, stored float16
                                   (what ships), into OUT/<family>_weights.safetensors
    distill                        progressive distillation of ddpm-unet-fmnist-s down to 4 steps
    evaluate                       FD-fmnist / precision / recall / copy check of every model
                                   at each step count, from the packed (float16) weights

Everything is the repo's own code (``edgezoo.zoo.train_diffusion``, ``generation_quality``,
the runtime's numpy schedulers); this script only orders it and writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgezoo.zoo.fashion_mnist import load_split  # noqa: E402
from edgezoo.zoo.registry import get_entry  # noqa: E402
from edgezoo.zoo.release_diffusion import load_packed, sample_pictures  # noqa: E402
from edgezoo.zoo.train_diffusion import DiffusionRecipe, device_name, distill, train_diffusion  # noqa: E402

SIZES = ("xs", "s", "m", "l")
FAMILY_PREFIX = {"gaussian": "ddpm-unet-fmnist", "soft": "soft-unet-fmnist"}
STEP_GRID = (2, 4, 8, 16, 32, 50, 100)
TEACHER = "ddpm-unet-fmnist-s"
STUDENT = "ddpm-unet-fmnist-s-distill4"


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cmd_train(args: argparse.Namespace) -> None:
    images, _ = load_split("train")
    for size in args.sizes.split(","):
        name = f"{FAMILY_PREFIX[args.family]}-{size}"
        recipe = DiffusionRecipe(steps=args.steps, batch=args.batch, lr=args.lr, max_seconds=args.seconds,
                                 checkpoint_every=args.checkpoint_every, seed=0)
        record = train_diffusion(name, images, Path(args.runs) / name, recipe, _device(), log=_log)
        _log(f"{name}: {record['steps_done']} steps, {record['device_seconds']} s, {record['train_flops']:.3g} FLOPs")


def _pack(names: list[str], runs: Path, out: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors, meta = {}, {}
    for name in names:
        path = runs / name / "ema.safetensors"
        if not path.is_file():
            continue
        for key, value in load_file(str(path)).items():
            tensors[f"{name}/{key}"] = value.half() if value.is_floating_point() else value
        record = runs / name / "record.json"
        if record.is_file():
            meta[name] = record.read_text()
    if tensors:
        tmp = out.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, out)


def cmd_pack(args: argparse.Namespace) -> None:
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for family, prefix in FAMILY_PREFIX.items():
        names = [f"{prefix}-{s}" for s in SIZES] + ([STUDENT] if family == "gaussian" else [])
        _pack(names, runs, out / f"{family}_weights.safetensors")
    _log(f"packed into {out}")


def _load_packed(name: str, out: Path) -> torch.nn.Module | None:
    family = "soft" if name.startswith("soft") else "gaussian"
    path = out / f"{family}_weights.safetensors"
    state = load_packed(path, name)[0] if path.is_file() else {}
    if not state:
        return None
    model = get_entry(name).build()
    model.load_state_dict(state)
    return model


def cmd_distill(args: argparse.Namespace) -> None:
    out = Path(args.out)
    teacher = _load_packed(TEACHER, out)
    if teacher is None:
        _log("no teacher trained: skipping distillation")
        return
    images, _ = load_split("train")
    recipe = DiffusionRecipe(batch=args.batch, lr=args.lr, ema=0.999, seed=0)
    rounds = [int(n) for n in args.rounds.split(",")]
    student, record = distill(teacher, get_entry(TEACHER).config, images, Path(args.runs) / STUDENT, rounds,
                              args.updates, recipe, _device(), log=_log, max_seconds=args.seconds)
    from edgezoo.zoo.weights import save_weights

    (Path(args.runs) / STUDENT).mkdir(parents=True, exist_ok=True)
    save_weights(student, Path(args.runs) / STUDENT / "ema.safetensors")
    (Path(args.runs) / STUDENT / "record.json").write_text(json.dumps({"teacher": TEACHER, **record}))
    cmd_pack(args)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from edgezoo.zoo.generation_quality import Reference, feature_model

    device, out = _device(), Path(args.out)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    train, _ = load_split("train")
    selection, _ = load_split("selection")
    test, _ = load_split("test")
    classifier = feature_model(device)
    began = time.perf_counter()
    ref_test = Reference(train, test, classifier, device)
    ref_selection = Reference(train, selection, classifier, device)
    _log(f"references in {time.perf_counter() - began:.0f} s: FD floor test {ref_test.floor:.3f}, "
         f"selection {ref_selection.floor:.3f}")
    results = {"device": device_name(torch.device(device)), "samples": args.samples, "seed": args.seed,
               "fd_floor_test": ref_test.floor, "fd_floor_selection": ref_selection.floor,
               "precision": "fp32 weights from the float16 pack, TF32 matmuls on CUDA", "models": {}}
    names = [f"{p}-{s}" for p in FAMILY_PREFIX.values() for s in SIZES] + [STUDENT]
    if args.models:
        names = [n for n in names if n in args.models.split(",")]
    grids = {"samples": {}}
    for name in names:
        model = _load_packed(name, out)
        if model is None:
            continue
        rows = {}
        for steps in ([4] if name == STUDENT else [int(s) for s in args.steps.split(",")]):
            began = time.perf_counter()
            pictures = sample_pictures(model, name, steps, args.samples, args.seed, args.batch, device)
            row = ref_test.measure(pictures)
            row["fd_fmnist_selection"] = round(ref_selection.measure(pictures[: len(selection)])["fd_fmnist"], 3)
            row["seconds"] = round(time.perf_counter() - began, 1)
            rows[str(steps)] = row
            grids["samples"][f"{name}@{steps}"] = (pictures[:64] * 255).round().astype(np.uint8)
            _log(f"{name} @ {steps} steps: FD {row['fd_fmnist']} (sel {row['fd_fmnist_selection']}), "
                 f"P {row['precision']} R {row['recall']}, copies {row['copies']}, {row['seconds']} s")
        results["models"][name] = rows
        tmp = out / "quality.json.tmp"
        tmp.write_text(json.dumps(results, indent=1))
        os.replace(tmp, out / "quality.json")
        np.savez_compressed(out / "sample_grids.npz", **grids["samples"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="/tmp/diffusion-runs")
    parser.add_argument("--out", default=os.environ.get("OUT", "out"))
    sub = parser.add_subparsers(dest="cmd", required=True)
    train = sub.add_parser("train")
    train.add_argument("--family", choices=sorted(FAMILY_PREFIX), required=True)
    train.add_argument("--sizes", default=",".join(SIZES))
    train.add_argument("--seconds", type=float, default=50.0)
    train.add_argument("--steps", type=int, default=1_000_000)
    train.add_argument("--batch", type=int, default=128)
    train.add_argument("--lr", type=float, default=2e-4)
    train.add_argument("--checkpoint-every", type=int, default=1000)
    sub.add_parser("pack")
    dist = sub.add_parser("distill")
    dist.add_argument("--rounds", default="32,16,8,4")
    dist.add_argument("--updates", type=int, default=100_000)
    dist.add_argument("--seconds", type=float, default=25.0)
    dist.add_argument("--batch", type=int, default=128)
    dist.add_argument("--lr", type=float, default=1e-4)
    ev = sub.add_parser("evaluate")
    ev.add_argument("--samples", type=int, default=5000)
    ev.add_argument("--steps", default=",".join(str(s) for s in STEP_GRID))
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--batch", type=int, default=2500)
    ev.add_argument("--models", default="", help="comma-separated names (default: every trained one)")
    args = parser.parse_args()
    {"train": cmd_train, "pack": cmd_pack, "distill": cmd_distill, "evaluate": cmd_evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
