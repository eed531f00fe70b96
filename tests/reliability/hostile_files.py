"""Hostile and odd picture files, each made by a small function of its path.

``BAD`` files must be refused with a one-line error (exit 2) and leave no output;
``ODD`` files are valid pictures that must run, their output the upright size of the
input. To add a case, add a function to either table (a bundle test can reuse them).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

RNG = np.random.default_rng(0)


def _rgb(h: int = 40, w: int = 56) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _png_bytes(image: Image.Image | None = None) -> bytes:
    buffer = io.BytesIO()
    (image or _rgb()).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_bytes(image: Image.Image | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    (image or _rgb()).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(path: Path) -> None:
    """A 200-byte PNG whose header claims 100000 x 100000 RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + _chunk(b"IEND", b""))


def jpeg_bomb(path: Path) -> None:
    """A small JPEG whose frame header (SOF0) is patched to 65000 x 65000."""
    data = bytearray(_jpeg_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    path.write_bytes(bytes(data))


def bmp_bomb(path: Path) -> None:
    """A BMP header claiming 60000 x 60000 pixels and almost no pixel data."""
    header = struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + header + b"\0" * 16)


def zero_png(path: Path) -> None:
    path.write_bytes(b"")


def zero_jpg(path: Path) -> None:
    path.write_bytes(b"")


def png_cut_in_header(path: Path) -> None:
    path.write_bytes(_png_bytes()[:30])


