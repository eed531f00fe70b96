"""The TIP recipe: instructions, partial-restoration targets, and the adaptor's training.

Each training example is a clean patch degraded by Gaussian blur (sigma_b px) and/or
Gaussian noise (sigma_n), and an instruction drawn to match it (or, one time in five, any
instruction). What an instruction removes is physical, because Gaussian blurs and
Gaussian noises compose in quadrature: asked to remove noise of sigma r from noise of
sigma s, the target keeps the same noise scaled to sqrt(s^2 - r^2); asked to remove r px
of blur from sigma_b px, the target is the clean patch blurred by sqrt(sigma_b^2 - r^2).
A blind instruction ("remove the noise", "remove all degradation") asks for all of it;
the strength s (0 to 1, in words at the end) scales every request. An instruction about
noise leaves the blur alone, and the other way round. So one model learns denoising,
deblurring, both, how much, and how strongly, and the instruction-following study has a
ground truth for every request.

Training: the prior frozen, the text encoder and adaptor trained together (AdamW, EMA,
checkpoints), full-restoration instructions alone for the first ``full_steps`` steps, then
the whole mix (every draw of step k seeded by (seed, k), so a resumed run equals an unbroken one). ``python -m edgezoo.zoo.train_tip --images DIR --out RUN``.
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from edgezoo.files import atomic_write_text
from edgezoo.tasks.instructions import MAX_TOKENS, tokenize
from edgezoo.zoo.data import PatchSampler, load_photo_pool
from edgezoo.zoo.tip import TipRestorer, build
from edgezoo.zoo.train import charbonnier
from edgezoo.zoo.train_conditional import TrainingPhase
from edgezoo.zoo.variants.tip import TINY, TipConfig
from edgezoo.zoo.weights import load_weights, save_weights

NOISE_RANGE = (5.0, 50.0)  # sigma on the 0-255 scale
BLUR_RANGE = (0.5, 3.0)  # Gaussian sigma in pixels
KINDS = ("noise", "blur", "both")

# what an instruction asks for: which degradations, and whether it states amounts
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "noise": ("denoise, sigma {n}", "remove noise of sigma {n}", "denoise with sigma {n}",
              "remove the noise, sigma {n}", "reduce noise by sigma {n}"),
    "noise-blind": ("remove the noise", "denoise", "denoise the photo", "remove noise", "clean up the grain"),
    "blur": ("remove blur of {b} px", "deblur {b} px", "remove the blur, {b} pixels", "sharpen by {b} px",
             "deblur with radius {b}"),
    "blur-blind": ("remove the blur", "deblur", "sharpen the photo", "sharpen", "fix the blurriness"),
    "both": ("denoise sigma {n} and remove blur of {b} px", "remove blur of {b} px and noise of sigma {n}",
             "deblur {b} px and denoise sigma {n}"),
    "all": ("remove all degradation", "restore the photo", "restore", "fix everything", "remove all degradations"),
}
_MATCHING = {"noise": ("noise", "noise-blind"), "blur": ("blur", "blur-blind"), "both": ("both", "all")}


@dataclass(frozen=True)
class Instruction:
    """One drawn instruction: its text, and the noise sigma and blur px it removes from
    the example it was drawn for (after capping at what is there, strength included)."""

    text: str
    strength: float | None
    remove_noise: float
    remove_blur: float


def requested_removal(family: str, noise: float, blur: float, said_noise: float | None,
                      said_blur: float | None, strength: float | None) -> tuple[float, float]:
    """(noise sigma, blur px) an instruction of ``family`` removes from an example with
    ``noise`` and ``blur``: the stated amount (blind: all there is), times the strength,
    capped at what is there; zero for what the family does not name."""
    s = 1.0 if strength is None else strength
    wants_noise = family in ("noise", "noise-blind", "both", "all")
    wants_blur = family in ("blur", "blur-blind", "both", "all")
    r_noise = (noise if said_noise is None else said_noise) * s if wants_noise else 0.0
    r_blur = (blur if said_blur is None else said_blur) * s if wants_blur else 0.0
    return min(r_noise, noise), min(r_blur, blur)


def draw_example(rng: np.random.Generator, full: bool = False) -> tuple[float, float, Instruction]:
    """(noise sigma, blur px, instruction) of one training example; ``full``: an
    instruction that matches the degradation and asks for all of it (true amounts, no
    strength), as the curriculum's first phase draws them."""
    kind = KINDS[rng.integers(len(KINDS))]
    noise = float(rng.uniform(*NOISE_RANGE)) if kind in ("noise", "both") else 0.0
    blur = float(rng.uniform(*BLUR_RANGE)) if kind in ("blur", "both") else 0.0
    families = _MATCHING[kind] if full or rng.random() < 0.8 else tuple(_TEMPLATES)
    family = families[rng.integers(len(families))]
    template = _TEMPLATES[family][rng.integers(len(_TEMPLATES[family]))]

    def said(true: float, lo_hi: tuple[float, float], digits: int) -> float:
        # the true amount half the time, else anything up to a little over it
        value = true if true > 0 and (full or rng.random() < 0.5) else rng.uniform(0.0, 1.2 * (true or lo_hi[1]))
        return round(max(value, 10.0 ** -digits), digits)

    said_noise = said(noise, NOISE_RANGE, 0) if "{n}" in template else None
    said_blur = said(blur, BLUR_RANGE, 1) if "{b}" in template else None
    strength = None if full or rng.random() < 0.5 else round(float(rng.uniform(0.0, 1.0)), 2)
    text = template.format(n=f"{said_noise:g}" if said_noise is not None else "",
                           b=f"{said_blur:g}" if said_blur is not None else "")
    r_noise, r_blur = requested_removal(family, noise, blur, said_noise, said_blur, strength)
    return noise, blur, Instruction(text, strength, r_noise, r_blur)


