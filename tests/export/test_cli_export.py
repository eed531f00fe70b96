"""``edgezoo export`` as a user runs it: a subprocess, exit codes, one-line errors."""

import json
import subprocess

import pytest


def run_cli(python, *args, timeout=600):
    return subprocess.run([python, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=timeout)


def _one_line_error(result, code):
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    return result.stderr


def test_export_onnx_then_verify_it(python, tmp_path):
    out = tmp_path / "out"
    result = run_cli(python, "export", "maxim-tiny-denoise", "--format", "onnx", "--height", "64", "--width", "64",
                     "--untrained", "--no-dynamic", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (artifact,) = report["artifacts"]
    assert artifact["file"] == "maxim-tiny-denoise-64x64-fp32.onnx" and (out / artifact["file"]).is_file()
    assert artifact["parity"]["executed"] and artifact["parity"]["psnr_db"] >= 100.0
    assert artifact["export_seconds"] > 0 and report["skipped"] == []
    assert (out / "manifest.yaml").is_file() and (out / "weights.safetensors").is_file()

    verified = run_cli(python, "verify", str(out))
    assert verified.returncode == 0, verified.stderr
    assert "maxim-tiny-denoise-64x64-fp32.onnx" in verified.stdout and "pass" in verified.stdout


@pytest.mark.parametrize("args, message", [
    (["--format", "tensorrt"], "unknown format 'tensorrt'"),
    (["--format", "onnx", "--precision", "fp8"], "unknown precision 'fp8'"),
    (["--format", "onnx", "--height", "100"], "height 100 is not a multiple of 32"),
])
def test_bad_options_exit_2_in_one_line(python, tmp_path, args, message):
    result = run_cli(python, "export", "maxim-tiny-denoise", "--untrained", "--out", str(tmp_path / "o"), *args)
    assert message in _one_line_error(result, 2)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.onnx"))


def test_unknown_model_exits_2(python, tmp_path):
    result = run_cli(python, "export", "maxim-huge-denoise", "--out", str(tmp_path))
    assert "unknown model 'maxim-huge-denoise'" in _one_line_error(result, 2)


def test_unwritable_output_folder_is_one_clear_line(python, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(python, "export", "maxim-tiny-denoise", "--format", "onnx", "--untrained",
                     "--height", "64", "--width", "64", "--out", str(blocker / "out"))
    assert "cannot write to the output folder" in _one_line_error(result, 2)
