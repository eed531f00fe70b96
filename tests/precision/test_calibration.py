"""The calibration set: bundled photos only, the artifact's size, the task's noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgezoo
from edgezoo.errors import BadInputError
from edgezoo.export.quantize import calibration as calib


def test_photos_are_the_bundled_calibration_crops_with_credits():
    photos = calib.calibration_photos()
    folder = Path(edgezoo.__file__).parent / "assets" / "calibration"
    credits = json.loads((folder / "credits.json").read_text())
    assert len(photos) == len(credits["images"]) == 16
    assert "calibration" in credits["purpose"]
    assert all(p.shape == (128, 128, 3) and p.dtype == np.float32 for p in photos)


@pytest.mark.parametrize("size", [(64, 64), (256, 256), (96, 160)])
def test_arrays_have_the_artifact_shape(size):
    arrays = calib.calibration_arrays(*size, count=3)
    assert len(arrays) == 3
    for array in arrays:
        assert array.shape == (1, 3, *size) and array.dtype == np.float32 and array.flags.c_contiguous


def test_mosaic_beyond_photo_size_keeps_natural_pixels():
    """A 256x256 input is tiled from whole 128 px views, not upscaled: every 128 px
    quarter is an exact (turned or mirrored) region of a calibration photo."""
    clean = calib.clean_mosaic(256, 256, np.random.default_rng(0))
    quarter = clean[:128, :128]
    variants = [np.rot90(p, k)[:, ::f] for p in calib.calibration_photos() for k in range(4) for f in (1, -1)]
    assert any(np.array_equal(quarter, v) for v in variants)


def test_deterministic_and_noise_spread_over_0_to_50():
    a = calib.calibration_arrays(64, 64, count=6, seed=3)
    b = calib.calibration_arrays(64, 64, count=6, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    clean = calib.calibration_arrays(64, 64, count=6, seed=3, task="none")
    sigmas = [float(np.std(n - c)) * 255 for n, c in zip(a, clean)]
    assert sigmas[0] == pytest.approx(0, abs=1e-6)
    assert sigmas[-1] == pytest.approx(50, rel=0.1)
    assert sigmas == sorted(sigmas)


def test_never_the_evaluation_photos():
    from edgezoo.zoo.data import evaluation_images

    photos = calib.calibration_photos()
    for image in evaluation_images().values():
        crop = image[:128, :128]
        assert not any(np.allclose(crop, p, atol=1 / 255) for p in photos)


def test_bad_arrays_are_refused():
    with pytest.raises(BadInputError, match=r"\[1, 3, 64, 64\]"):
        calib.check_arrays([np.zeros((1, 3, 32, 32), np.float32)], 64, 64)
    with pytest.raises(BadInputError):
        calib.check_arrays([], 64, 64)
