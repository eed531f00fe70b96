"""Pictures for the batch tests."""

from pathlib import Path

import numpy as np


def make_pictures(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` random RGB PNGs of a few sizes (some need several tiles)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"photo{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (70 + 7 * (i % 5), 90 + 11 * (i % 3), 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths
