"""The degradations MAXIM's five tasks restore, synthesized on clean photos (numpy only).

Each is a function ``f(image, rng, **params) -> (degraded, info)``: ``image`` is HxWx3
float in [0, 1], ``rng`` a :class:`numpy.random.Generator` (everything random comes from
it, so a seed fixes the result), ``info`` the parameters drawn (and, for blur, the
kernel) so a classical baseline can be told the truth. A parameter given as a pair
``(low, high)`` is drawn uniformly from that range for each image; a number is used as
is. :data:`DEGRADATIONS` holds, per task, the function with the parameters the task
trains and is evaluated on; :data:`CONDITIONAL_DEGRADATIONS` the conditional-diffusion
family's (Gaussian and motion blur as separate families, x4 down-sampling);
:func:`degrade` applies either with a seed.

Blur, rain, haze and low light are clipped to [0, 1] (a camera's output); denoising's
Gaussian noise is not (the standard AWGN protocol, as :class:`edgezoo.zoo.data.GaussianNoise`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Info = dict[str, Any]
Param = float | tuple[float, float]


def _draw(value: Param, rng: np.random.Generator) -> float:
    """A number as is; a (low, high) pair drawn uniformly."""
    if isinstance(value, (tuple, list)):
        low, high = value
        return float(rng.uniform(low, high))
    return float(value)


# --- convolution (FFT, numpy only) ------------------------------------------------------

def kernel_spectrum(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The rfft2 of ``kernel`` placed in an array of ``shape`` with its centre at (0, 0),
    so multiplying by it convolves without shifting the picture."""
    padded = np.zeros(shape, np.float64)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.rfft2(padded)


def pad_for(kernel: np.ndarray) -> int:
    """How far to extend a picture by mirroring before an FFT with ``kernel``, so the
    circular wrap-around falls in the margin, not on the picture."""
    return max(kernel.shape) // 2 + 2


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (HxW or HxWxC) convolved with ``kernel``, borders extended by mirroring,
    same size out (float64)."""
    image = np.asarray(image, np.float64)
    flat = image.ndim == 2
    if flat:
        image = image[..., None]
    pad = pad_for(kernel)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    spectrum = kernel_spectrum(kernel, padded.shape[:2])
    out = np.fft.irfft2(np.fft.rfft2(padded, axes=(0, 1)) * spectrum[..., None], s=padded.shape[:2], axes=(0, 1))
    out = out[pad:pad + image.shape[0], pad:pad + image.shape[1]]
    return out[..., 0] if flat else out


# --- kernels -----------------------------------------------------------------------------

def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A straight-line motion blur kernel: a segment of ``length`` pixels at ``angle``
    degrees (0 = horizontal, counter-clockwise), anti-aliased by splatting points along
    it bilinearly; odd-sized, sums to 1."""
    length = max(float(length), 1.0)
    size = int(np.ceil(length)) + 2
    size += 1 - size % 2
    centre = size // 2
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, max(2, int(np.ceil(4 * length))))
    theta = np.deg2rad(angle)
    x, y = centre + t * np.cos(theta), centre - t * np.sin(theta)
    kernel = np.zeros((size, size), np.float64)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        np.add.at(kernel, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), w)
    return kernel / kernel.sum()


def disc_kernel(radius: float) -> np.ndarray:
    """A defocus blur kernel: a disc of ``radius`` pixels with a one-pixel soft edge;
    odd-sized, sums to 1."""
    radius = max(float(radius), 0.5)
    half = int(np.ceil(radius)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0)
    return kernel / kernel.sum()


def gaussian_kernel(sigma_long: float, sigma_short: float, angle: float) -> np.ndarray:
    """An anisotropic Gaussian blur kernel: standard deviations ``sigma_long`` and
    ``sigma_short`` pixels along and across the direction ``angle`` degrees
    (counter-clockwise from horizontal), cut at 3 long sigmas; odd-sized, sums to 1."""
    sigma_long, sigma_short = max(float(sigma_long), 0.3), max(float(sigma_short), 0.3)
    half = int(np.ceil(3 * max(sigma_long, sigma_short)))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    theta = np.deg2rad(angle)
    along = xx * np.cos(theta) - yy * np.sin(theta)  # image rows grow downwards: -y is up
    across = xx * np.sin(theta) + yy * np.cos(theta)
    kernel = np.exp(-0.5 * ((along / sigma_long) ** 2 + (across / sigma_short) ** 2))
    return kernel / kernel.sum()


