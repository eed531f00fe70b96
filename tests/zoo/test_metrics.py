import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from edgezoo.metrics import max_abs_error, parity_psnr, psnr, ssim
from edgezoo.zoo.data import evaluation_images


def test_psnr_and_ssim_agree_with_scikit_image_on_a_real_photo():
    clean = evaluation_images()["coffee"]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    assert abs(psnr(clean, noisy) - peak_signal_noise_ratio(clean, noisy, data_range=1.0)) < 1e-6
    reference = structural_similarity(clean, noisy, channel_axis=2, data_range=1.0, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)
    assert abs(ssim(clean, noisy) - reference) < 1e-4


def test_parity_psnr_uses_the_reference_peak():
    ref = np.array([0.0, 2.0])
    assert np.isclose(parity_psnr(ref, ref + 0.02), 20 * np.log10(2.0 / 0.02))
    assert max_abs_error(ref, ref + [0.0, -0.5]) == 0.5
    assert psnr(ref, ref) == float("inf")


def test_evaluation_photos_are_colour_crops_that_fit_the_models():
    images = evaluation_images()
    assert len(images) >= 9
    for image in images.values():
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float32
        assert image.shape[0] % 32 == 0 and image.shape[1] % 32 == 0
        assert 0.0 <= image.min() and image.max() <= 1.0
