"""TIP at the edge, measured (issue 12, item 4): does the instruction steer the frozen prior?

    python -m edgezoo.zoo.train_tip --images DIR/photos --out RUN       # the adaptor and text encoder
    python benchmarks/tip_study.py --run RUN [--out benchmarks/results/tip_study.json]

On the nine evaluation photos (never trained on; centre crops up to 384 px), each
degraded once per setting with a fixed seed, the PyTorch model:

1. **zero-initialised adaptor**: an untrained adaptor's output against the prior's
   (the largest absolute difference over every photo and a few instructions; 0 expected);
2. **quality**: PSNR/SSIM on noise (sigma 25), Gaussian blur (2 px) and both (sigma 15 and
   1.5 px), TIP told the amounts, told blindly, and told "remove all degradation",
   beside the degraded input, the task models (``maxim-tiny-denoise``, which is TIP's
   frozen prior, and ``maxim-tiny-deblur``) and Wiener deconvolution told the true kernel;
3. **strength**: "remove the noise" on sigma 25 and "remove the blur" on 2 px at strength
   0, 0.1, ..., 1: the noise left (RMS of output - clean, 0-255 scale) should fall and
   the sharpness (mean gradient magnitude over the clean photo's) should rise, monotonically;
4. **instruction following**: "denoise, sigma r" on sigma 50 for r = 5..50 and
   "remove blur of r px" on 3 px for r = 0.5..3: the removal achieved (noise: sqrt(50^2 -
   left^2); blur: sqrt(3^2 - b^2) with b the Gaussian blur of the clean photo nearest
   the output) against the removal asked, as Pearson's r (target >= 0.9).
Writes JSON with the device profile and the run's record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgezoo.files import atomic_write_text  # noqa: E402
from edgezoo.metrics import psnr, ssim  # noqa: E402
from edgezoo.runtimes.profile import device_profile  # noqa: E402
from edgezoo.tasks.instructions import tokenize  # noqa: E402
from edgezoo.zoo.baselines import wiener  # noqa: E402
from edgezoo.zoo.data import evaluation_images  # noqa: E402
from edgezoo.zoo.registry import create_model  # noqa: E402
from edgezoo.zoo.tip import build  # noqa: E402
from edgezoo.zoo.train_tip import SHIPPED, gaussian_blur, gaussian_taps, load_tip  # noqa: E402
from edgezoo.zoo.variants.tip import TINY  # noqa: E402

SEED = 0
SETTINGS = {  # name: (noise sigma, blur px)
    "noise-25": (25.0, 0.0),
    "blur-2": (0.0, 2.0),
    "noise-15+blur-1.5": (15.0, 1.5),
}
INSTRUCTIONS = {
    "noise-25": ("denoise, sigma 25", "remove the noise", "remove all degradation"),
    "blur-2": ("remove blur of 2 px", "remove the blur", "remove all degradation"),
    "noise-15+blur-1.5": ("denoise sigma 15 and remove blur of 1.5 px", "remove all degradation"),
}
STRENGTHS = [round(0.1 * i, 1) for i in range(11)]


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))


def as_image(batch: torch.Tensor) -> np.ndarray:
    return batch[0].numpy().transpose(1, 2, 0)


def degrade(clean: np.ndarray, noise: float, blur: float, seed: int) -> np.ndarray:
    """The picture blurred by ``blur`` px then noised by ``noise`` (0-255 scale), seeded."""
    x = gaussian_blur(as_batch(clean), torch.tensor([blur]))
    rng = np.random.default_rng(seed)
    return as_image(x) + rng.normal(0.0, noise / 255.0, clean.shape).astype(np.float32)


def blur_kernel(blur: float) -> np.ndarray:
    """The 2-D kernel :func:`gaussian_blur` applies, for Wiener."""
    taps = gaussian_taps(torch.tensor([blur], dtype=torch.float64))[0].numpy()
    return np.outer(taps, taps)


def scores(clean: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    out = np.clip(out, 0.0, 1.0)
    return psnr(clean, out), ssim(clean, out)


def mean_scores(rows: list[tuple[float, float]]) -> dict[str, float]:
    return {"psnr_db": round(float(np.mean([r[0] for r in rows])), 3),
            "ssim": round(float(np.mean([r[1] for r in rows])), 4)}


def tip_runner(model: Any) -> Callable[[np.ndarray, str, float | None], np.ndarray]:
    @torch.no_grad()
    def run(image: np.ndarray, instruction: str, strength: float | None = None) -> np.ndarray:
        ids, numbers = tokenize(instruction, strength)
        return as_image(model(as_batch(image), torch.from_numpy(ids), torch.from_numpy(numbers)))
    return run


def module_runner(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    @torch.no_grad()
    def run(image: np.ndarray) -> np.ndarray:
        return as_image(model(as_batch(image)))
    return run


def pearson(asked: list[float], achieved: np.ndarray) -> float | None:
    """Pearson's r, or None when the achieved removal does not vary at all."""
    if float(np.std(achieved)) == 0.0:
        return None
    return round(float(np.corrcoef(asked, achieved)[0, 1]), 4)


