"""What exponentiated-gradient reweighting buys under label noise, same budget:
Fashion-MNIST with a share of the training labels flipped at random, a classifier trained
with and without ``--reweight eg``, test accuracy on the clean official test labels.

    python benchmarks/eg_study.py [--noise 0.2,0.4] [--seeds 0,1,2] [--epochs 3] [--eg-lr 0.5] [--train-size N]
        [--out runs/eg] [--json-out benchmarks/results/eg_fmnist.json]

The selection split keeps its clean labels (it chooses the epoch), the test split is
only scored. The classifier is the MaxViT of ``maxvit-tiny-fmnist`` made lighter so that
the grid fits a CPU budget. Runs resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "maxvit-tiny-fmnist"
LIGHTER = dict(stem_channels=8, channels=(16, 32), depths=(1, 1))


def run_one(noise: float, reweight: str, seed: int, args: argparse.Namespace) -> dict:
    from edgezoo.zoo.fashion_mnist import flip_labels, load_split
    from edgezoo.zoo.train_classifier import ClassifierTrainConfig, best_checkpoint_accuracy, train_classifier

    images, labels = load_split("train")
    if args.train_size:  # a seeded subset, the same for every run of the grid
        keep = np.random.default_rng(7).permutation(len(images))[:args.train_size]
        images, labels = images[keep], labels[keep]
    noisy, flipped = flip_labels(labels, noise, seed=1000 + seed)
    data = {"train": (images, noisy), "selection": load_split("selection")}
    cfg = ClassifierTrainConfig(model=MODEL, out=args.out, epochs=args.epochs, seed=seed, threads=args.threads,
                                run_name=f"{MODEL}-noise{noise:g}-{reweight}-seed{seed}", overrides=LIGHTER,
                                reweight=reweight, eg_lr=args.eg_lr, label_smoothing=0.0)
    summary = train_classifier(cfg, data, log=lambda line: print(line, flush=True))
    test = best_checkpoint_accuracy(summary, MODEL, LIGHTER, *load_split("test"))
    row = {"noise": noise, "reweight": reweight, "seed": seed, "epochs": args.epochs, "eg_lr": args.eg_lr,
           "train_images": len(images),
           "selection_top1": summary["best_selection_top1"], "test_top1": round(test, 2)}
    if "example_weights" in summary:
        w = summary["example_weights"]
        row["weight_ratio_flipped_to_clean"] = round(float(w[flipped].mean() / w[~flipped].mean()), 3)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", default="0.2,0.4")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eg-lr", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images (default: all 55,000)")
    parser.add_argument("--out", default="runs/eg")
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks/results/eg_fmnist.json"))
    args = parser.parse_args(argv)
    rows = []
    for noise in (float(n) for n in args.noise.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            for reweight in ("none", "eg"):
                rows.append(run_one(noise, reweight, seed, args))
                print(json.dumps(rows[-1]), flush=True)
    print(f"{'noise':>6} {'plain':>16} {'EG':>16}")
    for noise in sorted({r["noise"] for r in rows}):
        cells = []
        for reweight in ("none", "eg"):
            acc = [r["test_top1"] for r in rows if r["noise"] == noise and r["reweight"] == reweight]
            cells.append(f"{np.mean(acc):.2f} ± {np.std(acc):.2f}")
        print(f"{noise:>6.0%} {cells[0]:>16} {cells[1]:>16}")
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps({"classifier": LIGHTER, "host": platform.processor() or platform.machine(),
                                               "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