def resize_bicubic(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (HxW or HxWxC float) resampled to ``height`` x ``width`` by Pillow's
    bicubic filter, channel by channel in float (no 8-bit rounding); antialiased when
    shrinking. Float32, not clipped (bicubic overshoots a little at edges)."""
    from PIL import Image

    array = np.asarray(image, np.float32)
    flat = array.ndim == 2
    channels = array[..., None] if flat else array
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c]), mode="F")
                               .resize((width, height), Image.Resampling.BICUBIC), np.float32)
                    for c in range(channels.shape[2])], axis=2)
    return out[..., 0] if flat else out


# --- degradations ------------------------------------------------------------------------

def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: Param = 25.0) -> tuple[np.ndarray, Info]:
    """Additive white Gaussian noise of ``sigma`` (0-255 scale), not clipped: exactly
    :class:`edgezoo.zoo.data.GaussianNoise`, so denoising's figures are unchanged."""
    from edgezoo.zoo.data import GaussianNoise

    sigma = _draw(sigma, rng)
    return GaussianNoise(sigma)(image, rng), {"sigma": sigma}


def blur(image: np.ndarray, rng: np.random.Generator, motion_share: float = 0.5, length: Param = (5.0, 17.0),
         angle: Param = (0.0, 180.0), radius: Param = (1.0, 3.5), noise: Param = 0.005) -> tuple[np.ndarray, Info]:
    """Motion or defocus blur, then a little Gaussian noise (a real sensor's; without it
    deconvolution with the true kernel would be an unrealistically easy inverse).

    Parameters
    ----------
    motion_share : float
        Chance of a motion kernel (:func:`motion_kernel`); otherwise a defocus disc
        (:func:`disc_kernel`).
    length, angle : float or (low, high)
        Motion: segment length in pixels and angle in degrees.
    radius : float or (low, high)
        Defocus: disc radius in pixels.
    noise : float or (low, high)
        Standard deviation of the added noise on the [0, 1] scale.

    Returns the blurred image and ``{"kind", "length", "angle" | "radius", "noise", "kernel"}``.
    """
    if rng.random() < motion_share:
        info: Info = {"kind": "motion", "length": _draw(length, rng), "angle": _draw(angle, rng)}
        kernel = motion_kernel(info["length"], info["angle"])
    else:
        info = {"kind": "defocus", "radius": _draw(radius, rng)}
        kernel = disc_kernel(info["radius"])
    return _blurred(image, rng, kernel, info, noise)


def _blurred(image: np.ndarray, rng: np.random.Generator, kernel: np.ndarray, info: Info,
             noise: Param) -> tuple[np.ndarray, Info]:
    """``image`` convolved with ``kernel`` plus Gaussian noise of a drawn ``noise`` level,
    clipped; ``info`` gains ``noise`` and ``kernel``."""
    info["noise"] = _draw(noise, rng)
    blurred = convolve(image, kernel) + rng.standard_normal(np.shape(image)) * info["noise"]
    info["kernel"] = kernel
    return np.clip(blurred, 0.0, 1.0).astype(np.float32), info


def gaussian_blur(image: np.ndarray, rng: np.random.Generator, sigma: Param = (0.8, 3.0), aspect: Param = (0.4, 1.0),
                  angle: Param = (0.0, 180.0), noise: Param = (0.002, 0.01)) -> tuple[np.ndarray, Info]:
    """An anisotropic Gaussian blur (:func:`gaussian_kernel`) of a drawn size, elongation
    and angle, then mild Gaussian noise: one of the two blur families of the
    conditional-diffusion experiments (train on this one, test on :func:`motion_blur`).

    Parameters
    ----------
    sigma : float or (low, high)
        Standard deviation in pixels along the kernel's long axis.
    aspect : float or (low, high)
        Short-axis standard deviation over the long one (1: isotropic).
    angle : float or (low, high)
        Direction of the long axis in degrees (counter-clockwise from horizontal).
    noise : float or (low, high)
        Standard deviation of the added noise on the [0, 1] scale.

    Returns the blurred image and ``{"kind", "sigma", "aspect", "angle", "noise", "kernel"}``.
    """
    info: Info = {"kind": "gaussian", "sigma": _draw(sigma, rng), "aspect": _draw(aspect, rng),
                  "angle": _draw(angle, rng)}
    kernel = gaussian_kernel(info["sigma"], info["sigma"] * info["aspect"], info["angle"])
    return _blurred(image, rng, kernel, info, noise)


def motion_blur(image: np.ndarray, rng: np.random.Generator, length: Param = (5.0, 21.0), angle: Param = (0.0, 180.0),
                noise: Param = (0.002, 0.01)) -> tuple[np.ndarray, Info]:
    """A straight-line motion blur (:func:`motion_kernel`) of a drawn length and angle,
    then mild Gaussian noise: the other blur family of the conditional-diffusion
    experiments (out of domain for a model trained on :func:`gaussian_blur`).

    Returns the blurred image and ``{"kind", "length", "angle", "noise", "kernel"}``.
    """
    info: Info = {"kind": "motion", "length": _draw(length, rng), "angle": _draw(angle, rng)}
    return _blurred(image, rng, motion_kernel(info["length"], info["angle"]), info, noise)


def downsample(image: np.ndarray, rng: np.random.Generator, scale: int = 4,
               noise: Param = (0.002, 0.01)) -> tuple[np.ndarray, Info]:
    """``image`` shrunk ``scale`` times by antialiased bicubic resampling (Pillow's, a
    MATLAB ``imresize``-like filter widened by the scale), then mild Gaussian noise,
    clipped: the x``scale`` super-resolution problem. The sides of ``image`` must be
    multiples of ``scale`` (so the small picture maps back exactly).

    Returns the small image and ``{"scale", "noise"}``.
    """
    height, width = np.shape(image)[:2]
    scale = int(scale)
    if scale < 1 or height % scale or width % scale:
        raise ValueError(f"a {height}x{width} picture cannot be shrunk x{scale}: its sides must be multiples of {scale}")
    info: Info = {"scale": scale}
    small = resize_bicubic(image, height // scale, width // scale)
    info["noise"] = _draw(noise, rng)
    small = small + rng.standard_normal(small.shape) * info["noise"]
    return np.clip(small, 0.0, 1.0).astype(np.float32), info


def rain(image: np.ndarray, rng: np.random.Generator, density: Param = (0.002, 0.008), length: Param = (8.0, 24.0),
         angle: Param = (-25.0, 25.0), opacity: Param = (0.5, 0.9)) -> tuple[np.ndarray, Info]:
    """Rain streaks: sparse random drops smeared along one direction, screen-blended.

    ``density`` of the pixels get a drop of brightness uniform in [0.6, 1]; the drop map is
    smeared by a line of ``length`` pixels at ``angle`` degrees from vertical (one
    direction per image, as wind gives), softened across by a [1/4, 1/2, 1/4] filter and
    scaled to a peak of 1; the streak layer ``S`` is blended as ``I = J + opacity·S·(1 − J)``
    (screen: streaks lighten, never darken, and stay in range).

    Returns the rainy image and ``{"density", "length", "angle", "opacity"}``.
    """
    info = {"density": _draw(density, rng), "length": _draw(length, rng), "angle": _draw(angle, rng),
            "opacity": _draw(opacity, rng)}
    h, w = np.shape(image)[:2]
    drops = (rng.random((h, w)) < info["density"]) * rng.uniform(0.6, 1.0, (h, w))
    line = motion_kernel(info["length"], 90.0 + info["angle"])
    soften = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])
    streak_kernel = convolve(np.pad(line, 1), soften)
    streaks = np.clip(convolve(drops, streak_kernel / streak_kernel.max()), 0.0, 1.0)
    rainy = image + info["opacity"] * streaks[..., None] * (1.0 - np.asarray(image, np.float64))
    return np.clip(rainy, 0.0, 1.0).astype(np.float32), info