def png_cut_in_pixels(path: Path) -> None:
    data = _png_bytes()
    path.write_bytes(data[:len(data) // 2])


def jpeg_cut_in_pixels(path: Path) -> None:
    data = _jpeg_bytes()
    path.write_bytes(data[:len(data) // 2])


def png_bad_crc(path: Path) -> None:
    data = bytearray(_png_bytes())
    data[29] ^= 0xFF  # inside IHDR's CRC
    path.write_bytes(bytes(data))


def png_signature_only(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n")


def text_named_png(path: Path) -> None:
    path.write_text("just some notes, not a picture\n")


def html_named_png(path: Path) -> None:
    path.write_text("<!doctype html><html><body><img src=x></body></html>")


def random_bytes_named_jpg(path: Path) -> None:
    path.write_bytes(RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes())


def pdf_named_tiff(path: Path) -> None:
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")


def tiff_bad_ifd(path: Path) -> None:
    path.write_bytes(b"II*\x00" + struct.pack("<I", 0x7FFFFFF0) + b"\0" * 32)


def gif_truncated(path: Path) -> None:
    buffer = io.BytesIO()
    _rgb().save(buffer, format="GIF")
    path.write_bytes(buffer.getvalue()[:20])


def zero_width_png(path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 0, 16, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b""))


def dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere.png")


def missing(path: Path) -> None:
    """Nothing is written: the path does not exist."""


BAD: dict[str, tuple[str, Callable[[Path], None]]] = {
    "png-bomb-100000x100000": ("bomb.png", png_bomb),
    "jpeg-bomb-65000x65000": ("bomb.jpg", jpeg_bomb),
    "bmp-bomb-60000x60000": ("bomb.bmp", bmp_bomb),
    "zero-byte-png": ("empty.png", zero_png),
    "zero-byte-jpg": ("empty.jpg", zero_jpg),
    "png-cut-in-header": ("cut.png", png_cut_in_header),
    "png-cut-in-pixels": ("cut.png", png_cut_in_pixels),
    "jpeg-cut-in-pixels": ("cut.jpg", jpeg_cut_in_pixels),
    "png-bad-crc": ("crc.png", png_bad_crc),
    "png-signature-only": ("sig.png", png_signature_only),
    "text-named-png": ("notes.png", text_named_png),
    "html-named-png": ("page.png", html_named_png),
    "random-bytes-named-jpg": ("noise.jpg", random_bytes_named_jpg),
    "pdf-named-tiff": ("doc.tiff", pdf_named_tiff),
    "tiff-bad-ifd": ("ifd.tif", tiff_bad_ifd),
    "gif-truncated": ("cut.gif", gif_truncated),
    "png-zero-width": ("zero.png", zero_width_png),
    "dangling-symlink": ("link.png", dangling_symlink),
    "missing-file": ("missing.png", missing),
}


# ---- odd but valid: (file name, builder, upright (height, width)) ----------------------

def _saver(mode_image: Callable[[], Image.Image], fmt: str, **options) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        mode_image().save(path, format=fmt, **options)
    return save


def _mode(mode: str) -> Callable[[], Image.Image]:
    def make() -> Image.Image:
        rgb = _rgb()
        if mode == "I;16":
            return Image.fromarray((RNG.integers(0, 65536, (40, 56))).astype(np.uint16))
        if mode == "I":
            return Image.fromarray(RNG.integers(0, 65536, (40, 56)).astype(np.int32))
        if mode == "F":
            return Image.fromarray(RNG.random((40, 56)).astype(np.float32))
        if mode == "P-transparent":
            image = rgb.convert("P")
            image.info["transparency"] = 0
            return image
        return rgb.convert(mode)
    return make


def _exif_rotated(path: Path) -> None:
    image = _rgb(20, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(path, format="JPEG", exif=exif.tobytes())


def _animated_gif(path: Path) -> None:
    frames = [_rgb(30, 50).convert("P") for _ in range(3)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _symlink_to_picture(path: Path) -> None:
    target = path.parent / "real-picture.png"
    _rgb().save(target)
    path.symlink_to(target)


ODD: dict[str, tuple[str, Callable[[Path], None], tuple[int, int]]] = {
    "mode-1": ("bw.png", _saver(_mode("1"), "PNG"), (40, 56)),
    "mode-L": ("grey.png", _saver(_mode("L"), "PNG"), (40, 56)),
    "mode-LA": ("grey-alpha.png", _saver(_mode("LA"), "PNG"), (40, 56)),
    "mode-P": ("palette.png", _saver(_mode("P"), "PNG"), (40, 56)),
    "mode-P-transparent": ("palette-t.png", _saver(_mode("P-transparent"), "PNG"), (40, 56)),
    "mode-I;16": ("deep.png", _saver(_mode("I;16"), "PNG"), (40, 56)),
    "mode-I": ("int.tif", _saver(_mode("I"), "TIFF"), (40, 56)),
    "mode-F": ("float.tif", _saver(_mode("F"), "TIFF"), (40, 56)),
    "mode-CMYK-jpeg": ("cmyk.jpg", _saver(_mode("CMYK"), "JPEG"), (40, 56)),
    "mode-CMYK-tiff": ("cmyk.tif", _saver(_mode("CMYK"), "TIFF"), (40, 56)),
    "mode-YCbCr-jpeg": ("ycbcr.jpg", _saver(_mode("YCbCr"), "JPEG"), (40, 56)),
    "mode-RGBA": ("rgba.png", _saver(_mode("RGBA"), "PNG"), (40, 56)),
    "mode-RGB-webp": ("rgb.webp", _saver(_mode("RGB"), "WEBP"), (40, 56)),
    "mode-RGB-bmp": ("rgb.bmp", _saver(_mode("RGB"), "BMP"), (40, 56)),
    "1x1": ("dot.png", lambda p: _rgb(1, 1).save(p), (1, 1)),
    "20000x20": ("wide.png", lambda p: _rgb(20, 20000).save(p), (20, 20000)),
    "20x2000": ("tall.png", lambda p: _rgb(2000, 20).save(p), (2000, 20)),
    "exif-rotated": ("portrait.jpg", _exif_rotated, (40, 20)),
    "animated-gif": ("anim.gif", _animated_gif, (30, 50)),
    "upper-case-suffix": ("LOUD.PNG", lambda p: _rgb().save(p, format="PNG"), (40, 56)),
    "non-utf8-name": (b"caf\xe9-\xff.png", lambda p: _rgb().save(p, format="PNG"), (40, 56)),
    "very-long-name": ("n" * 240 + ".png", lambda p: _rgb().save(p, format="PNG"), (40, 56)),
    "symlink-to-picture": ("link.png", _symlink_to_picture, (40, 56)),
}


def make(folder: Path, name: str | bytes, builder: Callable[[Path], None]) -> Path:
    """Build one case in ``folder`` (a bytes name is taken as the file system's bytes)."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
    builder(path)
    return path
