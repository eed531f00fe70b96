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


def pytest_xdist_make_scheduler(config, log):
    """Hand out whole test folders to the xdist workers: a folder's tests share
    session-scoped exports, so one worker runs all of them and builds each export
    once, while the other worker runs another folder."""
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path.rsplit("/", 1)[0] if "/" in path else path

    return FolderScheduling(config, log)