BLUR_RADIUS = 9  # the blur kernels span +-9 px: 3 sigma of the widest training blur


def gaussian_taps(sigmas: torch.Tensor, radius: int = BLUR_RADIUS) -> torch.Tensor:
    """(len(sigmas), 2 * radius + 1) normalised 1-D Gaussian taps, one row per sigma in
    px (0: the identity, a single one at the centre). A blur's 2-D kernel is the outer
    product of its row with itself."""
    offsets = torch.arange(-radius, radius + 1, dtype=sigmas.dtype, device=sigmas.device)
    kernels = torch.exp(-0.5 * (offsets / sigmas.clamp(min=1e-3).view(-1, 1)) ** 2)
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    delta = (offsets == 0).to(sigmas.dtype).expand_as(kernels)
    return torch.where((sigmas > 0).view(-1, 1), kernels, delta)


def gaussian_blur(images: torch.Tensor, sigmas: torch.Tensor, radius: int = BLUR_RADIUS) -> torch.Tensor:
    """Each image blurred by its own isotropic Gaussian of ``sigmas`` px (0: unchanged),
    separably (:func:`gaussian_taps`), reflect-padded."""
    n, c, h, w = images.shape
    k = gaussian_taps(sigmas.to(images.dtype), radius).repeat_interleave(c, dim=0)  # (n*c, K)
    x = images.reshape(1, n * c, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(n * c, 1, 1, -1), groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(n * c, 1, -1, 1), groups=n * c)
    return x.reshape(n, c, h, w)


