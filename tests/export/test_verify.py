"""``verify_dir`` / ``edgezoo verify``: a folder checked again on fresh inputs, and
every kind of damage caught before anything runs."""

import json
import subprocess

import pytest
import yaml

from edgezoo.errors import ArtifactIntegrityError
from edgezoo.export.verify import verify_dir
from edgezoo.files import sha256_file


def run_cli(python, *args, timeout=600):
    return subprocess.run([python, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=timeout)


def _file(manifest, fmt):
    return next(a.file for a in manifest.artifacts if a.format == fmt)


def test_verify_reruns_parity_on_inputs_the_export_never_saw(maxim_export):
    out, manifest, _ = maxim_export
    report = verify_dir(out)
    assert report.passed and report.seed != 0 and report.model == manifest.name
    checks = {c.format: c for c in report.artifacts}
    assert set(checks) == {"onnx", "tflite", "coreml", "openvino"}
    for fmt in ("onnx", "tflite", "openvino"):
        c = checks[fmt]
        assert c.executed and c.passed and c.psnr_db >= c.threshold_db == 60.0 and c.max_abs < 1e-4
        exported = next(a.parity for a in manifest.artifacts if a.format == fmt)
        assert [i for i in c.inputs if i.startswith("random")] == [i for i in exported.inputs if i.startswith("random")]
        assert c.psnr_db != exported.psnr_db  # other images: other figures
    assert not checks["coreml"].executed and checks["coreml"].passed and "macOS" in checks["coreml"].note


def test_flipped_byte_is_an_integrity_error_naming_the_file(maxim_copy):
    manifest = yaml.safe_load((maxim_copy / "manifest.yaml").read_text())
    name = next(a["file"] for a in manifest["artifacts"] if a["format"] == "onnx")
    data = bytearray((maxim_copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (maxim_copy / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=f"{name} has sha256 .* the manifest says"):
        verify_dir(maxim_copy)


def test_truncated_and_missing_files_are_named(maxim_copy):
    manifest = yaml.safe_load((maxim_copy / "manifest.yaml").read_text())
    tflite = next(a["file"] for a in manifest["artifacts"] if a["format"] == "tflite")
    xml = next(a["file"] for a in manifest["artifacts"] if a["format"] == "openvino")
    path = maxim_copy / tflite
    path.write_bytes(path.read_bytes()[:1000])
    (maxim_copy / xml.replace(".xml", ".bin")).unlink()
    with pytest.raises(ArtifactIntegrityError) as info:
        verify_dir(maxim_copy)
    message = str(info.value)
    assert f"{tflite} is truncated (1000 of" in message and f"{xml} has lost" in message
    assert "\n" not in message


def test_cli_verify_exits_1_with_one_line_on_a_tampered_folder(python, maxim_copy):
    manifest = yaml.safe_load((maxim_copy / "manifest.yaml").read_text())
    name = next(a["file"] for a in manifest["artifacts"] if a["format"] == "tflite")
    with open(maxim_copy / name, "r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 1]))
    result = run_cli(python, "verify", str(maxim_copy))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert name in result.stderr and "sha256" in result.stderr


def test_weights_that_do_not_match_the_artifacts_fail_the_gate(python, maxim_copy):
    """The reference is rebuilt from the folder's weights: other weights, other outputs."""
    from safetensors.numpy import load_file, save_file

    weights = maxim_copy / "weights.safetensors"
    state = load_file(str(weights))
    key = next(k for k in state if k.endswith("conv_in.weight"))
    state[key] = state[key] * 1.5
    save_file(state, str(weights))
    manifest = yaml.safe_load((maxim_copy / "manifest.yaml").read_text())
    manifest["weights"].update(sha256=sha256_file(weights), bytes=weights.stat().st_size)
    (maxim_copy / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))

    report = verify_dir(maxim_copy)
    failed = {c.format for c in report.failures}
    assert not report.passed and failed == {"onnx", "tflite", "openvino"}
    assert all(c.psnr_db < 60.0 for c in report.failures)

    result = run_cli(python, "verify", str(maxim_copy), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["passed"] is False
    assert "miss the parity gate" in result.stderr and "dB < 60 dB" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_verify_of_a_folder_that_is_not_there_is_bad_input(python, tmp_path):
    result = run_cli(python, "verify", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "is not a folder" in result.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli(python, "verify", str(tmp_path / "empty"))
    assert result.returncode == 1 and "no manifest" in result.stderr
