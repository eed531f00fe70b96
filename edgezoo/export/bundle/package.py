"""A bundle on disk: a folder or a deterministic zip, each with ``SHA256SUMS``.

The zip holds its entries in sorted order with fixed dates and modes, so the same
bundle gives the same bytes (and the same zip sha256) every time; ``SHA256SUMS`` lists
every other file's sha256, so an altered file is found by ``sha256sum -c`` or by
:func:`edgezoo.runtimes.bundle.open_bundle`."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from edgezoo.files import atomic_path
from edgezoo.runtimes.bundle import SUMS_FILE, file_sha256

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def bundle_files(folder: Path) -> list[str]:
    """Every file under ``folder`` as a sorted list of POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def write_sums(folder: Path) -> str:
    """Write ``SHA256SUMS`` (``sha256sum`` format) for every file of ``folder``; return its text."""
    lines = [f"{file_sha256(folder / name)}  {name}\n" for name in bundle_files(folder) if name != SUMS_FILE]
    text = "".join(lines)
    (folder / SUMS_FILE).write_text(text, encoding="utf-8")
    return text


def write_zip(folder: Path, out: Path) -> Path:
    """Zip ``folder`` into ``out`` atomically and deterministically."""
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in bundle_files(folder):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.create_system = 3  # unix, whatever the host: the same bytes everywhere
                with open(folder / name, "rb") as handle:
                    archive.writestr(info, handle.read(), compresslevel=9)
    return out


def write_folder(folder: Path, out: Path) -> Path:
    """Move the staged ``folder`` to ``out`` atomically (replacing an old bundle)."""
    with atomic_path(out) as tmp:
        shutil.copytree(folder, tmp)
    return out


def is_zip_target(out: str | os.PathLike) -> bool:
    return str(out).lower().endswith(".zip")
