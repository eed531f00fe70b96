"""Training and evaluation images, and the degradations synthesized on them.

Training photos come from Debian wallpaper packages (see ``scripts/fetch_photos.sh``);
evaluation photos are the colour images bundled in scikit-image and scikit-learn wheels.
The two sets never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def load_photo_pool(folders: list[str | Path], shrink: int = 2, min_side: int = 256) -> list[np.ndarray]:
    """Every photo under ``folders`` as uint8 RGB, shrunk by ``shrink`` with an area
    filter (it washes out JPEG artefacts so the clean target is clean), sorted by path."""
    files = sorted(
        p for folder in folders for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES
    )
    pool = []
    for path in files:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if shrink > 1:
                img = img.reduce(shrink)
            if min(img.size) >= min_side:
                pool.append(np.asarray(img, dtype=np.uint8))
    if not pool:
        raise FileNotFoundError(f"no photos of at least {min_side}px under {', '.join(map(str, folders))}")
    return pool


class PatchSampler:
    """Random square patches, area-weighted over photos, with flips and 90° turns."""

    def __init__(self, pool: list[np.ndarray], patch: int, seed: int) -> None:
        self.pool, self.patch = pool, patch
        areas = np.array([p.shape[0] * p.shape[1] for p in pool], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> np.ndarray:
        """(size, 3, patch, patch) float32 in [0, 1]."""
        out = np.empty((size, 3, self.patch, self.patch), dtype=np.float32)
        for i in range(size):
            photo = self.pool[self.rng.choice(len(self.pool), p=self.weights)]
            y = self.rng.integers(0, photo.shape[0] - self.patch + 1)
            x = self.rng.integers(0, photo.shape[1] - self.patch + 1)
            crop = photo[y : y + self.patch, x : x + self.patch]
            crop = np.rot90(crop, self.rng.integers(4))
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            out[i] = crop.transpose(2, 0, 1) / 255.0
        return out


@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise, sigma on the 0-255 scale, not clipped (the
    standard AWGN protocol)."""

    sigma: float

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal(clean.shape).astype(np.float32) * (self.sigma / 255.0)
        return (clean + noise).astype(np.float32)

    @property
    def label(self) -> str:
        return f"gaussian sigma={self.sigma:g}/255"


def evaluation_images(max_side: int = 384, multiple_of: int = 32) -> dict[str, np.ndarray]:
    """The colour photos bundled in scikit-image and scikit-learn, as float32 HWC RGB
    in [0, 1], centre-cropped to at most ``max_side`` and to a multiple of ``multiple_of``.
    None of them is ever used for training."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    images = {
        "astronaut": skd.astronaut(), "coffee": skd.coffee(), "chelsea": skd.chelsea(),
        "rocket": skd.rocket(), "hubble": skd.hubble_deep_field(), "retina": skd.retina(),
        "motorcycle": skd.stereo_motorcycle()[0],
    }
    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images):
        images[Path(fname).stem] = img
    out = {}
    for name, img in images.items():
        h, w = img.shape[:2]
        side_h = min(h, max_side) // multiple_of * multiple_of
        side_w = min(w, max_side) // multiple_of * multiple_of
        y, x = (h - side_h) // 2, (w - side_w) // 2
        out[name] = np.ascontiguousarray(img[y : y + side_h, x : x + side_w, :3]).astype(np.float32) / 255.0
    return out
