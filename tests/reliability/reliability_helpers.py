"""Helpers of the reliability tests (imported by name: conftest modules are not)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env_for_subprocess() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def edgezoo_process(*args, timeout: float = 300) -> tuple[int, str, str]:
    """Run the CLI as its own process (bytes names travel as bytes): (status, stdout, stderr),
    the output decoded with surrogates for bytes that are not UTF-8."""
    import subprocess

    result = subprocess.run([sys.executable, "-m", "edgezoo", *[os.fsencode(str(a)) if not isinstance(a, (bytes, os.PathLike)) else os.fsencode(a) for a in args]], capture_output=True,
                            timeout=timeout, env=env_for_subprocess())
    return result.returncode, os.fsdecode(result.stdout), os.fsdecode(result.stderr)


def can_block_reads(tmp_path: Path) -> bool:
    """Whether chmod 000 stops this process reading (not as root)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_text()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o600)
