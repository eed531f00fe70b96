"""Reading and writing pictures as float32 RGB arrays. PIL and numpy only (runtime-safe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgezoo.errors import BadInputError
from edgezoo.files import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | Path) -> np.ndarray:
    """Read a picture as HxWx3 float32 RGB in [0, 1] (grey and RGBA are converted)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadInputError(f"{path} is not a readable image ({exc.__class__.__name__}); give a PNG or JPEG") from None
    return np.asarray(rgb, dtype=np.float32) / 255.0


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of a picture, from its header (the pixels are not decoded)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadInputError(f"{path} is not a readable image ({exc.__class__.__name__}); give a PNG or JPEG") from None
    return height, width


def to_uint8(image: np.ndarray) -> np.ndarray:
    """HxWx3 float in [0, 1] (clipped) to uint8, rounding to nearest."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write HxWx3 float RGB in [0, 1] or uint8 atomically; the suffix picks the format."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInputError(f"cannot tell the image format of {path.name}; use .png or .jpg")
    array = image if image.dtype == np.uint8 else to_uint8(image)
    fmt = Image.registered_extensions()[path.suffix.lower()]
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format=fmt)
    return path


def list_images(inputs: list[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of image files."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif item.exists():
            found.append(item)
        else:
            raise BadInputError(f"{item} does not exist")
    if not found:
        raise BadInputError(f"no images among {', '.join(map(str, inputs))}")
    return found
