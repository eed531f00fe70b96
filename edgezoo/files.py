"""Atomic writes, content hashes and the cache folder, shared by the zoo, the exporters, the runtime and the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

CACHE_ENV = "EDGEZOO_CACHE"


def cache_root() -> Path:
    """edgezoo's cache folder: ``$EDGEZOO_CACHE``, else ``~/.cache/edgezoo``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgezoo")


def companion_files(path: str | os.PathLike) -> list[Path]:
    """Files that belong to an artifact without being named by it: the weights ``.bin``
    beside an OpenVINO IR ``.xml`` (expected even when absent, so a missing one is noticed)."""
    path = Path(path)
    return [path.with_suffix(".bin")] if path.suffix == ".xml" else []


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file or, for a directory (a Core ML package),
    of its files' relative paths and contents in sorted order. An OpenVINO IR
    (``.xml``) is hashed with its ``.bin``, names included, so the digest of the
    ``.xml`` covers the whole artifact; a missing ``.bin`` changes the digest."""
    path = Path(path)
    digest = hashlib.sha256()
    companions = companion_files(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path, *companions]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        elif companions:
            digest.update(file.name.encode())
            if not file.is_file():
                continue
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def size_bytes(path: str | os.PathLike) -> int:
    """Size of a file, the summed size of a directory's files, or of an OpenVINO IR
    ``.xml`` plus its ``.bin``."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size + sum(c.stat().st_size for c in companion_files(path) if c.is_file())


def remove_path(path: str | os.PathLike) -> None:
    """Delete a file or directory if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ordinary_modes(path: str | os.PathLike) -> None:
    """Give ``path`` and, for a directory, everything under it the modes a plain
    write would (0644 files and 0755 folders under the usual umask): writers that go
    through their own temp files (coremltools' package) leave 0600 and 0700."""
    mask = _umask()
    path = Path(path)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o777 & ~mask)
            for name in files:
                os.chmod(os.path.join(root, name), 0o666 & ~mask)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only if the
    block finishes. On any exception (Ctrl-C included) the temporary is removed,
    so a reader never sees a half-written file or directory."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # the name is cut so a long file name (up to the 255-byte limit) still fits in the temporary's
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name[:64]}.", suffix=".partial", dir=final.parent))
    tmp = tmp_dir / final.name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        ordinary_modes(tmp)
        remove_path(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def atomic_write_bytes(final: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``final`` atomically and return the path."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def atomic_write_text(final: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``final`` atomically and return the path."""
    return atomic_write_bytes(final, text.encode("utf-8"))


# lock files this process holds exclusively: flock locks belong to an open file,
# so a reader in the process that is writing must not ask again (it would wait on itself)
_HELD_EXCLUSIVE: dict[Path, int] = {}  # lock file -> the thread that holds it


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, exclusive: bool, name: str | None = None,
                wait: bool = True) -> Iterator[bool]:
    """Hold an advisory ``flock`` on ``folder`` itself (no file is created), or on the
    file ``folder/name``: exclusive for a writer, shared for readers; waits for the other
    kind. Yields whether a lock is held: False where none can be taken (no ``fcntl``, or
    a folder that does not exist yet: nobody is writing it). Re-entrant for the thread
    that holds it exclusively. With ``wait=False``, raises :class:`BlockingIOError` at
    once if another process holds it."""
    folder = Path(folder).resolve()
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the rename protocol still holds
        yield False
        return
    path = folder / name if name else folder
    if _HELD_EXCLUSIVE.get(path) == threading.get_ident():
        yield True
        return
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask()) if name else os.open(path, os.O_RDONLY)
        except OSError:  # a reader of a folder not there yet, or not its to open: nobody writes it
            if exclusive:
                raise
            yield False
            return
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB))
        except BaseException:
            os.close(fd)
            raise
        try:  # the folder may have been removed (and made again) while this waited
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except OSError:
            pass
        os.close(fd)
        if exclusive:
            folder.mkdir(parents=True, exist_ok=True)
    try:
        if exclusive:
            _HELD_EXCLUSIVE[path] = threading.get_ident()
        try:
            yield True
        finally:
            if exclusive:
                _HELD_EXCLUSIVE.pop(path, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
