import os
import sys
from pathlib import Path

import pytest

# Tests never touch the user's cache.
os.environ.setdefault("EDGEZOO_CACHE", str(Path(__file__).resolve().parent.parent / ".pytest-cache-edgezoo"))


@pytest.fixture(scope="session")
def python() -> str:
    """The interpreter running the tests, for CLI subprocesses."""
    return sys.executable
