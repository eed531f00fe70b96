"""Each task's degradation is seeded, stays in range, and degrades the way its name says."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgezoo.zoo import degradations as D
from edgezoo.zoo.data import GaussianNoise

PHOTO = Path(__file__).resolve().parents[2] / "edgezoo" / "assets" / "sample_clean.png"


@pytest.fixture(scope="module")
def photo():
    with Image.open(PHOTO) as img:
        return np.asarray(img.convert("RGB"), np.float32)[:160, :224] / 255.0


def _high_frequency_energy(image):
    grey = image.mean(axis=2)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(np.mean(laplacian ** 2))


@pytest.mark.parametrize("task", sorted(D.DEGRADATIONS))
def test_a_seed_fixes_the_degradation_and_another_seed_changes_it(task, photo):
    a, info_a = D.degrade(task, photo, seed=3)
    b, info_b = D.degrade(task, photo, seed=3)
    c, _ = D.degrade(task, photo, seed=4)
    assert a.shape == photo.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert {k: v for k, v in info_a.items() if k != "kernel"} == {k: v for k, v in info_b.items() if k != "kernel"}
    if task != "denoise":  # AWGN is not clipped (the standard protocol); the others are a camera's output
        assert a.min() >= 0.0 and a.max() <= 1.0
    assert not np.array_equal(a, photo)


def test_denoising_is_exactly_the_gaussian_noise_of_the_shipped_figures(photo):
    noisy, info = D.degrade("denoise", photo, seed=7)
    np.testing.assert_array_equal(noisy, GaussianNoise(25)(photo, np.random.default_rng(7)))
    assert info == {"sigma": 25.0}


@pytest.mark.parametrize("seed", range(4))
def test_blur_lowers_high_frequency_energy_and_returns_its_kernel(seed, photo):
    blurred, info = D.degrade("deblur", photo, seed, noise=0.0)
    kernel = info["kernel"]
    assert info["kind"] in ("motion", "defocus") and kernel.shape[0] % 2 == 1
    assert kernel.sum() == pytest.approx(1.0) and kernel.min() >= 0
    np.testing.assert_allclose(blurred, np.clip(D.convolve(photo, kernel), 0, 1), atol=1e-6)
    assert _high_frequency_energy(blurred) < 0.6 * _high_frequency_energy(photo)
    # with the task's sensor noise the picture still has less detail than the sharp one
    assert _high_frequency_energy(D.degrade("deblur", photo, seed)[0]) < _high_frequency_energy(photo)


def test_motion_kernels_point_along_their_angle():
    horizontal, vertical = D.motion_kernel(9, 0), D.motion_kernel(9, 90)
    assert np.count_nonzero(horizontal.sum(axis=0) > 1e-3) >= 9 and np.count_nonzero(horizontal.sum(axis=1) > 1e-3) == 1
    np.testing.assert_allclose(vertical, horizontal.T, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_rain_only_lightens_and_haze_brightens_and_flattens(seed, photo):
    rainy, _ = D.degrade("derain", photo, seed)
    assert np.all(rainy >= photo - 1e-6) and rainy.mean() > photo.mean()
    hazy, info = D.degrade("dehaze", photo, seed)
    assert hazy.mean() > photo.mean() and hazy.std() < photo.std()
    assert 0 < info["t_min"] < 1


def test_the_depth_proxy_is_far_at_the_top_and_in_range(photo):
    depth = D.depth_proxy(photo)
    assert depth.shape == photo.shape[:2] and depth.min() >= 0 and depth.max() <= 1
    assert depth[:10].mean() > depth[-10:].mean()
    np.testing.assert_allclose(D.depth_proxy(np.full((8, 8, 3), 0.3))[:, 0], np.linspace(1, 0, 8) * 0.5 + 0.25)


@pytest.mark.parametrize("seed", range(3))
def test_low_light_darkens(seed, photo):
    dark, info = D.degrade("enhance", photo, seed)
    assert dark.mean() < 0.5 * photo.mean()
    assert 0 < info["exposure"] < 1 and info["gamma"] > 1


def test_a_fixed_parameter_is_used_and_a_range_is_drawn_per_image(photo):
    _, fixed = D.degrade("dehaze", photo, 0, beta=1.0, airlight=0.9)
    assert (fixed["beta"], fixed["airlight"]) == (1.0, 0.9)
    drawn = {D.degrade("dehaze", photo, s)[1]["beta"] for s in range(4)}
    assert len(drawn) == 4 and all(0.8 <= b <= 2.0 for b in drawn)
    assert "U(0.8,2)" in D.DEGRADATIONS["dehaze"].label


def test_the_box_mean_averages_only_what_its_window_covers():
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    out = D.box_mean(x, 1)
    assert out[2, 2] == pytest.approx(x[1:4, 1:4].mean()) and out[0, 0] == pytest.approx(x[:2, :2].mean())
