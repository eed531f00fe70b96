"""``edgezoo demo``, the README's main job, end to end as a user runs it (at a small
export size so the bundled 320x448 photo goes through the runtime's tiling)."""

import json
import subprocess

import numpy as np

from edgezoo.imageio import read_image
from edgezoo.metrics import psnr


def test_demo_exports_verifies_benches_and_restores_the_sample(python, tmp_path):
    env_cache = tmp_path / "cache"
    result = subprocess.run(
        [python, "-m", "edgezoo", "demo", "--size", "64", "--runs", "2", "--artifacts", str(tmp_path / "artifacts"),
         "--out", str(tmp_path / "demo"), "--json"],
        capture_output=True, text=True, timeout=900, env={**__import__("os").environ, "EDGEZOO_CACHE": str(env_cache)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)

    formats = {row["format"] for row in report["artifacts"]}
    assert formats == {"onnx", "tflite", "coreml", "openvino"}
    for row in report["artifacts"]:
        if row["format"] == "coreml":
            assert row["parity_db"] == "not run (needs macOS)" and row["latency_ms"] is None
        else:
            assert row["parity_db"] >= 100 and row["latency_ms"] > 0 and row["backend"]
    assert report["verify"]["passed"] is True

    clean = read_image(tmp_path / "demo" / "restored.png")
    assert clean.shape == (320, 448, 3)
    side = read_image(tmp_path / "demo" / "side_by_side.png")
    assert side.shape == (320, 3 * 448 + 2 * 8, 3)
    # the restored image written to disk scores what the report says, and beats the noisy input
    from edgezoo.cli.demo_cmd import sample_images

    noisy, truth, _ = sample_images()
    assert abs(psnr(truth, clean) - report["scores"]["restored"]["psnr_db"]) < 0.1
    assert report["scores"]["restored"]["psnr_db"] > report["scores"]["noisy"]["psnr_db"] + 6
    assert np.array_equal(side[:, :448], noisy)
    assert report["plan"]["chosen"]["backend"] in {"onnxruntime", "openvino", "litert"}
