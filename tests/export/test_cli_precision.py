"""``edgezoo export --precision`` and ``edgezoo verify`` as a user runs them: int8 made
from an fp32 artifact that is not kept, every gate's figure in verify's output, and a
broken calibration that fails the export in one line (or is kept and recorded with
--allow-degraded)."""

import json
import subprocess

import numpy as np
import pytest

MODEL = "maxim-tiny-denoise"
SMALL = ["--height", "64", "--width", "64", "--no-dynamic"]


def run_cli(python, *args, timeout=600):
    return subprocess.run([python, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=timeout)


def test_int8_only_is_made_from_an_fp32_artifact_that_is_not_kept(python, tmp_path):
    out = tmp_path / "out"
    result = run_cli(python, "export", MODEL, "--format", "onnx", "--precision", "int8", *SMALL, "--untrained",
                     "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    (artifact,) = json.loads(result.stdout)["artifacts"]
    assert artifact["file"] == f"{MODEL}-64x64-int8.onnx" and artifact["precision"] == "int8"
    assert sorted(p.name for p in out.iterdir()) == sorted([artifact["file"], "manifest.yaml", "weights.safetensors"])
    q = artifact["quantization"]
    assert q["source"] == f"{MODEL}-64x64-fp32.onnx (built for this, not kept)"
    assert q["method"] == "static-qdq" and "calibration photos" in q["calibration_set"]
    assert "random initialisation" in q["quality_gate"] and artifact["quality"] is None  # untrained: no task score
    assert artifact["parity"]["executed"] and artifact["parity"]["psnr_db"] >= 30.0

    verified = run_cli(python, "verify", str(out), "--json")
    assert verified.returncode == 0, verified.stderr
    (check,) = json.loads(verified.stdout)["artifacts"]
    parity, quality, validator = check["gates"]
    assert validator["gate"] == "validator" and validator["passed"] and validator["validator"].startswith("onnx.checker")
    assert parity["gate"] == "parity" and parity["threshold_db"] == 30.0 and parity["psnr_db"] >= 30.0
    assert quality["gate"] == "task quality" and "random initialisation" in quality["skipped"]
    text = run_cli(python, "verify", str(out))
    assert text.returncode == 0 and "task quality gate: not run" in text.stdout


def _grey_pictures(folder):
    from edgezoo.imageio import write_image

    folder.mkdir()
    for i in range(4):
        write_image(folder / f"grey{i}.png", np.full((80, 80, 3), 0.5, np.float32))
    return folder


@pytest.mark.slow  # two exports; tests/precision checks the same through export_model, reusing its fp32
def test_broken_calibration_fails_the_export_in_one_line_and_keeps_nothing(python, tmp_path):
    """With the trained weights: an untrained network's output is nearly its input (the
    residual branch is small), so even a collapsed calibration keeps its parity."""
    grey = _grey_pictures(tmp_path / "grey")
    out = tmp_path / "out"
    args = ["export", MODEL, "--format", "tflite", "--precision", "int8", "--int8-mode", "static",
            "--calibration", str(grey), *SMALL, "--out", str(out), "--json"]
    result = run_cli(python, *args)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"{MODEL}-64x64-int8.tflite" in message and "threshold of 30 dB" in message
    assert "No int8 remedy passed" in message and "--allow-degraded" in message
    assert sorted(p.name for p in out.iterdir()) == ["manifest.yaml", "weights.safetensors"]

    kept = run_cli(python, *args, "--allow-degraded")
    assert kept.returncode == 0, kept.stderr
    report = json.loads(kept.stdout)
    (artifact,) = report["artifacts"]
    assert report["degraded"] == [artifact["file"]]
    assert artifact["quantization"]["degraded"] is True and artifact["parity"]["passed"] is False
    assert artifact["parity"]["psnr_db"] < 30.0 and "allow_degraded" in artifact["parity"]["note"]
    assert "caller-supplied pictures" in artifact["quantization"]["calibration_set"]

    verified = run_cli(python, "verify", str(out))
    assert verified.returncode == 0, verified.stderr  # recorded at export: reported, not failed
    assert "DEGRADED (allowed at export)" in verified.stdout
