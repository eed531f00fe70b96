"""Calibration inputs for int8. What they are is the task protocol's
(:meth:`edgezoo.tasks.base.TaskProtocol.calibration_samples`): each sample is a dict
keyed by the called component's input names (:func:`calibration_samples`). The
functions below are restoration's: the bundled calibration photos, cut to the
artifact's size and degraded the way the task's inputs are at run time.

The photos (``edgezoo/assets/calibration``, 16 crops of 128x128 from Debian wallpaper
packages, credited in ``credits.json``) are the selection split
(:func:`edgezoo.zoo.data.selection_images`): int8 calibration and the int8 recipe choice.
The evaluation photos (:func:`edgezoo.zoo.data.evaluation_images`) are never calibrated or
chosen on: they measure the chosen artifact afterwards, and choosing there would flatter it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np

Sample = dict[str, np.ndarray]  # one calibration input: arrays by the component's input names

CALIBRATION_SEED = 0
DEFAULT_COUNT = 32
MAX_SIGMA = 50.0  # denoisers are trained and used on sigma in [0, 50] (0-255 scale)


@functools.lru_cache(maxsize=1)
def calibration_photos() -> tuple[np.ndarray, ...]:
    """The bundled calibration photos (the selection split,
    :func:`edgezoo.zoo.data.selection_images`) as HxWx3 float32 RGB in [0, 1], sorted by name."""
    from edgezoo.zoo.data import selection_images

    return tuple(selection_images().values())


def _random_view(photo: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of at most height x width, turned by a random multiple of 90° and
    maybe mirrored (natural statistics, more variety than 16 photos give)."""
    photo = np.rot90(photo, int(rng.integers(4)))
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    h, w = min(height, photo.shape[0]), min(width, photo.shape[1])
    y = int(rng.integers(0, photo.shape[0] - h + 1))
    x = int(rng.integers(0, photo.shape[1] - w + 1))
    return photo[y:y + h, x:x + w]


def clean_mosaic(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A height x width x 3 picture: one random view of a calibration photo, or, for
    sizes beyond a photo's, a mosaic of views of different photos (the photos are
    128 px; upscaling them instead would smooth away the texture the network sees)."""
    return mosaic(calibration_photos(), height, width, rng)


def mosaic(photos: Sequence[np.ndarray], height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A height x width x 3 picture of random views of ``photos`` (one view where a
    photo is large enough)."""
    canvas = np.empty((height, width, 3), np.float32)
    y = 0
    while y < height:
        x, row_h = 0, None
        while x < width:
            view = _random_view(photos[int(rng.integers(len(photos)))], height - y, width - x, rng)
            row_h = view.shape[0] if row_h is None else row_h
            view = view[:row_h]
            if view.shape[0] < row_h:  # a turned photo can be shorter than the row: pad by reflection
                view = np.pad(view, ((0, row_h - view.shape[0]), (0, 0), (0, 0)), mode="reflect")
            canvas[y:y + row_h, x:x + view.shape[1]] = view
            x += view.shape[1]
        y += row_h or height
    return canvas


def degrade(task: str, clean: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """What the model sees at run time for ``task``. Denoising: additive Gaussian noise
    of sigma ``level * 50/255`` (``level`` in [0, 1]; not clipped, the AWGN protocol of
    training and evaluation). Deblurring, deraining, dehazing, enhancement: the task's
    degradation (:data:`edgezoo.zoo.degradations.DEGRADATIONS`), its parameters drawn
    from ``rng`` over the task's ranges (``level`` unused). Other tasks calibrate on
    clean photos (the int8 gates still apply)."""
    from edgezoo.zoo.degradations import DEGRADATIONS

    if task == "denoise":
        from edgezoo.zoo.data import GaussianNoise

        return GaussianNoise(level * MAX_SIGMA)(clean, rng)
    if task in DEGRADATIONS:
        return DEGRADATIONS[task](clean, rng)[0]
    return clean.astype(np.float32)


def calibration_arrays(
    height: int, width: int, count: int = DEFAULT_COUNT, task: str = "denoise", seed: int = CALIBRATION_SEED,
) -> list[np.ndarray]:
    """``count`` calibration inputs, each (1, 3, height, width) float32 NCHW.

    Each is a random view (or mosaic of views) of the calibration photos, degraded for
    ``task``: for denoising, sample ``i`` gets noise of sigma ``50 * i / (count - 1)``
    (0-255 scale), so the levels spread evenly over [0, 50]. Deterministic for a
    given ``seed``; a larger ``count`` extends, not reshuffles, the smaller set's photos.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng(seed + 1)
    arrays = []
    for i in range(count):
        clean = clean_mosaic(height, width, rng)
        level = i / (count - 1) if count > 1 else 0.5
        arrays.append(np.ascontiguousarray(degrade(task, clean, level, noise_rng).transpose(2, 0, 1)[None]))
    return arrays


VALIDATION_SEED = 1000  # held out from the calibration views (another stream of crops)
VALIDATION_LEVEL = 0.5  # sigma 25 of 50: where the quality gate measures


def validation_pairs(
    height: int, width: int, count: int = 4, task: str = "denoise", seed: int = VALIDATION_SEED,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (degraded, clean) pairs, each (1, 3, height, width) float32, cut from the
    calibration photos with another seed than :func:`calibration_arrays`: what remedies
    that need a task score (choosing layers to keep in float) measure on, so that the
    evaluation photos stay for the gate alone."""
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng(seed + 1)
    pairs = []
    for _ in range(count):
        clean = clean_mosaic(height, width, rng)
        degraded = degrade(task, clean, VALIDATION_LEVEL, noise_rng)
        pairs.append((np.ascontiguousarray(degraded.transpose(2, 0, 1)[None]),
                      np.ascontiguousarray(clean.transpose(2, 0, 1)[None])))
    return pairs


def calibration_from_images(
    paths: Sequence[str | Path], height: int, width: int, count: int = DEFAULT_COUNT, seed: int = CALIBRATION_SEED,
) -> list[np.ndarray]:
    """``count`` (1, 3, height, width) inputs cut from the caller's pictures (random
    views, or mosaics of views where a picture is smaller than the artifact). They are
    used as they are, so they should look like the model's run-time inputs: noisy
    photos for a denoiser, never the evaluation photos."""
    from edgezoo.errors import BadInputError
    from edgezoo.imageio import read_image

    if not paths:
        raise BadInputError("no calibration pictures given: pass a folder of PNG or JPEG pictures")
    photos = [read_image(p) for p in paths]
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(mosaic(photos, height, width, rng).transpose(2, 0, 1)[None], dtype=np.float32)
            for _ in range(count)]


