"""What exponentiated-gradient reweighting buys a denoiser trained on corrupted targets,
same budget: ``maxim-tiny-denoise`` on a fixed pool of training-photo patches of which a
share have their target swapped for another patch's (mismatched pairs), trained with and
without ``--reweight eg``; PSNR at sigma 25 on the evaluation photos.

    python benchmarks/eg_denoise_study.py --images DIR/photos [--seeds 0,1,2] [--corruption 0.3]
        [--eg-lrs 0.5,2,8] [--steps 300] [--batch 8] [--patch 32] [--pool-patches 512]
        [--out runs/eg_denoise] [--json-out benchmarks/results/eg_denoise.json]

DIR/photos holds the training photos (``scripts/fetch_photos.sh DIR`` puts them there).
The EG step size is chosen first, on the first seed only, by PSNR on the selection split
(``edgezoo/assets/calibration``); the evaluation photos are scored once every choice is
made. Each run keeps the checkpoint that scores best on its held-out training photos, as
``edgezoo train`` does. Runs resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "maxim-tiny-denoise"
SIGMA = 25.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def config(args: argparse.Namespace, seed: int, reweight: str, eg_lr: float, corruption: float):
    from edgezoo.zoo.train import TrainConfig

    tag = f"corrupt{corruption:g}-{'eg' + format(eg_lr, 'g') if reweight == 'eg' else 'plain'}-seed{seed}"
    return tag, TrainConfig(
        model=MODEL, images=[args.images], out=str(Path(args.out) / tag), steps=args.steps, batch=args.batch,
        patch=args.patch, lr=args.lr, warmup=args.warmup, seed=seed, checkpoint_every=args.val_every,
        val_every=args.val_every, threads=args.threads, pool_patches=args.pool_patches,
        target_corruption=corruption, reweight=reweight, eg_lr=eg_lr)


def psnr_at_sigma25(weights: Path, images: dict[str, np.ndarray]) -> tuple[float, dict[str, float], float]:
    """(mean PSNR, per image, mean PSNR of the noisy input) at sigma 25, seed 0, as ``edgezoo eval``."""
    from edgezoo.zoo import create_model, get_entry
    from edgezoo.zoo.evaluate import evaluate_denoiser, torch_restorer
    from edgezoo.zoo.weights import load_weights

    net = create_model(MODEL, pretrained=False).eval()
    load_weights(net, weights)
    result = evaluate_denoiser(torch_restorer(net, get_entry(MODEL).input_spec.multiple_of), sigmas=(SIGMA,),
                               baselines=False, images=images)[0]
    return (result.mean.psnr_db, {k: v.psnr_db for k, v in result.per_image.items()},
            result.baselines["noisy"].psnr_db)


def run_one(args: argparse.Namespace, seed: int, reweight: str, eg_lr: float, corruption: float,
            splits: dict[str, dict[str, np.ndarray]]) -> dict:
    import torch

    from edgezoo.zoo.train import train

    tag, cfg = config(args, seed, reweight, eg_lr, corruption)
    best = train(cfg, log=lambda line: print(f"[{tag}] {line}", flush=True))
    # the training loop's seconds as its log recorded them (a finished run found again is not retrained)
    last_record = json.loads((Path(cfg.out) / MODEL / "log.jsonl").read_text().splitlines()[-1])
    row = {"run": tag, "seed": seed, "reweight": reweight, "eg_lr": eg_lr if reweight == "eg" else None,
           "target_corruption": corruption, "train_seconds": last_record["seconds"]}
    state = torch.load(Path(cfg.out) / MODEL / "last.pt", weights_only=False)
    row["heldout_psnr"] = round(state["best_val"], 3)
    for split, images in splits.items():
        mean, per_image, noisy = psnr_at_sigma25(best, images)
        row[f"{split}_psnr"], row[f"{split}_noisy_psnr"] = mean, noisy
        if split == "evaluation":
            row["evaluation_per_image"] = per_image
    if state.get("example_weights") is not None:
        w, bad = state["example_weights"]["weights"], state["corrupted"]
        row["effective_examples"] = round(float(np.exp(-(w[w > 0] * np.log(w[w > 0])).sum())), 1)
        if bad.any():
            row["weight_ratio_corrupted_to_clean"] = round(float(w[bad].mean() / w[~bad].mean()), 4)
            # of the examples EG weights lowest (as many as were corrupted), the share that were corrupted
            lowest = np.argsort(w, kind="stable")[:int(bad.sum())]
            row["corrupted_share_of_lowest_weights"] = round(float(bad[lowest].mean()), 3)
    print(json.dumps({k: v for k, v in row.items() if k != "evaluation_per_image"}), flush=True)
    return row


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of training photos (scripts/fetch_photos.sh)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--corruption", type=float, default=0.3)
    parser.add_argument("--eg-lrs", default="0.5,2,8", help="EG step sizes tried on the first seed")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--pool-patches", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clean-reference", action="store_true",
                        help="also train plain on uncorrupted targets (first seed), to show what the corruption costs")
    parser.add_argument("--out", default="runs/eg_denoise")
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks/results/eg_denoise.json"))
    args = parser.parse_args(argv)

    import torch

    from edgezoo.zoo.data import evaluation_images, selection_images

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.time()
    selection = {"selection": selection_images()}
    # 1. the EG step size, on the first seed, by PSNR on the selection split
    sweep = [run_one(args, seeds[0], "eg", float(eta), args.corruption, selection) for eta in args.eg_lrs.split(",")]
    chosen = max(sweep, key=lambda r: r["selection_psnr"])["eg_lr"]
    print(f"EG step size chosen on the selection split: {chosen:g}", flush=True)
    # 2. plain vs EG at that step size, every seed, scored on the evaluation photos
    splits = {"selection": selection["selection"], "evaluation": evaluation_images()}
    rows = []
    for seed in seeds:
        for reweight in ("none", "eg"):
            rows.append(run_one(args, seed, reweight, chosen, args.corruption, splits))
    reference = [run_one(args, seeds[0], "none", chosen, 0.0, splits)] if args.clean_reference else []

    plain = [r for r in rows if r["reweight"] == "none"]
    eg = [r for r in rows if r["reweight"] == "eg"]
    print(f"{'':>28} {'evaluation PSNR':>16} {'selection PSNR':>16}")
    for name, group in ((f"plain, {args.corruption:.0%} corrupted", plain), (f"EG eta={chosen:g}", eg)):
        print(f"{name:>28} {mean_std([r['evaluation_psnr'] for r in group]):>16} "
              f"{mean_std([r['selection_psnr'] for r in group]):>16}")
    command = "python benchmarks/eg_denoise_study.py " + " ".join(a if a != args.images else "DIR/photos"
                                                                  for a in (argv if argv is not None else sys.argv[1:]))
    summary = {
        "model": MODEL, "metric": f"PSNR (dB) on RGB in [0,1], gaussian sigma={SIGMA:g}/255, seed 0",
        "corruption": "target swapped for another pool patch's clean patch (mismatched pairs); input from the "
                      "example's own patch",
        "host_cpu": cpu_model(), "threads": args.threads, "command": command,
        "budget": {"steps": args.steps, "batch": args.batch, "patch": args.patch, "pool_patches": args.pool_patches,
                   "lr": args.lr, "warmup": args.warmup},
        "eg_lr_sweep": [{k: r[k] for k in ("eg_lr", "selection_psnr", "heldout_psnr", "weight_ratio_corrupted_to_clean",
                                           "corrupted_share_of_lowest_weights", "effective_examples")} for r in sweep],
        "eg_lr_chosen": chosen,
        "evaluation_psnr": {"plain": {"mean": float(np.mean([r["evaluation_psnr"] for r in plain])),
                                      "std": float(np.std([r["evaluation_psnr"] for r in plain]))},
                            "eg": {"mean": float(np.mean([r["evaluation_psnr"] for r in eg])),
                                   "std": float(np.std([r["evaluation_psnr"] for r in eg]))}},
        "rows": rows, "clean_reference": reference, "wall_seconds": round(time.time() - started, 1),
        "train_seconds_all_runs": round(sum({r["run"]: r["train_seconds"] for r in sweep + rows + reference}.values()), 1),
    }
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
