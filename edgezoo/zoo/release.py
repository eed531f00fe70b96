"""Ship trained weights: copy them into the package and write the model's manifest.

``python scripts/release_weights.py MODEL RUN_DIR`` calls :func:`release`. The manifest
it writes (``edgezoo/manifests/MODEL.yaml``) records the weights' sha256, where and how
they were trained, the model's forward FLOPs, and its quality measured here on the
evaluation photos (never trained on) beside the noisy input and CBM3D.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from edgezoo.files import size_bytes
from edgezoo.manifests import PACKAGED_DIR, Manifest
from edgezoo.manifests.schema import Paper, Weights
from edgezoo.zoo.registry import create_model, get_entry
from edgezoo.zoo.weights import WEIGHTS_DIR, load_weights, save_weights

PHOTO_POOL = (
    "photos of the Debian packages lomiri-wallpapers-16.04 and mate-backgrounds (nature set), "
    "fetched by scripts/fetch_photos.sh; the last 2 held out for checkpoint selection"
)
WEIGHTS_LICENCE = (
    "Apache-2.0; trained on photos under CC-BY-4.0, CC-BY-SA-4.0, CC0 and GPL-2+ "
    "(credits: /usr/share/doc/{lomiri-wallpapers-16.04,mate-backgrounds}/copyright)"
)


def gflops_per_mpix(model: torch.nn.Module, height: int = 256, width: int = 256, channels: int = 3) -> float:
    """Forward GFLOPs per megapixel (a multiply-add counts 2), counted by PyTorch's
    ``FlopCounterMode`` on one ``height`` x ``width`` image."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, channels, height, width)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return round(counter.get_total_flops() / 1e9 / (height * width / 1e6), 2)


def _recipe(run_dir: Path) -> tuple[str, int | None]:
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        return "unknown", None
    cfg = json.loads(config_file.read_text())
    recipe = (
        f"edgezoo train {cfg['model']} --images DIR --steps {cfg['steps']} (batch {cfg['batch']}, "
        f"{cfg['patch']} px patches, Gaussian sigma uniform in [0, {cfg['sigma_max']:g}], multiscale Charbonnier, "
        f"AdamW lr {cfg['lr']:g} cosine to {cfg['min_lr']:g}, seed {cfg['seed']}"
        + (f", on {cfg['device']}" if cfg.get("device", "cpu") != "cpu" else "")
        + (", from the weights of an earlier run" if cfg.get("init_from") else "")
        + ")"
    )
    if cfg.get("extra", {}).get("lineage"):
        recipe += f"; {cfg['extra']['lineage']}"
    return recipe, int(cfg["steps"])


def _best_step(run_dir: Path) -> int | None:
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return None
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    best = max(records, key=lambda r: r.get("val_psnr_sigma25", float("-inf")), default=None)
    return int(best["step"]) if best else None


def release(
    name: str,
    run_dir: str | Path,
    sigmas: tuple[float, ...] = (15, 25, 50),
    progress: Callable[[str], None] | None = None,
    dtype: str = "float32",
) -> Manifest:
    """Package ``RUN_DIR/best.safetensors`` as the shipped weights of ``name``.

    Parameters
    ----------
    name : str
        A registered denoising model.
    run_dir : path
        A training run folder (``edgezoo train`` output for this model).
    sigmas : tuple of float
        Noise levels at which quality is measured.
    dtype : {"float32", "float16"}
        How the shipped file stores the weights; quality is measured on the model as
        loaded from that file, so a float16 file's rounding is in the figures.

    Returns
    -------
    Manifest
        The manifest written to ``edgezoo/manifests/NAME.yaml``.
    """
    from edgezoo.export.contract import io_contract, preprocessing
    from edgezoo.export.folder import config_dict
    from edgezoo.zoo.evaluate import evaluate_denoiser, torch_restorer

    run_dir = Path(run_dir)
    entry = get_entry(name)
    model = create_model(name, pretrained=False).eval()
    load_weights(model, run_dir / "best.safetensors")
    target = WEIGHTS_DIR / f"{name}.safetensors"
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
    sha = save_weights(model, target, metadata={"model": name}, dtype=getattr(torch, dtype))
    load_weights(model, target, sha)  # score what ships
    recipe, steps = _recipe(run_dir)
    best_step = _best_step(run_dir)
    quality = evaluate_denoiser(torch_restorer(model), sigmas=sigmas, progress=progress)
    note = f"checkpoint of step {best_step} (best on held-out pool photos)" if best_step else None
    for result in quality:
        result.note = note
    params = sum(p.numel() for p in model.parameters())
    manifest = Manifest(
        name=name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url),
        config=config_dict(entry, model), params=params,
        gflops_per_mpix=gflops_per_mpix(model, *entry.export_size, entry.input_spec.channels),
        io=io_contract(entry, *entry.export_size, dynamic=True), preprocessing=preprocessing(entry),
        weights=Weights(
            file=target.name, sha256=sha, bytes=size_bytes(target), params=params,
            trained_on=PHOTO_POOL, recipe=recipe, licence=WEIGHTS_LICENCE, steps=best_step or steps, dtype=dtype,
        ),
        quality=quality,
    )
    manifest.save(PACKAGED_DIR / f"{name}.yaml")
    return manifest