def depth_proxy(image: np.ndarray) -> np.ndarray:
    """A depth guess in [0, 1] (1 = far) for haze: the mean of the row position (the top
    of a photo is usually farther) and the luminance blurred over a window an eighth of
    the short side (bright, smooth regions such as sky read as far), rescaled to [0, 1]
    over the picture (0.5 where the picture is flat)."""
    h, w = np.shape(image)[:2]
    rows = np.broadcast_to(1.0 - np.arange(h, dtype=np.float64)[:, None] / max(h - 1, 1), (h, w))
    luminance = np.asarray(image, np.float64) @ np.array([0.299, 0.587, 0.114])
    smooth = box_mean(luminance, max(1, min(h, w) // 16))
    spread = smooth.max() - smooth.min()
    smooth = (smooth - smooth.min()) / spread if spread > 1e-6 else np.full_like(smooth, 0.5)
    return 0.5 * rows + 0.5 * smooth


def haze(image: np.ndarray, rng: np.random.Generator, beta: Param = (0.8, 2.0),
         airlight: Param = (0.75, 0.95)) -> tuple[np.ndarray, Info]:
    """Atmospheric scattering: ``I = J·t + A·(1 − t)``, ``t = exp(−beta·d)`` with ``d``
    the :func:`depth_proxy` and a grey airlight ``A``.

    Returns the hazy image and ``{"beta", "airlight", "t_min"}``.
    """
    info = {"beta": _draw(beta, rng), "airlight": _draw(airlight, rng)}
    transmission = np.exp(-info["beta"] * depth_proxy(image))[..., None]
    info["t_min"] = float(transmission.min())
    hazy = np.asarray(image, np.float64) * transmission + info["airlight"] * (1.0 - transmission)
    return np.clip(hazy, 0.0, 1.0).astype(np.float32), info


def low_light(image: np.ndarray, rng: np.random.Generator, exposure: Param = (0.15, 0.4), gamma: Param = (1.2, 1.8),
              shot_noise: Param = (5e-4, 3e-3), read_noise: Param = (0.002, 0.01)) -> tuple[np.ndarray, Info]:
    """A dark exposure: ``x = (exposure·J)^gamma``, then signal-dependent noise of
    variance ``shot_noise·x + read_noise²`` (shot noise grows with the signal, read noise
    does not).

    Returns the dark image and ``{"exposure", "gamma", "shot_noise", "read_noise"}``.
    """
    info = {"exposure": _draw(exposure, rng), "gamma": _draw(gamma, rng), "shot_noise": _draw(shot_noise, rng),
            "read_noise": _draw(read_noise, rng)}
    dark = (info["exposure"] * np.clip(np.asarray(image, np.float64), 0.0, 1.0)) ** info["gamma"]
    std = np.sqrt(info["shot_noise"] * dark + info["read_noise"] ** 2)
    noisy = dark + rng.standard_normal(dark.shape) * std
    return np.clip(noisy, 0.0, 1.0).astype(np.float32), info


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """The mean of ``x`` (HxW or HxWxC) over a (2·radius+1)² window, clipped at the
    borders (each output averages only the pixels its window covers); cumulative sums,
    so the cost does not grow with the radius."""
    out = np.asarray(x, np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        csum = np.cumsum(out, axis=axis)
        csum = np.concatenate([np.zeros_like(np.take(csum, [0], axis=axis)), csum], axis=axis)
        index = np.arange(n)
        hi, lo = np.minimum(index + radius + 1, n), np.maximum(index - radius, 0)
        count = (hi - lo).astype(np.float64)
        shape = [1] * out.ndim
        shape[axis] = n
        out = (np.take(csum, hi, axis=axis) - np.take(csum, lo, axis=axis)) / count.reshape(shape)
    return out


def gaussian_taps(sigma: float, radius: int = 9) -> np.ndarray:
    """(2 * radius + 1) normalised 1-D Gaussian taps of ``sigma`` px (0: the identity);
    float32, as :func:`edgezoo.zoo.train_tip.gaussian_taps` makes them for training."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    if sigma <= 0:
        return (offsets == 0).astype(np.float32)
    taps = np.exp(-0.5 * (offsets / np.float32(max(sigma, 1e-3))) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def blur_then_noise(image: np.ndarray, rng: np.random.Generator, noise: Param = 15.0, blur: Param = 1.5,
                    radius: int = 9) -> tuple[np.ndarray, Info]:
    """The instruction-driven restorer's degradation (TIP, ``edgezoo.zoo.train_tip``): an
    isotropic Gaussian blur of ``blur`` px (separable taps over +-``radius`` px,
    reflect-padded), then white Gaussian noise of ``noise`` (0-255 scale), not clipped."""
    blur, noise = _draw(blur, rng), _draw(noise, rng)
    taps = gaussian_taps(blur, radius)
    x = np.pad(np.asarray(image, np.float32), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    x = sum(taps[k] * x[:, k:k + x.shape[1] - 2 * radius] for k in range(taps.size))
    x = sum(taps[k] * x[k:k + x.shape[0] - 2 * radius] for k in range(taps.size))
    out = (x + rng.normal(0.0, noise / 255.0, x.shape)).astype(np.float32)
    return out, {"blur": blur, "sigma": noise, "kernel": np.outer(taps, taps)}


# --- the registry --------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskDegradation:
    """A task's degradation with the parameters it trains and is evaluated on; called
    as ``(image, rng, **overrides) -> (degraded, info)``."""

    task: str
    function: Callable[..., tuple[np.ndarray, Info]]
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, image: np.ndarray, rng: np.random.Generator, **overrides: Any) -> tuple[np.ndarray, Info]:
        return self.function(image, rng, **{**self.params, **overrides})

    @property
    def label(self) -> str:
        """One line for a quality record: the function and its parameters (ranges drawn per image)."""
        def show(value: Any) -> str:
            if isinstance(value, (tuple, list)):
                return f"U({value[0]:g},{value[1]:g})"
            return f"{value:g}" if isinstance(value, float) else str(value)

        return f"{self.function.__name__} " + " ".join(f"{k}={show(v)}" for k, v in self.params.items())


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    import inspect

    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


DEGRADATIONS: dict[str, TaskDegradation] = {
    "denoise": TaskDegradation("denoise", gaussian_noise, {"sigma": 25.0}),
    "deblur": TaskDegradation("deblur", blur, _defaults(blur)),
    "derain": TaskDegradation("derain", rain, _defaults(rain)),
    "dehaze": TaskDegradation("dehaze", haze, _defaults(haze)),
    "enhance": TaskDegradation("enhance", low_light, _defaults(low_light)),
}


# The degradations of the conditional-diffusion family (issue 11), by name: two blur
# families, separately selectable (train on one, test on the other), and x4 down-sampling
# (the picture shrinks, so it is not a same-size task of DEGRADATIONS).
CONDITIONAL_DEGRADATIONS: dict[str, TaskDegradation] = {
    "blur-gaussian": TaskDegradation("blur-gaussian", gaussian_blur, _defaults(gaussian_blur)),
    "blur-motion": TaskDegradation("blur-motion", motion_blur, _defaults(motion_blur)),
    "sr4": TaskDegradation("sr4", downsample, _defaults(downsample)),
}


# The instruction-driven restorer's (TIP) measured setting: both degradations at once,
# which it is told to remove blindly ("remove all degradation")
INSTRUCTED_DEGRADATIONS: dict[str, TaskDegradation] = {
    "noise-15+blur-1.5": TaskDegradation("noise-15+blur-1.5", blur_then_noise, {"noise": 15.0, "blur": 1.5}),
}


def degrade(task: str, image: np.ndarray, seed: int, **overrides: Any) -> tuple[np.ndarray, Info]:
    """``image`` (HxWx3 float in [0, 1]) degraded as ``task``'s inputs are, drawn from
    ``default_rng(seed)``: (degraded HxWx3 float32, info)."""
    known = {**DEGRADATIONS, **CONDITIONAL_DEGRADATIONS}
    if task not in known:
        raise KeyError(f"no degradation named '{task}'; there are {', '.join(known)}")
    return known[task](image, np.random.default_rng(seed), **overrides)
