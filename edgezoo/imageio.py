"""Reading and writing pictures as float32 arrays in [0, 1]. PIL and numpy only (runtime-safe).

Pictures keep what they are: :func:`read_image` gives RGB (``HxWx3``) by default, and
with ``keep_channels=True`` grey as ``HxW``, grey with alpha as ``HxWx2`` and RGBA as
``HxWx4``, so a caller can restore the colour and carry the alpha through. EXIF
orientation is applied on reading (cameras store portrait photos sideways plus a tag),
so what is restored and written is upright.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edgezoo.errors import BadInputError, OutputWriteError
from edgezoo.files import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")  # a GIF: its first frame
# formats that cannot store an alpha channel
NO_ALPHA_SUFFIXES = (".jpg", ".jpeg")


# what PIL raises on a damaged or hostile file, besides its own UnidentifiedImageError
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error,
                  Image.DecompressionBombError)


def _open_error(path: Path, exc: Exception) -> BadInputError:
    if isinstance(exc, Image.DecompressionBombError):
        return BadInputError(
            f"{path} claims more pixels than edgezoo will decode ({exc.__class__.__name__}: over "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels); give a smaller picture, or tile it first")
    return BadInputError(f"{path} is not a readable image ({exc.__class__.__name__}); give a PNG or JPEG")


def _pixels(img: Image.Image, keep_channels: bool) -> np.ndarray:
    """The picture's pixels as float32 in [0, 1]: RGB, or its own grey/alpha bands."""
    if img.mode.startswith("I"):  # 16-bit grey (PNG, TIFF): keep the depth instead of clipping to 8 bits
        grey = np.clip(np.asarray(img, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return grey if keep_channels else np.repeat(grey[:, :, None], 3, axis=2)
    if not keep_channels:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    has_alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
    if img.mode in ("1", "L", "LA", "F") or (img.mode == "P" and img.palette is not None and img.palette.mode == "L"):
        mode = "LA" if has_alpha else "L"
    else:
        mode = "RGBA" if has_alpha else "RGB"
    return np.asarray(img.convert(mode), dtype=np.float32) / 255.0


def read_image(path: str | Path, keep_channels: bool = False) -> np.ndarray:
    """Read a picture as float32 in [0, 1], upright (EXIF orientation applied).

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG, BMP, TIFF or WebP file.
    keep_channels : bool
        False: HxWx3 RGB whatever the picture (grey replicated, alpha dropped). True:
        grey as HxW, grey+alpha as HxWx2, RGB as HxWx3, RGBA as HxWx4.

    Returns
    -------
    numpy.ndarray
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return _pixels(upright, keep_channels)
    except _DECODE_ERRORS as exc:
        raise _open_error(path, exc) from None


def _header(path: Path) -> Image.Image:
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        return Image.open(path)
    except _DECODE_ERRORS as exc:
        raise _open_error(path, exc) from None


def _upright_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    try:
        # orientations 5-8 swap the sides (a quarter turn, with or without a flip)
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            width, height = height, width
    except Exception:  # a damaged EXIF block: read_image will say what is wrong
        pass
    return height, width


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of a picture as :func:`read_image` returns it, from its header
    (the pixels are not decoded)."""
    with _header(Path(path)) as img:
        return _upright_size(img)


def has_alpha(path: str | Path) -> bool:
    """Whether a picture has an alpha channel (from its header)."""
    with _header(Path(path)) as img:
        return "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (clipped) to uint8, rounding to nearest."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a picture atomically; the suffix picks the format.

    ``image`` is float in [0, 1] or uint8: HxW or HxWx1 (grey), HxWx2 (grey + alpha),
    HxWx3 (RGB) or HxWx4 (RGBA)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise BadInputError(f"cannot tell the image format of {path.name}; use .png or .jpg")
    array = image if image.dtype == np.uint8 else to_uint8(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise BadInputError(f"cannot write an image of shape {list(image.shape)}: give HxW, HxWx2, HxWx3 or HxWx4")
    if suffix in NO_ALPHA_SUFFIXES and array.ndim == 3 and array.shape[2] in (2, 4):
        raise BadInputError(f"{path.name}: {suffix} cannot store an alpha channel; write a .png")
    if suffix == ".bmp" and array.ndim == 3 and array.shape[2] == 2:  # BMP has RGBA but no grey + alpha
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    fmt = Image.registered_extensions()[suffix]
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(array).save(tmp, format=fmt)
    except OSError as exc:  # the temporary is gone already (atomic_path): say what, not a traceback
        reason = exc.strerror or exc.__class__.__name__
        raise OutputWriteError(f"cannot write {path}: {reason}; free some space or write elsewhere "
                               "(nothing partial was left)") from None
    return path


def list_images(inputs: list[str | Path], recursive: bool = False,
                skipped: list[Path] | None = None) -> list[Path]:
    """Expand files and folders into a sorted list of image files, each once.

    Parameters
    ----------
    inputs : list of paths
        Image files and folders of images.
    recursive : bool
        Also take the images in a folder's subfolders, at any depth.
    skipped : list, optional
        Receives the subfolders left out (``recursive=False``), so a caller can say so.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            if recursive:
                found.extend(sorted(p for p in item.rglob("*")
                                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                                    and not any(part.startswith(".") for part in p.relative_to(item).parts)))
            else:
                found.extend(sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
                if skipped is not None:
                    skipped.extend(sorted(p for p in item.iterdir() if p.is_dir() and not p.name.startswith(".")))
        elif item.exists():
            found.append(item)
        else:
            raise BadInputError(f"{item} does not exist")
    if not found:
        raise BadInputError(f"no images among {', '.join(map(str, inputs))}")
    unique: dict[Path, Path] = {}
    for path in found:  # a file named twice (alone and in its folder) is restored once
        unique.setdefault(path.resolve(), path)
    return list(unique.values())
