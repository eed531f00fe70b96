"""MULLER against plain bilinear resizing, in kind (the paper's resolution study):
Fashion-MNIST test accuracy against the classifier's input side.

    python benchmarks/muller_study.py [--sides 16,12,8] [--seeds 0] [--epochs 4] [--train-size N]
        [--out runs/muller] [--json-out benchmarks/results/muller_fmnist.json]
        [--png benchmarks/results/muller_fmnist.png]

For each side and seed, the same MaxViT classifier (the same training recipe and
budget) is trained once behind the bilinear resize (MULLER with no Laplacian layers)
and once behind MULLER (two layers: four trainable scalars), jointly with the resizer.
The epoch is chosen on the 5,000-image selection split; the accuracy reported is on
the 10,000 official test images. Runs resume from their checkpoints. Needs torch and
Fashion-MNIST (``apt-get install dataset-fashion-mnist``).
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

# a lighter classifier than the shipped MaxViT, so that the whole grid fits a CPU budget
CLASSIFIER = dict(stem_channels=16, channels=(16, 32), depths=(1, 1))


def run_one(side: int, layers: int, seed: int, epochs: int, out: Path, threads: int, limit: int | None = None,
            train_size: int | None = None) -> dict:
    import dataclasses

    import torch

    from edgezoo.zoo import get_entry
    from edgezoo.zoo.fashion_mnist import load_split
    from edgezoo.zoo.train_classifier import ClassifierTrainConfig, best_checkpoint_accuracy, train_classifier
    from edgezoo.zoo.weights import load_weights

    name = f"muller-maxvit-fmnist-{side}"
    classifier = dataclasses.replace(get_entry(name).config.classifier, **CLASSIFIER)
    overrides = {"num_layers": layers, "classifier": classifier}
    run_name = f"{name}-{'muller' if layers else 'bilinear'}-seed{seed}"
    data = {s: load_split(s) for s in ("train", "selection")}
    if train_size:  # a seeded subset of the training split, the same for every run of the grid
        keep = np.random.default_rng(7).permutation(len(data["train"][0]))[:train_size]
        data["train"] = (data["train"][0][keep], data["train"][1][keep])
    if limit:  # a smoke run: the first ``limit`` images of each split
        data = {k: (v[0][:limit], v[1][:limit]) for k, v in data.items()}
    cfg = ClassifierTrainConfig(model=name, out=str(out), epochs=epochs, seed=seed, threads=threads,
                                run_name=run_name, overrides=overrides)
    summary = train_classifier(cfg, data)
    from edgezoo.zoo import create_model

    model = create_model(name, pretrained=False, **overrides)
    load_weights(model, Path(summary["run"]) / "best.safetensors")  # for its resizer's scalars
    images, labels = load_split("test")
    test = best_checkpoint_accuracy(summary, name, overrides, images[:limit] if limit else images,
                                    labels[:limit] if limit else labels)
    scalars = [round(float(v), 4) for v in torch.cat([model.resizer.scales, model.resizer.biases])]
    return {"side": side, "method": "muller" if layers else "bilinear", "seed": seed, "epochs": epochs,
            "selection_top1": summary["best_selection_top1"], "test_top1": round(test, 2), "limit": limit,
            "train_images": len(data["train"][0]),
            "resizer_scalars": scalars}


def plot(rows: list[dict], path: Path) -> None:
    """Test top-1 against input side, one line per method (PIL only: no plotting library)."""
    from PIL import Image, ImageDraw

    width, height, margin = 640, 420, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    sides = sorted({r["side"] for r in rows})
    means = {m: {s: float(np.mean([r["test_top1"] for r in rows if r["method"] == m and r["side"] == s]))
                 for s in sides} for m in ("bilinear", "muller")}
    values = [v for m in means.values() for v in m.values()]
    lo, hi = np.floor(min(values)) - 1, np.ceil(max(values)) + 1
    x_of = lambda s: margin + (s - min(sides)) / max(1, max(sides) - min(sides)) * (width - 2 * margin)  # noqa: E731
    y_of = lambda v: height - margin - (v - lo) / (hi - lo) * (height - 2 * margin)  # noqa: E731
    draw.line([(margin, margin), (margin, height - margin), (width - margin, height - margin)], fill="black")
    for s in sides:
        draw.text((x_of(s) - 8, height - margin + 8), f"{s} px", fill="black")
    for v in np.linspace(lo, hi, 5):
        draw.text((8, y_of(v) - 6), f"{v:.1f}%", fill="black")
    for row, (method, colour) in enumerate((("bilinear", (200, 80, 40)), ("MULLER", (40, 90, 200)))):
        points = [(x_of(s), y_of(means[method.lower()][s])) for s in sides]
        draw.line(points, fill=colour, width=3)
        for x, y in points:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        legend_y = margin + 10 + 18 * row  # a legend, since the two lines may coincide
        draw.line([(width - margin - 110, legend_y + 6), (width - margin - 80, legend_y + 6)], fill=colour, width=3)
        draw.text((width - margin - 72, legend_y), method, fill=colour)
    draw.text((margin, 18), "Fashion-MNIST test top-1 vs classifier input side (resized from 28 px)", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="16,12,8")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images (default: all 55,000)")
    parser.add_argument("--limit", type=int, help="use only this many images per split (a smoke run, not a result)")
    parser.add_argument("--out", default="runs/muller")
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks/results/muller_fmnist.json"))
    parser.add_argument("--png", default=str(ROOT / "benchmarks/results/muller_fmnist.png"))
    args = parser.parse_args(argv)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for side in (int(s) for s in args.sides.split(",")):
            for layers in (0, 2):
                rows.append(run_one(side, layers, seed, args.epochs, Path(args.out), args.threads, args.limit, args.train_size))
                print(json.dumps(rows[-1]), flush=True)
    print(f"{'side':>5} {'bilinear':>10} {'MULLER':>10}")
    for side in sorted({r["side"] for r in rows}, reverse=True):
        b = [r["test_top1"] for r in rows if r["side"] == side and r["method"] == "bilinear"]
        m = [r["test_top1"] for r in rows if r["side"] == side and r["method"] == "muller"]
        print(f"{side:>5} {np.mean(b):>9.2f}% {np.mean(m):>9.2f}%")
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps({"classifier": CLASSIFIER, "host": platform.processor() or platform.machine(),
                                               "rows": rows}, indent=2) + "\n")
    plot(rows, Path(args.png))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
