"""Classical baselines for deblurring, deraining, dehazing and low-light enhancement
(numpy only), to stand beside each learned model on the evaluation photos.

Each takes the degraded HxWx3 float image and the ``info`` its degradation returned
(:mod:`edgezoo.zoo.degradations`) and returns the restored image. Deblurring baselines are
told the true kernel and noise level (a bound a blind model cannot reach by cheating);
the others use only the picture. Denoising's baseline is CBM3D
(:func:`edgezoo.zoo.evaluate.bm3d_restorer`, the ``bm3d`` package).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgezoo.zoo.degradations import box_mean, convolve, kernel_spectrum, pad_for, resize_bicubic

Baseline = Callable[[np.ndarray, dict[str, Any]], np.ndarray]
LUMA = np.array([0.299, 0.587, 0.114])


# --- deblurring --------------------------------------------------------------------------

def _padded(image: np.ndarray, kernel: np.ndarray, extra: int = 0) -> tuple[np.ndarray, int]:
    pad = pad_for(kernel) + extra
    return np.pad(np.asarray(image, np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric"), pad


def wiener(blurred: np.ndarray, info: dict[str, Any], prior_scale: float = 3.0) -> np.ndarray:
    """Wiener deconvolution with the true kernel and noise level:
    ``X = K*·Y / (|K|² + N/S)``, on the picture extended by mirroring (against ringing
    from the borders). The signal's power spectrum ``S`` is modelled as natural photos'
    ``c/|f|²``, ``c`` fitted on the frequencies the kernel passes (``|K| > 0.5``), so
    high frequencies, where the noise wins, are damped more than low ones (a constant
    noise-to-signal ratio either rings or blurs). ``prior_scale`` multiplies ``N/S``; 3 was
    measured best on the selection photos."""
    kernel = info["kernel"]
    padded, pad = _padded(blurred, kernel, extra=max(kernel.shape))
    height, width = padded.shape[:2]
    mean = padded.mean(axis=(0, 1))
    observed = np.fft.rfft2(padded - mean, axes=(0, 1))
    spectrum = np.broadcast_to(kernel_spectrum(kernel, (height, width))[..., None], observed.shape)
    freq2 = (np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2 + max(height, width) ** -2.0)
    freq2 = np.broadcast_to(freq2[..., None], observed.shape)
    passed = np.abs(spectrum) > 0.5
    scale = float(np.median((np.abs(observed) ** 2 * freq2 / np.abs(spectrum) ** 2)[passed]))
    nsr = prior_scale * height * width * info.get("noise", 0.0) ** 2 * freq2 / max(scale, 1e-12)
    restored = np.fft.irfft2(np.conj(spectrum) * observed / (np.abs(spectrum) ** 2 + np.maximum(nsr, 1e-6)),
                             s=(height, width), axes=(0, 1)) + mean
    h, w = blurred.shape[:2]
    return np.clip(restored[pad:pad + h, pad:pad + w], 0.0, 1.0).astype(np.float32)


def richardson_lucy(blurred: np.ndarray, info: dict[str, Any], iterations: int = 15) -> np.ndarray:
    """Richardson–Lucy deconvolution with the true kernel, ``iterations`` multiplicative
    steps from the blurred picture (more sharpen further but amplify the noise; 10-20
    measured best on the selection photos at the task's noise)."""
    kernel = info["kernel"]
    flipped = kernel[::-1, ::-1]
    observed = np.clip(np.asarray(blurred, np.float64), 1e-4, 1.0)
    estimate = observed.copy()
    for _ in range(iterations):
        ratio = observed / np.maximum(convolve(estimate, kernel), 1e-6)
        estimate = estimate * convolve(ratio, flipped)
    return np.clip(estimate, 0.0, 1.0).astype(np.float32)


# --- dehazing ----------------------------------------------------------------------------

def _min_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """The minimum over a (2·radius+1)² window (borders by repetition), separably."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.pad(x, radius, mode="edge")
    rows = sliding_window_view(padded, 2 * radius + 1, axis=0).min(axis=-1)
    return sliding_window_view(rows, 2 * radius + 1, axis=1).min(axis=-1)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey ``guide``: ``source`` smoothed, its edges
    following the guide's."""
    mean_g, mean_s = box_mean(guide, radius), box_mean(source, radius)
    cov = box_mean(guide * source, radius) - mean_g * mean_s
    var = box_mean(guide * guide, radius) - mean_g ** 2
    a = cov / (var + eps)
    b = mean_s - a * mean_g
    return box_mean(a, radius) * guide + box_mean(b, radius)


def dark_channel_prior(hazy: np.ndarray, info: dict[str, Any] | None = None, omega: float = 0.8,
                       t_floor: float = 0.1, eps: float = 1e-3) -> np.ndarray:
    """He et al.'s dark-channel prior: the airlight from the brightest 0.1% of the dark
    channel, transmission ``1 − omega·dark(I/A)`` over windows about 1/25 of the short
    side (15 px at 384), refined by a guided filter (radius 1/12 of the short side) on
    the grey picture, then ``J = (I − A) / max(t, t_floor) + A``. ``omega`` below 1 leaves
    a little haze; 0.8 measured best on the selection photos (He et al. use 0.95)."""
    hazy = np.asarray(hazy, np.float64)
    short = min(hazy.shape[:2])
    radius, guided_radius = max(3, short // 50), max(8, short // 12)
    dark = _min_filter(hazy.min(axis=2), radius)
    brightest = np.argsort(dark, axis=None)[-max(1, dark.size // 1000):]
    airlight = hazy.reshape(-1, 3)[brightest].mean(axis=0)
    raw = 1.0 - omega * _min_filter((hazy / np.maximum(airlight, 1e-3)).min(axis=2), radius)
    transmission = guided_filter(hazy @ LUMA, raw, guided_radius, eps)
    restored = (hazy - airlight) / np.maximum(transmission, t_floor)[..., None] + airlight
    return np.clip(restored, 0.0, 1.0).astype(np.float32)


# --- low-light enhancement -------------------------------------------------------------------

def _gamma_for_mean(value: np.ndarray, target: float) -> float:
    """The exponent ``g`` (by bisection on log g) that brings the mean of ``value**g`` to ``target``."""
    low, high = np.log(0.05), np.log(1.0)
    for _ in range(40):
        mid = 0.5 * (low + high)
        if np.mean(value ** np.exp(mid)) > target:  # brighter than wanted: a larger exponent darkens
            low = mid
        else:
            high = mid
    return float(np.exp(0.5 * (low + high)))


def clahe(value: np.ndarray, tiles: int = 8, clip: float = 2.0, bins: int = 256) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of one channel in [0, 1]: each of
    ``tiles``² tiles equalises its own histogram, clipped at ``clip`` times the mean bin
    count (the excess spread evenly), and each pixel blends its four nearest tiles'
    mappings bilinearly (so no tile edges show)."""
    h, w = value.shape
    levels = np.clip((value * (bins - 1)).round().astype(int), 0, bins - 1)
    ys = np.linspace(0, h, tiles + 1).astype(int)
    xs = np.linspace(0, w, tiles + 1).astype(int)
    maps = np.empty((tiles, tiles, bins))
    for i in range(tiles):
        for j in range(tiles):
            hist = np.bincount(levels[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].ravel(), minlength=bins).astype(np.float64)
            limit = clip * hist.sum() / bins
            excess = np.maximum(hist - limit, 0.0).sum()
            hist = np.minimum(hist, limit) + excess / bins
            cdf = np.cumsum(hist)
            maps[i, j] = (cdf - cdf[0]) / max(cdf[-1] - cdf[0], 1e-9)
    # tile centres, and each pixel's position between them
    cy = (np.arange(h) + 0.5) / h * tiles - 0.5
    cx = (np.arange(w) + 0.5) / w * tiles - 0.5
    y0 = np.clip(np.floor(cy).astype(int), 0, tiles - 1)
    x0 = np.clip(np.floor(cx).astype(int), 0, tiles - 1)
    y1, x1 = np.minimum(y0 + 1, tiles - 1), np.minimum(x0 + 1, tiles - 1)
    fy = np.clip(cy - y0, 0.0, 1.0)[:, None]
    fx = np.clip(cx - x0, 0.0, 1.0)[None, :]
    Y0, X0, Y1, X1 = y0[:, None], x0[None, :], y1[:, None], x1[None, :]
    top = maps[Y0, X0, levels] * (1 - fx) + maps[Y0, X1, levels] * fx
    bottom = maps[Y1, X0, levels] * (1 - fx) + maps[Y1, X1, levels] * fx
    return top * (1 - fy) + bottom * fy


def gamma_clahe(dark: np.ndarray, info: dict[str, Any] | None = None, target_mean: float = 0.6,
                clahe_amount: float = 0.5, tiles: int = 8, clip: float = 2.0) -> np.ndarray:
    """Low-light enhancement by a gamma on the brightness ``V = max(R, G, B)`` that brings
    its mean to ``target_mean``, then CLAHE (:func:`clahe`) on the result blended in at
    ``clahe_amount``; the colour channels are scaled by the new ``V`` over the old, so hues
    are kept. ``target_mean`` is a guess at a well-exposed photo's brightness (the dark
    picture does not say how bright the scene was); 0.6 and 0.5 measured best on the
    selection photos."""
    dark = np.clip(np.asarray(dark, np.float64), 0.0, 1.0)
    value = dark.max(axis=2)
    bright = value ** _gamma_for_mean(value, target_mean)
    if clahe_amount:
        bright = (1 - clahe_amount) * bright + clahe_amount * clahe(bright, tiles, clip)
    gain = bright / np.maximum(value, 1e-3)
    return np.clip(dark * gain[..., None], 0.0, 1.0).astype(np.float32)


# --- deraining -----------------------------------------------------------------------------

def across_streak_median(rainy: np.ndarray, info: dict[str, Any] | None = None, width: int = 9) -> np.ndarray:
    """A weak baseline: each pixel becomes the smaller of itself and the median of
    ``width`` pixels in its row, i.e. across the near-vertical streaks. Streaks only
    lighten a picture and are a pixel or two wide, so the median across them is mostly
    background; taking the minimum keeps darker detail. It also flattens fine bright
    detail and leaves wide streaks, and it is no match for a learned model. ``width`` 9
    measured best of 3-9 on the selection photos (slanted streaks need the width)."""
    from numpy.lib.stride_tricks import sliding_window_view

    rainy = np.asarray(rainy, np.float64)
    half = width // 2
    padded = np.pad(rainy, ((0, 0), (half, half), (0, 0)), mode="symmetric")
    median = np.median(sliding_window_view(padded, width, axis=1), axis=-1)
    return np.minimum(rainy, median).astype(np.float32)


# --- super-resolution -----------------------------------------------------------------------

def bicubic_upsample(small: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The small picture enlarged ``info["scale"]`` times by bicubic resampling
    (:func:`edgezoo.zoo.degradations.resize_bicubic`), clipped to [0, 1]."""
    scale = int(info["scale"])
    height, width = np.shape(small)[:2]
    return np.clip(resize_bicubic(small, height * scale, width * scale), 0.0, 1.0).astype(np.float32)


# each task's classical baselines by the name a quality record gives them
BASELINES: dict[str, dict[str, Baseline]] = {
    "deblur": {"wiener": wiener, "richardson_lucy": richardson_lucy},
    "derain": {"across_streak_median": across_streak_median},
    "dehaze": {"dark_channel_prior": dark_channel_prior},
    "enhance": {"gamma_clahe": gamma_clahe},
}

# the conditional-diffusion family's degradations' baselines (CONDITIONAL_DEGRADATIONS' names)
CONDITIONAL_BASELINES: dict[str, dict[str, Baseline]] = {
    "blur-gaussian": {"wiener": wiener, "richardson_lucy": richardson_lucy},
    "blur-motion": {"wiener": wiener, "richardson_lucy": richardson_lucy},
    "sr4": {"bicubic": bicubic_upsample},
}