def sharpness(image: np.ndarray) -> float:
    grey = image.mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def nearest_blur(clean: np.ndarray, out: np.ndarray, grid: np.ndarray) -> float:
    """The Gaussian blur (px) of ``clean`` nearest ``out`` in mean squared error."""
    base = as_batch(clean).repeat(len(grid), 1, 1, 1)
    blurred = gaussian_blur(base, torch.from_numpy(grid.astype(np.float32))).numpy()
    errors = ((blurred - as_batch(out).numpy()) ** 2).mean(axis=(1, 2, 3))
    return float(grid[int(np.argmin(errors))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=None,
                        help="a train_tip run folder or its tip.safetensors (default: the shipped tip-tiny-restore, "
                             "the weights the README measured)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/tip_study.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=0, help="first N evaluation photos (0: all nine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    photos = evaluation_images()
    if args.images:
        photos = dict(list(photos.items())[:args.images])
    model = load_tip(args.run)
    tip = tip_runner(model)
    prior = module_runner(model.net.prior)
    deblur = module_runner(create_model("maxim-tiny-deblur"))
    result: dict[str, Any] = {"device_profile": device_profile().id, "threads": args.threads, "photos": list(photos),
                              "run": str(args.run or SHIPPED)}
    record = Path(args.run or SHIPPED) / "record.json"
    if record.is_file():
        result["record"] = json.loads(record.read_text())

    # 1. an untrained adaptor is the prior, bit for bit
    untrained = tip_runner(build(TINY).eval())
    worst = 0.0
    for i, clean in enumerate(photos.values()):
        noisy = degrade(clean, 25.0, 0.0, SEED + i)
        for text in ("denoise, sigma 25", "remove all degradation"):
            worst = max(worst, float(np.abs(untrained(noisy, text) - prior(noisy)).max()))
    result["zero_init_max_abs_diff"] = worst
    print(f"zero-initialised adaptor vs prior: max |diff| {worst}")

    # 2. quality beside the input, the task models and Wiener with the true kernel
    quality: dict[str, Any] = {}
    for setting, (noise, blur) in SETTINGS.items():
        rows: dict[str, list[tuple[float, float]]] = {}
        for i, clean in enumerate(photos.values()):
            degraded = degrade(clean, noise, blur, SEED + i)
            candidates = {"degraded input": degraded, "maxim-tiny-denoise (the frozen prior)": prior(degraded),
                          "maxim-tiny-deblur": deblur(degraded)}
            if blur:
                candidates["Wiener, true kernel"] = wiener(degraded, {"kernel": blur_kernel(blur), "noise": noise / 255.0})
            for text in INSTRUCTIONS[setting]:
                candidates[f'TIP "{text}"'] = tip(degraded, text)
            for name, out in candidates.items():
                rows.setdefault(name, []).append(scores(clean, out))
        quality[setting] = {name: mean_scores(r) for name, r in rows.items()}
        print(setting, json.dumps(quality[setting], indent=1))
    result["quality"] = quality

    # 3. strength: noise left falls, sharpness rises
    strength: dict[str, Any] = {"strengths": STRENGTHS}
    left, sharp = np.zeros(len(STRENGTHS)), np.zeros(len(STRENGTHS))
    for i, clean in enumerate(photos.values()):
        noisy = degrade(clean, 25.0, 0.0, SEED + i)
        blurred = degrade(clean, 0.0, 2.0, SEED + i)
        for k, s in enumerate(STRENGTHS):
            left[k] += float(np.sqrt(((tip(noisy, "remove the noise", s) - clean) ** 2).mean())) * 255.0
            sharp[k] += sharpness(tip(blurred, "remove the blur", s)) / sharpness(clean)
    left, sharp = left / len(photos), sharp / len(photos)
    strength["noise_left_rms_255"] = [round(float(v), 3) for v in left]
    strength["sharpness_over_clean"] = [round(float(v), 4) for v in sharp]
    strength["noise_left_monotonic"] = bool(np.all(np.diff(left) < 0))
    strength["sharpness_monotonic"] = bool(np.all(np.diff(sharp) > 0))
    result["strength"] = strength
    print("strength", json.dumps(strength))

    # 4. instruction following: asked against achieved removal
    following: dict[str, Any] = {}
    asks = [5.0 * k for k in range(1, 11)]
    achieved = np.zeros(len(asks))
    for i, clean in enumerate(photos.values()):
        noisy = degrade(clean, 50.0, 0.0, SEED + i)
        for k, r in enumerate(asks):
            rest = float(np.sqrt(((tip(noisy, f"denoise, sigma {r:g}") - clean) ** 2).mean())) * 255.0
            achieved[k] += np.sqrt(max(0.0, 50.0 ** 2 - rest ** 2))
    achieved /= len(photos)
    following["noise"] = {"image_sigma": 50.0, "asked": asks, "achieved": [round(float(v), 2) for v in achieved],
                          "pearson_r": pearson(asks, achieved)}
    asks_blur = [0.5 * k for k in range(1, 7)]
    grid = np.round(np.arange(0.0, 3.01, 0.05), 2)
    achieved_blur = np.zeros(len(asks_blur))
    for i, clean in enumerate(photos.values()):
        blurred = degrade(clean, 0.0, 3.0, SEED + i)
        for k, r in enumerate(asks_blur):
            kept = nearest_blur(clean, tip(blurred, f"remove blur of {r:g} px"), grid)
            achieved_blur[k] += np.sqrt(max(0.0, 9.0 - kept ** 2))
    achieved_blur /= len(photos)
    following["blur"] = {"image_px": 3.0, "asked": asks_blur, "achieved": [round(float(v), 3) for v in achieved_blur],
                         "pearson_r": pearson(asks_blur, achieved_blur)}
    result["instruction_following"] = following
    print("following", json.dumps(following))
    result["seconds"] = round(time.perf_counter() - began, 1)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