def degrade_and_target(clean: torch.Tensor, noise: torch.Tensor, blur: torch.Tensor, remove_noise: torch.Tensor,
                       remove_blur: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(degraded, target) of a batch: ``noise`` sigmas on the 0-255 scale and ``blur``
    px per example, and the amounts each instruction removes (see the module doc)."""
    eta = torch.randn(clean.shape, generator=generator, dtype=clean.dtype).to(clean.device)
    view = (-1, 1, 1, 1)
    degraded = gaussian_blur(clean, blur) + (noise / 255.0).view(view) * eta
    kept_blur = torch.sqrt((blur ** 2 - remove_blur ** 2).clamp(min=0.0))
    kept_noise = torch.sqrt((noise ** 2 - remove_noise ** 2).clamp(min=0.0))
    target = gaussian_blur(clean, kept_blur) + (kept_noise / 255.0).view(view) * eta
    return degraded, target


def encode_instructions(instructions: list[Instruction]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and numbers of a batch of instructions, as the runtime tokenizes them."""
    pairs = [tokenize(i.text, i.strength, MAX_TOKENS) for i in instructions]
    return (torch.from_numpy(np.concatenate([p[0] for p in pairs])),
            torch.from_numpy(np.concatenate([p[1] for p in pairs])))


@dataclass
class TipRecipe:
    """The adaptor's training options (``phase`` names it for the shared trainer)."""

    phase: str = "adaptor"
    steps: int = 6000
    batch: int = 8
    patch: int = 64
    lr: float = 1e-3
    warmup: int = 200
    ema: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    holdout_photos: int = 2
    max_seconds: float | None = None
    # the first steps see only full-restoration instructions: mixed in from the start,
    # partial requests and mismatched instructions teach "change nothing" before
    # deblurring is learnt (measured: no deblurring at all after 2,000 mixed steps)
    full_steps: int = 2000


class TipBatches:
    """Step k's batch, drawn from (seed, k) alone: patches, degradations, instructions."""

    def __init__(self, photos: list[np.ndarray], recipe: TipRecipe) -> None:
        self.photos, self.recipe = photos, recipe

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(degraded, target, token ids, numbers) of step ``step``."""
        seed = (self.recipe.seed, step)
        clean = torch.from_numpy(PatchSampler(self.photos, self.recipe.patch, seed).batch(self.recipe.batch))  # type: ignore[arg-type]
        rng = np.random.default_rng((self.recipe.seed, step, 1))
        full = step < self.recipe.full_steps
        drawn = [draw_example(rng, full) for _ in range(self.recipe.batch)]
        as_tensor = lambda values: torch.tensor(values, dtype=torch.float32)  # noqa: E731
        generator = torch.Generator().manual_seed(self.recipe.seed * 1_000_003 + step)
        degraded, target = degrade_and_target(
            clean, as_tensor([d[0] for d in drawn]), as_tensor([d[1] for d in drawn]),
            as_tensor([d[2].remove_noise for d in drawn]), as_tensor([d[2].remove_blur for d in drawn]), generator)
        tokens, numbers = encode_instructions([d[2] for d in drawn])
        return degraded, target, tokens, numbers


SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "tip-tiny-restore.safetensors"  # prior + control, as shipped


def control_weights(run: str | Path) -> Path:
    """The trained text encoder and adaptor (EMA): ``RUN/tip.safetensors``."""
    return Path(run) / "tip.safetensors"


def load_tip(run_or_weights: str | Path | None = None, cfg: TipConfig = TINY) -> TipRestorer:
    """A TIP model: None, the shipped one (``create_model("tip-tiny-restore")``); a run
    folder, or a file of its text encoder and adaptor, on the shipped prior."""
    if run_or_weights is None:
        from edgezoo.zoo.registry import create_model

        return create_model("tip-tiny-restore")  # type: ignore[return-value]
    model = build(cfg)
    path = Path(run_or_weights)
    load_weights(model.control(), control_weights(path) if path.is_dir() else path)
    return model.eval()


def train_tip(images: list[str | Path], run: str | Path, recipe: TipRecipe, cfg: TipConfig = TINY,
              device: str = "cpu", log: Callable[[str], None] = print) -> dict:
    """Train (or resume) the adaptor and text encoder into ``RUN`` (``last.pt``,
    ``log.jsonl``, ``ema.safetensors``, ``tip.safetensors``, ``record.json``)."""
    dev = torch.device(device)
    torch.manual_seed(recipe.seed)
    photos = load_photo_pool([str(p) for p in images])
    if len(photos) <= recipe.holdout_photos:
        raise ValueError(f"{len(photos)} photos leave none to train on after holding out {recipe.holdout_photos}")
    batches = TipBatches(photos[:-recipe.holdout_photos] if recipe.holdout_photos else photos, recipe)
    model = build(cfg).to(dev)
    control = model.control()
    run = Path(run)
    phase = TrainingPhase(control, [p for p in control.parameters() if p.requires_grad], recipe, run, dev, log)

    def loss_at(step: int) -> torch.Tensor:
        degraded, target, tokens, numbers = (t.to(dev) for t in batches(step))
        return charbonnier(model(degraded, tokens, numbers), target)

    phase.run(loss_at, dev)
    save_weights(phase.ema, control_weights(run))
    record = {"recipe": asdict(recipe), "config": asdict(cfg), "steps": phase.step, "seconds": round(phase.spent, 1),
              "device": f"{device} ({platform.machine()}, {torch.get_num_threads()} threads)",
              "trainable_params": sum(p.numel() for p in control.parameters()),
              "prior_params": sum(p.numel() for p in model.net.prior.parameters())}
    atomic_write_text(run / "record.json", json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of clean training photos")
    parser.add_argument("--out", required=True, help="the run's folder (resumed when it has last.pt)")
    defaults = TipRecipe()
    for name in ("steps", "batch", "patch", "warmup", "seed", "checkpoint_every"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--full-steps", type=int, default=defaults.full_steps,
                        help="the first steps, with full-restoration instructions only")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = TipRecipe(steps=args.steps, batch=args.batch, patch=args.patch, warmup=args.warmup, seed=args.seed,
                       checkpoint_every=args.checkpoint_every, lr=args.lr, full_steps=args.full_steps)
    record = train_tip([args.images], args.out, recipe, device=args.device)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

__all__ = ["Instruction", "SHIPPED", "TipBatches", "TipRecipe", "control_weights", "degrade_and_target", "draw_example",
           "encode_instructions", "gaussian_blur", "gaussian_taps", "load_tip", "requested_removal", "train_tip"]
