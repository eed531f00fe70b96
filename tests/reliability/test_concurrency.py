"""Concurrency: 8 threads sharing one session get the outputs a lone caller gets; and
processes exporting into and reading from one store at once never see a corrupted or
half-visible artifact (the store's lock and rename protocol, `edgezoo.runtimes.store`)."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import env_for_subprocess

from edgezoo import runtimes


@pytest.mark.parametrize("artifact", ["onnx-fp32-static", "onnx-fp32-dynamic"])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_eight_threads_sharing_one_session_get_identical_outputs(conv_dir, backend, artifact):
    from edgezoo.runtimes.backends import get_backend

    if not get_backend(backend).available():
        pytest.skip(f"{backend} is not installed")
    session = runtimes.load(conv_dir, backend=backend, artifact=artifact, prefer=["cpu"])
    rng = np.random.default_rng(8)
    pictures = [rng.integers(0, 256, (50 + 13 * i, 70 + 5 * i, 3), dtype=np.uint8) for i in range(16)]
    alone = [session(p) for p in pictures]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(2):
            shared = list(pool.map(session, pictures))
            assert all(np.array_equal(a, b) for a, b in zip(alone, shared))


# A writer that follows the exporter's protocol with real pieces (the store's lock,
# `promote`, `Manifest.save`) on ONNX built without torch, so many commits fit in
# seconds: each commit replaces the artifact with one of two different nets (seed 0 or 1).
WRITER = r"""
import sys, time, json
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from artifacts import conv_onnx
from edgezoo.export.folder import promote, staging_dir
from edgezoo.files import sha256_file, size_bytes
from edgezoo.manifests import load_manifest
from edgezoo.runtimes.store import export_lock
out, seconds = Path(sys.argv[1]), float(sys.argv[2])
start = time.time()
commits = 0
while time.time() < start + seconds:
    with export_lock(out, exclusive=True), staging_dir(out) as stage:
        manifest = load_manifest(out)
        staged = stage / "static.onnx"
        conv_onnx(staged, 64, seed=commits % 2)
        promote(staged, out / "static.onnx")
        time.sleep(0.01)  # the window a reader must never see: new file, old manifest entry
        art = manifest.artifacts[0]
        manifest.artifacts = [art.model_copy(update={"sha256": sha256_file(out / "static.onnx"),
                                                     "bytes": size_bytes(out / "static.onnx")})]
        manifest.save(out / "manifest.yaml")
    commits += 1
print(json.dumps({"commits": commits, "start": start, "end": time.time()}))
"""

READER = r"""
import sys, json, time
import numpy as np
from edgezoo import runtimes
out, seconds = sys.argv[1], float(sys.argv[2])
picture = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
seen, errors, loads, start = set(), [], 0, time.time()
while time.time() < start + seconds:
    try:
        session = runtimes.load(out, artifact="static.onnx", backend="onnxruntime", prefer=["cpu"])
        seen.add(round(float(session(picture).sum()), 3))
        loads += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"seen": sorted(seen), "errors": errors[:5], "error_count": len(errors), "loads": loads,
                  "start": start, "end": time.time()}))
"""


def test_writers_and_readers_of_one_store_never_see_a_half_state(conv_dir, tmp_path):
    import json
    import shutil

    store = tmp_path / "store" / "conv-test"
    shutil.copytree(conv_dir, store)
    (store / "dynamic.onnx").unlink()
    from edgezoo.manifests import load_manifest

    manifest = load_manifest(store)
    manifest.artifacts = [a for a in manifest.artifacts if a.file == "static.onnx"]
    manifest.save(store / "manifest.yaml")
    env = env_for_subprocess()
    helpers = str(Path(__file__).resolve().parents[1] / "runtimes")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), "8", helpers], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(store), "8"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    done = []
    for process in writers + readers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        done.append(json.loads(out))
    commits, reads = done[:2], done[2:]
    assert max(r["start"] for r in done) < min(r["end"] for r in done)  # all four ran at the same time
    assert all(w["commits"] > 0 for w in commits) and all(r["loads"] > 0 for r in reads), done
    for result in reads:
        assert result["error_count"] == 0, result["errors"]
    seen = set().union(*(r["seen"] for r in reads))
    assert len(seen) <= 2, seen  # only ever one of the two whole nets
    assert not list(store.glob(".edgezoo-staging-*"))


@pytest.mark.slow
def test_four_processes_exporting_and_reading_one_store(tmp_path):
    """Two real exports of the MULLER resizer into one store folder and two readers
    loading and running it the whole time; then `edgezoo verify` passes."""
    import json

    store = tmp_path / "store"
    out = store / "muller-resizer-fmnist-16"
    env = env_for_subprocess()
    args = ["export", "muller-resizer-fmnist-16", "--untrained", "--format", "onnx,openvino", "-o", str(out)]
    exporters = [subprocess.Popen([sys.executable, "-m", "edgezoo", *args], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    reader_code = r"""
import sys, json, time
from pathlib import Path
import numpy as np
from edgezoo import runtimes
from edgezoo.errors import ManifestError, UnknownModelError
store, stop, errors, runs = sys.argv[1], Path(sys.argv[2]), [], 0
picture = np.random.default_rng(1).random((28, 28)).astype(np.float32)
while True:
    last = stop.exists()  # one more load after the exports ended
    try:
        session = runtimes.load("muller-resizer-fmnist-16", search=[store])
        assert session(picture).shape == (16, 16)
        runs += 1
    except (ManifestError, UnknownModelError) as exc:
        if runs:  # once it has loaded, the export never disappears again
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)  # no export finished yet
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    if last:
        break
print(json.dumps({"runs": runs, "errors": errors[:5]}))
"""
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", reader_code, str(store), str(stop)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for e in exporters:
        assert e.wait(timeout=600) == 0, e.stderr.read()[-2000:]
    stop.touch()
    for r in readers:
        stdout, stderr = r.communicate(timeout=600)
        assert r.returncode == 0, stderr[-2000:]
        result = json.loads(stdout)
        assert result["errors"] == [] and result["runs"] > 0, result
    verify = subprocess.run([sys.executable, "-m", "edgezoo", "verify", str(out)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]
