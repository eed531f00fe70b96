"""Image quality and parity metrics on float arrays. numpy only, so the runtime can use them."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def parity_psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR of ``test`` against ``reference`` with the reference's own peak as the range,
    as AI Hub and Apple's converters report it (20·log10(max|ref| / RMSE))."""
    peak = float(np.max(np.abs(reference))) or 1.0
    return psnr(reference, test, data_range=peak)


def max_abs_error(reference: np.ndarray, test: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(reference, np.float64) - np.asarray(test, np.float64))))


def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation over the first two axes."""
    k = len(kernel)
    rows = sum(kernel[i] * image[i : image.shape[0] - k + 1 + i] for i in range(k))
    return sum(kernel[i] * rows[:, i : rows.shape[1] - k + 1 + i] for i in range(k))


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
    K1=0.01, K2=0.03) on HxW or HxWxC arrays, averaged over channels."""
    x = np.asarray(reference, np.float64)
    y = np.asarray(test, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    kernel = _gaussian_kernel()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, kernel), _filter_valid(y, kernel)
    sxx = _filter_valid(x * x, kernel) - mu_x**2
    syy = _filter_valid(y * y, kernel) - mu_y**2
    sxy = _filter_valid(x * y, kernel) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))
