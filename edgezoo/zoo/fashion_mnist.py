"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (MIT), read offline.

60,000 training and 10,000 test images, 28x28 grey. The training images are split, by
a fixed seeded permutation, into a training part and a *selection* part (checkpoint and
recipe choice); the 10,000 test images are only ever used for the reported accuracy.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.zoo.variants.maxvit import FMNIST_LABELS as LABELS  # noqa: F401  (one list of class names)

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
DIR_ENV = "EDGEZOO_FASHION_MNIST"
SELECTION_SIZE = 5000
SPLIT_SEED = 20261130
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def data_dir() -> Path:
    """Where the idx files are: ``EDGEZOO_FASHION_MNIST`` or Debian's location."""
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


def available() -> bool:
    return all((data_dir() / f).is_file() for pair in _FILES.values() for f in pair)


def missing_problem() -> str | None:
    """Why Fashion-MNIST cannot be read here, in one line with the fix; None when it can."""
    if available():
        return None
    return (f"Fashion-MNIST is not at {data_dir()}: `apt-get install dataset-fashion-mnist` "
            f"(or set {DIR_ENV} to a folder with the four idx .gz files)")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) for ``train``, ``selection`` or ``test``.

    ``train`` and ``selection`` partition the 60,000 official training images; ``test``
    is the official 10,000."""
    if split not in ("train", "selection", "test"):
        raise BadInputError(f"unknown Fashion-MNIST split '{split}': choose train, selection or test")
    problem = missing_problem()
    if problem:
        raise BadInputError(problem)
    official = "test" if split == "test" else "train"
    images_file, labels_file = _FILES[official]
    images = _read_idx(data_dir() / images_file)
    labels = _read_idx(data_dir() / labels_file).astype(np.int64)
    if official == "test":
        return images, labels
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    part = order[-SELECTION_SIZE:] if split == "selection" else order[:-SELECTION_SIZE]
    return images[part], labels[part]


def flip_labels(labels: np.ndarray, rate: float, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, which were flipped): a seeded ``rate`` share of the examples get a
    label drawn uniformly from the *other* classes (symmetric label noise)."""
    if not 0.0 <= rate < 1.0:
        raise BadInputError(f"the label-noise rate must be in [0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(labels)) < rate
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, int(flipped.sum()))) % classes
    return noisy, flipped
