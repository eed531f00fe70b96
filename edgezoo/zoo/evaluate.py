"""Task quality on the evaluation photos, beside the degraded input and classical baselines.

The evaluation photos (``edgezoo.zoo.data.evaluation_images``) are never trained on.
Scores are PSNR and SSIM on RGB in [0, 1]; restored outputs are clipped to [0, 1].
:func:`evaluate_denoiser` scores denoising at several noise levels against CBM3D;
:func:`evaluate_restorer` scores any restoration task on its degradation
(:mod:`edgezoo.zoo.degradations`) against its classical baselines (:mod:`edgezoo.zoo.baselines`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edgezoo.files import atomic_write_text, cache_root
from edgezoo.manifests.schema import ImageScore, QualityResult
from edgezoo.metrics import psnr, ssim
from edgezoo.runtimes.serving import serve
from edgezoo.zoo.data import GaussianNoise, evaluation_images
from edgezoo.zoo.degradations import CONDITIONAL_DEGRADATIONS, DEGRADATIONS

EVAL_DATASET = "edgezoo-eval-9 (scikit-image and scikit-learn colour photos, centre crops up to 384 px)"

Restorer = Callable[[np.ndarray], np.ndarray]  # HxWx3 float32 in, HxWx3 float out
# tasks whose output is larger than their input: (degradation, scale); their photos'
# sides must be a multiple of the scale, and the degraded input is not scored (it is
# smaller than the photo): bicubic up-sampling stands for it
UPSCALING_TASKS = {"super-resolve": ("sr4", 4)}


def nchw_restorer(fn: Callable[[np.ndarray], np.ndarray], multiple_of: int, tile: tuple[int, int] | None = None,
                  pad_mode: str = "reflect", scale: int = 1) -> Restorer:
    """An HWC -> HWC restorer from an NCHW function, served as the runtime serves it
    (:func:`edgezoo.runtimes.serving.serve`: padded to ``multiple_of``, tiled when
    ``tile`` is given, cropped back; ``scale``: the output's sides over the input's),
    so a score is what a runtime user gets."""

    def restore(image: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        return serve(fn, batch, multiple_of, tile, pad_mode=pad_mode, scale=scale)[0].transpose(1, 2, 0)

    return restore


def torch_restorer(model: torch.nn.Module, multiple_of: int | None = None,
                   tile: tuple[int, int] | None = None) -> Restorer:
    """Wrap a PyTorch model as an HWC -> HWC function (no clipping), served inside its
    contract: reflect-padded to ``multiple_of`` (default: the model config's) and cropped
    back, or tiled at ``tile``."""
    if multiple_of is None:
        cfg = getattr(model, "cfg", None)
        if cfg is None or not hasattr(cfg, "multiple_of"):
            raise ValueError(f"{type(model).__name__} has no cfg.multiple_of: pass multiple_of")
        multiple_of = int(cfg.multiple_of)

    @torch.no_grad()
    def run(batch: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(batch)).numpy()

    return nchw_restorer(run, multiple_of, tile)


def bm3d_restorer(sigma: float) -> Restorer:
    """CBM3D (the ``bm3d`` package) told the true noise level: the classical baseline."""
    import bm3d

    return lambda image: bm3d.bm3d_rgb(image, sigma / 255.0)


def _score(clean: np.ndarray, result: np.ndarray) -> ImageScore:
    result = np.clip(result, 0.0, 1.0)
    return ImageScore(psnr_db=round(psnr(clean, result), 3), ssim=round(ssim(clean, result), 4))


def _mean(scores: dict[str, ImageScore]) -> ImageScore:
    return ImageScore(
        psnr_db=round(float(np.mean([s.psnr_db for s in scores.values()])), 3),
        ssim=round(float(np.mean([s.ssim for s in scores.values()])), 4),
    )


def _baseline_cache() -> Path:
    return cache_root() / "baselines"


def baseline_version(name: str) -> str:
    """The installed version of the package behind a classical baseline: part of the
    cache key, so an upgrade that changes its output is not served stale figures."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version({"cbm3d": "bm3d"}.get(name, name))
    except PackageNotFoundError:
        return "unknown"


def images_digest(images: dict[str, np.ndarray]) -> str:
    """sha256 over the names, shapes and pixel bytes of ``images`` (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(images):
        array = np.ascontiguousarray(images[name], dtype=np.float32)
        digest.update(json.dumps([name, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _degraded(images: dict[str, np.ndarray], degradation: Callable, seed: int, names: set[str] | None):
    """(name, clean, degraded, info) in name order; image ``i`` of the sorted set is
    degraded with ``default_rng(seed + i)``, also when ``names`` picks a subset (so one
    photo's score can be recomputed alone)."""
    for i, (name, clean) in enumerate(sorted(images.items())):
        if names is None or name in names:
            degraded, info = degradation(clean, np.random.default_rng(seed + i))
            yield name, clean, degraded, info


def _noisy(images: dict[str, np.ndarray], sigma: float, seed: int, names: set[str] | None):
    """(name, clean, noisy) as :func:`_degraded` gives them for Gaussian noise of ``sigma``."""
    for name, clean, noisy, _ in _degraded(images, lambda x, rng: DEGRADATIONS["denoise"](x, rng, sigma=sigma),
                                           seed, names):
        yield name, clean, noisy


def _score_examples(restorer: Restorer, examples, input_name: str,
                    baselines: dict[str, Callable[[np.ndarray, dict], np.ndarray]], what: str,
                    progress: Callable[[str], None] | None) -> tuple[dict[str, ImageScore], dict[str, dict[str, ImageScore]]]:
    """Per-image scores of ``restorer``, of the degraded input (under ``input_name``) and
    of each baseline (told the degradation's info) on ``examples`` ((name, clean,
    degraded, info) tuples): (model's, baselines' by name)."""
    per_image: dict[str, ImageScore] = {}
    per_baseline: dict[str, dict[str, ImageScore]] = {input_name: {}, **{k: {} for k in baselines}}
    for name, clean, degraded, info in examples:
        per_image[name] = _score(clean, restorer(degraded))
        if degraded.shape == clean.shape:  # a smaller input (super-resolution) has its bicubic baseline instead
            per_baseline[input_name][name] = _score(clean, degraded)
        for baseline, restore in baselines.items():
            per_baseline[baseline][name] = _score(clean, restore(degraded, info))
        if progress:
            progress(f"{what}: {name} {per_image[name].psnr_db:.2f} dB")
    return per_image, per_baseline


def _result(degradation: str, seed: int, per_image: dict[str, ImageScore],
            per_baseline: dict[str, dict[str, ImageScore]]) -> QualityResult:
    return QualityResult(
        dataset=EVAL_DATASET, degradation=degradation, seed=seed, mean=_mean(per_image), per_image=per_image,
        baselines={k: _mean(v) for k, v in per_baseline.items() if v},
        baselines_per_image={k: v for k, v in per_baseline.items() if v},
    )


def score_degradation(restorer: Restorer, images: dict[str, np.ndarray], degradation: Any, seed: int = 0,
                      baselines: dict[str, Callable[[np.ndarray, dict], np.ndarray]] | None = None, what: str = "",
                      names: set[str] | None = None, progress: Callable[[str], None] | None = None) -> QualityResult:
    """Score ``restorer`` on ``images`` degraded by ``degradation`` (photo ``i`` of the
    sorted set with ``default_rng(seed + i)``; a callable (clean, rng) -> (degraded, info)
    with a ``label``), beside the degraded input and ``baselines`` (told the info);
    ``what`` labels the progress lines."""
    per_image, per_baseline = _score_examples(restorer, _degraded(images, degradation, seed, names), "degraded",
                                              baselines or {}, what or degradation.label, progress)
    return _result(degradation.label, seed, per_image, per_baseline)


def score_baseline(name: str, restorer: Restorer, images: dict[str, np.ndarray], sigma: float, seed: int,
                   names: set[str] | None = None) -> dict[str, ImageScore]:
    """Per-image scores of a classical baseline, cached on disk: they depend only on
    the images, the noise, the baseline and its package version, and BM3D takes
    seconds per photo."""
    key = hashlib.sha256(json.dumps(
        [name, baseline_version(name), float(sigma), int(seed), images_digest(images), sorted(names) if names else None]
    ).encode()).hexdigest()[:16]
    cache = _baseline_cache() / f"{name}-{key}.json"
    if cache.is_file():
        return {k: ImageScore(**v) for k, v in json.loads(cache.read_text()).items()}
    scores = {image_name: _score(clean, restorer(noisy))
              for image_name, clean, noisy in _noisy(images, sigma, seed, names)}
    atomic_write_text(cache, json.dumps({k: v.model_dump() for k, v in scores.items()}))
    return scores


def evaluate_denoiser(
    restorer: Restorer,
    sigmas: tuple[float, ...] = (15, 25, 50),
    seed: int = 0,
    baselines: bool = True,
    images: dict[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
    names: set[str] | None = None,
) -> list[QualityResult]:
    """Score ``restorer`` on every evaluation photo at each noise level.

    Parameters
    ----------
    restorer : callable
        HxWx3 float32 noisy image -> restored image.
    sigmas : tuple of float
        Gaussian noise levels on the 0-255 scale.
    seed : int
        Image ``i`` (sorted by name) gets noise from ``default_rng(seed + i)``.
    baselines : bool
        Also score the noisy input and CBM3D (needs the ``bm3d`` package).
    images : dict, optional
        Name -> HxWx3 float32 clean image (default: :func:`evaluation_images`).
    names : set of str, optional
        Score only these images (noise as in the full set); means cover these only.

    Returns
    -------
    list of QualityResult
        One per sigma, with per-image scores, the mean and the baselines' means.
    """
    images = images if images is not None else evaluation_images()
    if names is not None and not names <= set(images):
        raise ValueError(f"no evaluation image named {', '.join(sorted(names - set(images)))}")
    results = []
    for sigma in sigmas:
        examples = ((name, clean, noisy, None) for name, clean, noisy in _noisy(images, sigma, seed, names))
        per_image, per_baseline = _score_examples(restorer, examples, "noisy", {}, f"sigma {sigma:g}", progress)
        if baselines:
            per_baseline["cbm3d"] = score_baseline("cbm3d", bm3d_restorer(sigma), images, sigma, seed, names)
        results.append(_result(GaussianNoise(sigma).label, seed, per_image, per_baseline))
    return results


def evaluate_restorer(
    task: str,
    restorer: Restorer,
    images: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    baselines: bool = True,
    names: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> QualityResult:
    """Score ``restorer`` on every evaluation photo degraded as ``task``'s inputs are
    (:data:`edgezoo.zoo.degradations.DEGRADATIONS`), beside the degraded input and the
    task's classical baselines.

    Parameters
    ----------
    task : str
        denoise, deblur, derain, dehaze or enhance, or super-resolve (x4: each photo
        down-sampled by :data:`UPSCALING_TASKS`' degradation, bicubic up-sampling its
        baseline, the input not scored). Denoising is :func:`evaluate_denoiser` at
        sigma 25 (the same figures, CBM3D its baseline).
    restorer : callable
        HxWx3 float32 degraded image -> restored image.
    images : dict, optional
        Name -> HxWx3 float32 clean image (default: :func:`evaluation_images`).
    seed : int
        Image ``i`` (sorted by name) is degraded with ``default_rng(seed + i)``: its
        parameters are drawn from the task's ranges per image.
    baselines : bool
        Also score the task's classical baselines (:data:`edgezoo.zoo.baselines.BASELINES`);
        the degraded input is always scored, as ``degraded`` (``noisy`` for denoising).
    names : set of str, optional
        Score only these images (degraded as in the full set); means cover these only.

    Returns
    -------
    QualityResult
        Per-image scores, the mean, and the input's and baselines' scores.
    """
    from edgezoo.zoo.baselines import BASELINES, CONDITIONAL_BASELINES

    known = [*DEGRADATIONS, *UPSCALING_TASKS]
    if task not in known:
        raise ValueError(f"no degradation for task '{task}'; there are {', '.join(known)}")
    if task == "denoise":
        sigma = float(DEGRADATIONS["denoise"].params["sigma"])
        return evaluate_denoiser(restorer, sigmas=(sigma,), seed=seed, baselines=baselines, images=images,
                                 progress=progress, names=names)[0]
    images = images if images is not None else evaluation_images()
    if names is not None and not names <= set(images):
        raise ValueError(f"no evaluation image named {', '.join(sorted(names - set(images)))}")
    if task in UPSCALING_TASKS:
        name, scale = UPSCALING_TASKS[task]
        odd = sorted(n for n, im in images.items() if im.shape[0] % scale or im.shape[1] % scale)
        if odd:
            raise ValueError(f"x{scale} evaluation needs photo sides that are a multiple of {scale}: {', '.join(odd)}")
        degradation, chosen = CONDITIONAL_DEGRADATIONS[name], CONDITIONAL_BASELINES[name]
    else:
        degradation, chosen = DEGRADATIONS[task], BASELINES[task]
    return score_degradation(restorer, images, degradation, seed, chosen if baselines else {}, task, names, progress)
