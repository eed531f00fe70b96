"""The LiteRT backend's fallback interpreter, ``tflite-runtime``, run for real.

tflite-runtime 2.14 needs numpy<2, so it lives in its own small venv (no torch, no
ai-edge-litert; ``.ci/run`` builds it) named by ``EDGEZOO_TFLITE_RUNTIME_PYTHON``. The
runtime there restores the same input as ``ai-edge-litert`` does here; both must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgezoo.metrics import parity_psnr

FALLBACK_PYTHON = os.environ.get("EDGEZOO_TFLITE_RUNTIME_PYTHON")

pytestmark = pytest.mark.skipif(
    not FALLBACK_PYTHON or not Path(FALLBACK_PYTHON).is_file(),
    reason="EDGEZOO_TFLITE_RUNTIME_PYTHON names no interpreter (.ci/run builds that venv)",
)

SCRIPT = """
import json, sys, importlib.util
import numpy as np
from edgezoo import runtimes
session = runtimes.load(sys.argv[1], backend="litert")
image = np.load(sys.argv[2])
np.save(sys.argv[3], session(image))
print(json.dumps({
    "interpreter": session.describe()["runtime"]["interpreter"],
    "numpy": np.__version__,
    "torch_installed": importlib.util.find_spec("torch") is not None,
    "litert_installed": importlib.util.find_spec("ai_edge_litert") is not None,
}))
"""


def test_tflite_runtime_runs_the_artifact_like_ai_edge_litert(tiny_export: Path, tmp_path: Path) -> None:
    from edgezoo import runtimes

    rng = np.random.default_rng(7)
    image = rng.random((80, 96, 3), dtype=np.float32)  # not the artifact's 64x64: tiled
    np.save(tmp_path / "in.npy", image)
    done = subprocess.run(
        [FALLBACK_PYTHON, "-c", SCRIPT, str(tiny_export), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "EDGEZOO_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info == {"interpreter": "tflite-runtime", "numpy": info["numpy"], "torch_installed": False,
                    "litert_installed": False}
    assert info["numpy"].startswith("1.")

    primary = runtimes.load(tiny_export, backend="litert")
    assert primary.describe()["runtime"]["interpreter"] == "ai-edge-litert"
    expected = primary(image)
    got = np.load(tmp_path / "out.npy")
    assert got.shape == expected.shape == image.shape
    assert parity_psnr(expected, got) >= 60.0
