"""The conditional family's degradations: two blur families selectable apart, x4
down-sampling, each seeded and each beside its classical baseline."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgezoo.metrics import psnr
from edgezoo.zoo import degradations as D
from edgezoo.zoo.baselines import CONDITIONAL_BASELINES, bicubic_upsample

PHOTO = Path(__file__).resolve().parents[2] / "edgezoo" / "assets" / "sample_clean.png"


@pytest.fixture(scope="module")
def photo():
    with Image.open(PHOTO) as img:
        return np.asarray(img.convert("RGB"), np.float32)[:160, :224] / 255.0


@pytest.mark.parametrize("name", sorted(D.CONDITIONAL_DEGRADATIONS))
def test_a_seed_fixes_each_degradation(name, photo):
    a, info_a = D.degrade(name, photo, seed=5)
    b, _ = D.degrade(name, photo, seed=5)
    c, _ = D.degrade(name, photo, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
    assert 0.002 <= info_a["noise"] <= 0.01  # always some noise: deconvolution is never a noiseless inverse


def test_the_blur_families_are_separate(photo):
    gaussian = [D.degrade("blur-gaussian", photo, s)[1] for s in range(6)]
    motion = [D.degrade("blur-motion", photo, s)[1] for s in range(6)]
    assert {i["kind"] for i in gaussian} == {"gaussian"} and {i["kind"] for i in motion} == {"motion"}
    for info in gaussian + motion:
        assert info["kernel"].sum() == pytest.approx(1.0) and info["kernel"].shape[0] % 2 == 1
    assert len({i["kernel"].shape for i in motion}) > 1  # lengths vary from picture to picture


def test_an_elongated_gaussian_kernel_lies_along_its_angle():
    kernel = D.gaussian_kernel(3.0, 0.8, 0.0)  # long axis horizontal
    centre = kernel.shape[0] // 2
    assert kernel[centre].sum() > 2 * kernel[:, centre].sum()
    turned = D.gaussian_kernel(3.0, 0.8, 90.0)
    np.testing.assert_allclose(turned, kernel.T, atol=1e-12)
    round_kernel = D.gaussian_kernel(2.0, 2.0, 37.0)
    np.testing.assert_allclose(round_kernel, round_kernel.T, atol=1e-12)


def test_x4_downsampling_shrinks_and_bicubic_brings_it_back(photo):
    small, info = D.degrade("sr4", photo, seed=1)
    assert small.shape == (40, 56, 3) and info["scale"] == 4
    big = bicubic_upsample(small, info)
    assert big.shape == photo.shape
    nearest = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    assert psnr(photo, big) > psnr(photo, nearest) + 0.5  # the baseline is a real interpolator, not a copy


def test_downsampling_a_picture_whose_sides_do_not_divide_is_refused(photo):
    with pytest.raises(ValueError, match="multiples of 4"):
        D.degrade("sr4", photo[:158], seed=0)


@pytest.mark.parametrize("name", ["blur-gaussian", "blur-motion"])
def test_a_deblurring_baseline_with_the_true_kernel_beats_the_blurred_input(name, photo):
    blurred, info = D.degrade(name, photo, seed=2)
    best = max(psnr(photo, restore(blurred, info)) for restore in CONDITIONAL_BASELINES[name].values())
    assert best > psnr(photo, blurred) + 0.5
