"""Training, selection and evaluation images, and the degradations synthesized on them.

Three splits, disjoint by the content of their decoded pixels (``tests/zoo/test_splits.py``):

- training: photos from Debian wallpaper packages (``scripts/fetch_photos.sh``); the last
  ``holdout_photos`` of the pool are held out from the gradient steps to choose the
  checkpoint;
- selection: the 16 bundled 128x128 photos in ``edgezoo/assets/calibration`` (crops,
  downscaled by 4, of 8 lomiri photos, see ``credits.json``): int8 calibration and the
  choice of the int8 recipe. They are not the training patches (another scale, never
  sampled by training), but they are cut from photos of the training download;
- evaluation: the colour photos bundled in scikit-image and scikit-learn wheels, used only
  to measure, after every choice is made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def load_photo_pool(folders: list[str | Path], shrink: int = 2, min_side: int = 256) -> list[np.ndarray]:
    """Every photo under ``folders`` as uint8 RGB, shrunk by ``shrink`` with an area
    filter (it washes out JPEG artefacts so the clean target is clean), sorted by path."""
    return [photo for _, photo in load_named_photo_pool(folders, shrink, min_side)]


def load_named_photo_pool(folders: list[str | Path], shrink: int = 2,
                          min_side: int = 256) -> list[tuple[Path, np.ndarray]]:
    """:func:`load_photo_pool` with the file each photo came from, in the same order."""
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
                pool.append((path, np.asarray(img, dtype=np.uint8)))
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
class ExamplePool:
    """A fixed set of training examples, each with an identity (its index) that a weight
    can belong to: clean patches cut once from the training photos, and the target each
    one is trained towards (its own clean patch unless ``corrupted``)."""

    clean: np.ndarray  # (N, 3, patch, patch) uint8: what the input is synthesized from
    targets: np.ndarray  # (N, 3, patch, patch) uint8: what the model is asked to output
    corrupted: np.ndarray  # (N,) bool

    def __len__(self) -> int:
        return len(self.clean)

    def digest(self) -> str:
        """sha256 of every patch and target: a checkpoint resumes only on the same pool."""
        digest = hashlib.sha256(repr(self.clean.shape).encode())
        digest.update(np.ascontiguousarray(self.clean).tobytes())
        digest.update(np.ascontiguousarray(self.targets).tobytes())
        return digest.hexdigest()


def draw_pool(photos: list[np.ndarray], patch: int, count: int, seed: int, chunk: int = 256) -> ExamplePool:
    """``count`` patches drawn once by :class:`PatchSampler` (seeded), kept as uint8, each
    its own target."""
    sampler = PatchSampler(photos, patch, seed=seed)
    clean = np.empty((count, 3, patch, patch), dtype=np.uint8)
    for start in range(0, count, chunk):  # the sampler's floats are k/255, so this is exact
        size = min(chunk, count - start)
        clean[start:start + size] = np.rint(sampler.batch(size) * 255.0).astype(np.uint8)
    return ExamplePool(clean, clean, np.zeros(count, dtype=bool))


def swap_targets(pool: ExamplePool, fraction: float, seed: int) -> ExamplePool:
    """The pool with exactly ``round(fraction * N)`` examples (seeded choice) whose target
    is another example's clean patch: mismatched pairs, the way a paired dataset goes
    wrong when files are misnamed or re-ordered. The input is still synthesized from the
    example's own clean patch, so the target is one the model cannot predict."""
    from edgezoo.errors import BadInputError

    if not 0.0 <= fraction < 1.0:
        raise BadInputError(f"--target-corruption must be in [0, 1), got {fraction}")
    n = len(pool)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(n, int(round(fraction * n)), replace=False)
    partner = (chosen + rng.integers(1, n, len(chosen))) % n  # never the example itself
    targets = pool.clean.copy()
    targets[chosen] = pool.clean[partner]
    corrupted = np.zeros(n, dtype=bool)
    corrupted[chosen] = True
    return ExamplePool(pool.clean, targets, corrupted)


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


def selection_images() -> dict[str, np.ndarray]:
    """The selection split (``edgezoo/assets/calibration``), as float32 HWC RGB in [0, 1]
    by file stem, sorted: what int8 calibration and the int8 recipe choice use, so the
    evaluation photos stay for measuring alone."""
    import io

    folder = resources.files("edgezoo") / "assets" / "calibration"
    out = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.lower().endswith(".png"):
            with Image.open(io.BytesIO(item.read_bytes())) as img:
                out[Path(item.name).stem] = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if not out:
        raise FileNotFoundError(f"no selection photos in {folder}; reinstall edgezoo")
    return out


def content_hash(image: np.ndarray) -> str:
    """sha256 of an image's decoded pixels as uint8 RGB with its shape: the same picture
    gives the same hash whether it was read as uint8 or as float in [0, 1]."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    array = np.ascontiguousarray(array)
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()


def shared_images(splits: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, str, str, str]]:
    """Pictures found in two splits, by :func:`content_hash`: (split, name, other split,
    other name) for each, empty when the splits are disjoint."""
    seen: dict[str, tuple[str, str]] = {}
    shared = []
    for split, images in splits.items():
        hashes = {content_hash(image): name for name, image in images.items()}
        for digest, name in hashes.items():
            if digest in seen and seen[digest][0] != split:
                shared.append((*seen[digest], split, name))
            seen.setdefault(digest, (split, name))
    return shared
