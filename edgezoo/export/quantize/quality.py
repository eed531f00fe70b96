"""The int8 task-quality gate: an artifact's task score on the evaluation photos, run in
its own runtime, within ``QUALITY_TOLERANCE_DB`` of the fp32 artifact of the same format.

Parity alone does not bound what a user sees: 38 dB of parity against an output whose
own error is 30 dB still costs a few tenths of a dB of PSNR. The gate measures that
cost directly. Artifacts run on the photos through the runtime's one serving path
(``edgezoo.runtimes.serving.serve``: padded to the model's multiple, fixed-shape ones
tiled), the same way the runtime serves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgezoo.manifests.schema import QualityResult

QUALITY_TOLERANCE_DB = 0.3  # int8 may lose at most this much task PSNR against fp32
QUALITY_SIGMA = 25.0  # denoising is gated at sigma 25 (0-255 scale)
QUALITY_SEED = 0
GATED_TASKS = ("denoise",)  # tasks with an evaluation protocol here


@dataclass
class QualityGate:
    """The int8 artifact's score beside its fp32 sibling's."""

    artifact: str
    metric: str
    value_db: float
    fp32_db: float
    tolerance_db: float = QUALITY_TOLERANCE_DB

    @property
    def delta_db(self) -> float:
        return round(self.value_db - self.fp32_db, 3)

    @property
    def passed(self) -> bool:
        return self.value_db >= self.fp32_db - self.tolerance_db

    def message(self) -> str:
        return (
            f"{self.artifact}: task quality {self.value_db:.2f} dB ({self.metric}) is {-self.delta_db:.2f} dB below "
            f"the fp32 artifact's {self.fp32_db:.2f} dB; the int8 threshold is {self.tolerance_db:g} dB"
        )


def task_is_gated(task: str) -> bool:
    return task in GATED_TASKS


def artifact_runner(path: str | Path, fmt: str, precision: str) -> Callable[[np.ndarray], np.ndarray]:
    """``(1, 3, h, w) -> (1, 3, h, w)`` through the artifact's native runtime on CPU."""
    from edgezoo.export.capture import captured_output
    from edgezoo.runtimes.backends import backend_for_format

    with captured_output():
        runner = backend_for_format(fmt).load(path, "cpu", precision=precision)

    def run(batch: np.ndarray) -> np.ndarray:
        outputs = runner.run(np.ascontiguousarray(batch, dtype=np.float32))
        return outputs["restored"] if "restored" in outputs else next(iter(outputs.values()))  # restoration's output

    return run


def tiled_restorer(run: Callable[[np.ndarray], np.ndarray], tile_h: int, tile_w: int, align: int) -> Callable[[np.ndarray], np.ndarray]:
    """An HxWx3 -> HxWx3 restorer from a fixed-shape runner, served as the runtime
    serves it (:func:`edgezoo.runtimes.serving.serve`: padded to ``align``, tiled)."""
    from edgezoo.zoo.evaluate import nchw_restorer

    return nchw_restorer(run, align, (tile_h, tile_w))


def whole_restorer(run: Callable[[np.ndarray], np.ndarray], align: int) -> Callable[[np.ndarray], np.ndarray]:
    """An HxWx3 -> HxWx3 restorer from a dynamic-shape runner: the whole image in one call,
    reflect-padded to ``align`` and cropped back, as the runtime serves it."""
    from edgezoo.zoo.evaluate import nchw_restorer

    return nchw_restorer(run, align)


def task_quality(
    path: str | Path, fmt: str, precision: str, tile: tuple[int, int] | None, align: int,
    images: dict[str, np.ndarray] | None = None, sigma: float = QUALITY_SIGMA, seed: int = QUALITY_SEED,
) -> QualityResult:
    """Denoising PSNR/SSIM of the artifact on the evaluation photos (or ``images``) at
    ``sigma``, without the classical baselines; ``tile`` None runs each photo whole (a
    dynamic-shape artifact)."""
    from edgezoo.zoo.evaluate import evaluate_denoiser

    run = artifact_runner(path, fmt, precision)
    restorer = whole_restorer(run, align) if tile is None else tiled_restorer(run, tile[0], tile[1], align)
    return evaluate_denoiser(restorer, sigmas=(sigma,), seed=seed, baselines=False, images=images)[0]


_FP32_QUALITY: dict[tuple, QualityResult] = {}  # by file content and protocol; small, per process


def reference_quality(
    path: str | Path, fmt: str, tile: tuple[int, int] | None, align: int,
    images: dict[str, np.ndarray] | None = None, sigma: float = QUALITY_SIGMA, seed: int = QUALITY_SEED,
) -> QualityResult:
    """The fp32 artifact's score, computed once per file content and protocol (every
    int8 attempt of an export compares against it)."""
    from edgezoo.files import sha256_file

    photos = None if images is None else tuple(sorted((n, img.shape, float(img.sum())) for n, img in images.items()))
    key = (sha256_file(path), fmt, tile and tuple(tile), align, photos, sigma, seed)
    if key not in _FP32_QUALITY:
        _FP32_QUALITY[key] = task_quality(path, fmt, "fp32", tile, align, images, sigma, seed)
    return _FP32_QUALITY[key]


def gate(name: str, candidate: QualityResult, fp32: QualityResult) -> QualityGate:
    return QualityGate(artifact=name, metric=f"PSNR, {candidate.degradation}", value_db=candidate.mean.psnr_db,
                       fp32_db=fp32.mean.psnr_db)


def model_quality(
    model: Any, tile: tuple[int, int], align: int, images: dict[str, np.ndarray] | None = None,
    sigma: float = QUALITY_SIGMA, seed: int = QUALITY_SEED,
) -> QualityResult:
    """The PyTorch reference's score, tiled at ``tile`` exactly as an artifact of that
    size is: the base of the int8 gate where the folder holds no fp32 sibling."""
    import torch

    from edgezoo.export.capture import torch_threads
    from edgezoo.zoo.evaluate import evaluate_denoiser

    def run(batch: np.ndarray) -> np.ndarray:
        with torch_threads(1), torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    restorer = tiled_restorer(run, tile[0], tile[1], align)
    return evaluate_denoiser(restorer, sigmas=(sigma,), seed=seed, baselines=False, images=images)[0]