def describe(count: int, task: str) -> str:
    """One line for the manifest: what the calibration set was."""
    what = f"{count} views of the {len(calibration_photos())} bundled calibration photos"
    from edgezoo.zoo.degradations import DEGRADATIONS

    if task == "denoise":
        return f"{what}, Gaussian noise sigma spread over [0, {MAX_SIGMA:g}]/255"
    if task in DEGRADATIONS:
        return f"{what}, degraded by {DEGRADATIONS[task].label}"
    return f"{what}, clean (no degradation model for task '{task}')"


def constant_arrays(height: int, width: int, count: int = 4, value: float = 0.5) -> list[np.ndarray]:
    """Deliberately useless calibration (flat grey images): every activation range
    collapses, and the int8 gates must catch it. For tests and demonstrations."""
    return [np.full((1, 3, height, width), value, np.float32) for _ in range(count)]


def check_arrays(arrays: Sequence[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """Validate caller-supplied calibration arrays: (1, 3, H, W) float32 each."""
    from edgezoo.errors import BadInputError

    out = []
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        if array.ndim == 3:
            array = array[None]
        if array.shape[-2:] != (height, width) or array.ndim != 4 or array.shape[0] != 1:
            raise BadInputError(f"calibration array {i} has shape {list(array.shape)}; the artifact takes [1, 3, {height}, {width}]")
        out.append(np.ascontiguousarray(array, dtype=np.float32))
    if not out:
        raise BadInputError("no calibration arrays given")
    return out


def calibration_samples(contract: dict[str, Any], count: int = DEFAULT_COUNT, seed: int = CALIBRATION_SEED) -> list[Sample]:
    """``count`` calibration samples for the artifact whose embedded contract is
    ``contract`` (its ``task`` and ``io``), from the task's protocol: dicts by input name."""
    from edgezoo.tasks import protocol_for

    return protocol_for(contract["task"]).calibration_samples(contract, count, seed)


def describe_samples(contract: dict[str, Any], count: int) -> str:
    """One line for the manifest: what :func:`calibration_samples` gave."""
    from edgezoo.tasks import protocol_for

    return protocol_for(contract["task"]).describe_calibration(contract, count)


def check_samples(samples: Sequence[Any], inputs: Sequence[dict[str, Any]]) -> list[Sample]:
    """Caller-supplied calibration samples as dicts by input name, each array at the
    shape of ``inputs`` (the contract's tensors at the artifact's size). A bare array is
    taken as the input of a one-input component."""
    from edgezoo.errors import BadInputError

    names = [t["name"] for t in inputs]
    out = []
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict):
            if len(names) != 1:
                raise BadInputError(f"calibration sample {i} is one array; the component takes {names}: pass dicts by name")
            sample = {names[0]: sample}
        if set(sample) != set(names):
            raise BadInputError(f"calibration sample {i} has inputs {sorted(sample)}; the component takes {names}")
        checked = {}
        for tensor in inputs:
            array = np.asarray(sample[tensor["name"]])
            want = list(tensor["shape"])
            if array.ndim == len(want) - 1:
                array = array[None]
            if array.ndim != len(want) or any(isinstance(d, int) and d != a for d, a in zip(want, array.shape)):
                raise BadInputError(f"calibration sample {i}: input '{tensor['name']}' has shape {list(array.shape)}; "
                                    f"the artifact takes {want}")
            checked[tensor["name"]] = np.ascontiguousarray(array, dtype=np.dtype(tensor.get("dtype") or "float32"))
        out.append(checked)
    if not out:
        raise BadInputError("no calibration samples given")
    return out


def feeds(sample: Sample, graph_inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """``sample`` keyed by a converted graph's own input names: by name where they match
    the contract's, else in order for a one-input graph (converters rename a single
    input: ``args_0``, ``x``, ``serving_default_image:0``)."""
    graph_inputs = list(graph_inputs)
    if set(sample) == set(graph_inputs):
        return dict(sample)
    if len(sample) == len(graph_inputs) == 1:
        return {graph_inputs[0]: next(iter(sample.values()))}
    raise ValueError(f"calibration inputs {sorted(sample)} do not match the graph's {graph_inputs}")
