"""Converter housekeeping: keep the converters' progress bars, warnings and C++ logs
off the user's terminal (they are kept for the error message instead), and record
the versions of the tools that built an artifact."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Iterator

DEBUG_ENV = "EDGEZOO_DEBUG"  # set to 1 to let converter output through


class ToolLog:
    """What the converters printed while captured."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def captured_output() -> Iterator[ToolLog]:
    """Redirect stdout and stderr, at the file-descriptor level too (C++ converters
    write there directly), into a temporary file, and silence Python warnings.
    The text is available on the yielded :class:`ToolLog` afterwards."""
    log = ToolLog()
    if os.environ.get(DEBUG_ENV):
        yield log
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved: list[tuple[int, int]] = []
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                continue  # not a real file (a notebook, a test capture): Python-level redirect only
            saved.append((fd, os.dup(fd)))
            os.dup2(sink.fileno(), fd)
        text = io.TextIOWrapper(sink, encoding="utf-8", errors="replace", write_through=True)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield log
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            with contextlib.suppress(Exception):
                text.flush()
                sink.seek(0)
                log.text = sink.read().decode("utf-8", errors="replace")
            text.detach()


def tool_versions(*distributions: str, **extra: str) -> dict[str, str]:
    """``{"torch": "2.13.0", ...}`` for the installed distributions, plus ``extra`` facts."""
    found = {}
    for dist in distributions:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    found.update({k: str(v) for k, v in extra.items()})
    return found


def require_tool(module: str, fmt: str, extra: str) -> None:
    """Raise :class:`ExportError` with the install command when a converter package is missing."""
    import importlib.util

    from edgezoo.errors import ExportError

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ExportError(f"{fmt} export needs the '{module}' package: pip install 'edgezoo[{extra}]'")


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then restore the setting.
    Converters trace and fold constants on tiny examples; on a busy host, extra OpenMP
    threads only wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
