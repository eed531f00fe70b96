"""Crashes: a batch or an export killed (SIGKILL, the whole process group) at random
points leaves its folder consistent, and the rerun completes (for an export, with
`edgezoo verify` passing); a full disk gives a one-line error and nothing partial."""

import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import env_for_subprocess
from PIL import Image

from edgezoo.files import sha256_file
from edgezoo.runtimes.batch import JOURNAL_FILE

KILL_SEED = 1309


def pictures(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (60 + i % 4 * 9, 80, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")


def visible(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def start_killable(*args: str) -> subprocess.Popen:
    """The CLI in its own process group, so a kill takes its pool workers too (a crash)."""
    return subprocess.Popen([sys.executable, "-m", "edgezoo", *args], env=env_for_subprocess(),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_after(job: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL the job's group after ``seconds``; whether it was still running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.01)
    running = job.poll() is None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    return running


def batch_killed_at_random_points(conv_dir: Path, tmp_path: Path, edgezoo, kills: int) -> None:
    pictures(tmp_path / "in", 16)
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "clean", "--workers", 2)[0] == 0
    clean = visible(tmp_path / "clean")
    out = tmp_path / "out"
    delays = random.Random(KILL_SEED).sample([i * 0.25 for i in range(4, 40)], kills)
    for delay in delays:
        job = start_killable("batch", str(conv_dir), str(tmp_path / "in"), "-o", str(out), "--workers", "2")
        kill_after(job, delay)
        # consistent at once: every output there is whole (the clean run's bytes)
        assert all(clean[name] == data for name, data in visible(out).items()), delay
    code, out_text, err = edgezoo("batch", conv_dir, tmp_path / "in", "-o", out, "--workers", 2)
    assert code == 0, (out_text, err)
    assert visible(out) == clean
    assert not list(out.rglob("*.partial"))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [JOURNAL_FILE, ".edgezoo-batch.lock"]


def test_a_batch_killed_at_a_random_point_resumes(conv_dir, tmp_path, edgezoo):
    batch_killed_at_random_points(conv_dir, tmp_path, edgezoo, kills=1)


@pytest.mark.slow
def test_a_batch_killed_at_five_random_points_resumes(conv_dir, tmp_path, edgezoo):
    batch_killed_at_random_points(conv_dir, tmp_path, edgezoo, kills=5)


def store_is_consistent(folder: Path) -> None:
    """Whatever the manifest lists is there and whole; nothing visible is half-written."""
    from edgezoo.manifests import load_manifest

    if not (folder / "manifest.yaml").is_file():
        return
    manifest = load_manifest(folder)  # always parses: it is written by rename
    for artifact in manifest.artifacts:
        assert sha256_file(folder / artifact.file) == artifact.sha256, artifact.file


@pytest.mark.slow
def test_an_export_killed_at_random_points_reruns_and_verifies(tmp_path):
    """The MULLER resizer (the cheapest real export), killed 3 times at seeded random
    points of its run (import, conversion, parity, move, manifest), then exported again
    and verified by `edgezoo verify`."""
    out = tmp_path / "store" / "muller-resizer-fmnist-16"
    args = ("export", "muller-resizer-fmnist-16", "--untrained", "--format", "onnx,openvino", "-o", str(out))
    for delay in random.Random(KILL_SEED).sample([1.0 * i for i in range(2, 30)], 3):
        kill_after(start_killable(*args), delay)
        store_is_consistent(out)
    done = subprocess.run([sys.executable, "-m", "edgezoo", *args], env=env_for_subprocess(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(out.glob(".edgezoo-staging-*")) and not list(out.glob(".*.partial"))
    verify = subprocess.run([sys.executable, "-m", "edgezoo", "verify", str(out)], env=env_for_subprocess(),
                            capture_output=True, text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]


@contextlib.contextmanager
def small_disk(tmp_path: Path, monkeypatch):
    """A 64 KiB tmpfs where this process may mount one (root in CI), else writes that
    raise ENOSPC (a monkeypatched PIL save). Yields (folder, which)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    if not mounted:
        def full(self, fp, *args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(Image.Image, "save", full)
    if mounted:  # fill it, leaving less room than an output needs
        with contextlib.suppress(OSError), open(folder / "filler", "wb") as handle:
            handle.write(b"\0" * (60 << 10))
    try:
        yield folder, "tmpfs" if mounted else "ENOSPC"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_one_line_and_leaves_nothing_partial(conv_dir, tmp_path, edgezoo, monkeypatch):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    with small_disk(tmp_path, monkeypatch) as (folder, which):
        code, out, err = edgezoo("run", conv_dir, tmp_path / "big.png", "-o", folder / "restored.png")
        print(f"full disk simulated by {which}")
        assert code == 1, (out, err)
        lines = err.strip().splitlines()
        assert lines[-1].startswith("edgezoo: error: cannot write") and "No space left on device" in lines[-1]
        assert "Traceback" not in err
        assert [p.name for p in folder.iterdir()] in ([], ["filler"])


def test_a_full_disk_fails_a_batch_cleanly(conv_dir, tmp_path, edgezoo, monkeypatch):
    pictures(tmp_path / "in", 3)
    with small_disk(tmp_path, monkeypatch) as (folder, which):
        if which != "tmpfs":
            pytest.skip("no tmpfs mount here, and batch workers are other processes a monkeypatch cannot reach")
        code, out, err = edgezoo("batch", conv_dir, tmp_path / "in", "-o", folder / "out", "--workers", 1)
        assert code != 0 and "Traceback" not in err, (out, err)
        assert "No space left on device" in out + err
        written = [p for p in (folder / "out").rglob("*") if p.is_file() and not p.name.startswith(".edgezoo-batch")]
        assert all(Image.open(p).verify() is None for p in written)
        assert not list((folder / "out").rglob("*.partial"))
