"""Every artifact passes its own ecosystem's validators (onnx.checker, LiteRT's analyzer,
OpenVINO's reader and compiler, coremltools' spec loader) at every precision; a
rejection fails the export like a parity miss and fails ``verify``; Core ML packages
hold no debug files; everything in the export folder has ordinary modes."""

import json
import os
import shutil
import stat
import subprocess

import pytest

from edgezoo.errors import ValidatorError
from edgezoo.export import validators
from edgezoo.export.pipeline import export_model
from edgezoo.export.verify import verify_dir
from edgezoo.manifests import load_manifest
from edgezoo.manifests.schema import ValidatorResult

MODEL = "maxim-tiny-denoise"  # the entry whose I/O contract the conv net shares
PRECISIONS = ("fp32", "fp16", "int8")


@pytest.fixture(scope="module")
def conv_export(tmp_path_factory):
    """(folder, manifest) of the conv net in every format at every precision, 32x32,
    ONNX dynamic too, written under the usual umask."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()
    out = tmp_path_factory.mktemp("validated")
    previous = os.umask(0o022)
    try:
        manifest = export_model(MODEL, formats="all", precisions=",".join(PRECISIONS), out_dir=out, height=32,
                                width=32, model=net, int8_mode="dynamic", measure_quality=False)
    finally:
        os.umask(previous)
    return out, manifest


def _artifacts(manifest, fmt):
    return [a for a in manifest.artifacts if a.format == fmt]


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "openvino", "coreml"])
def test_every_precision_passes_its_formats_validator_and_the_manifest_records_it(conv_export, fmt):
    out, manifest = conv_export
    arts = _artifacts(manifest, fmt)
    assert {a.precision for a in arts} == set(PRECISIONS)
    for art in arts:
        recorded = art.validators
        assert len(recorded) == 1 and recorded[0].passed, (art.file, recorded)
        again = validators.validate(out / art.file, fmt)
        assert all(r.passed for r in again), (art.file, again)
        assert (art.delegates is not None) == (fmt == "tflite")
    assert load_manifest(out).artifacts == manifest.artifacts  # what is recorded is what was written


def test_onnx_fp16_is_topologically_sorted_for_onnx_checker(conv_export):
    import onnx

    out, manifest = conv_export
    fp16 = [a for a in _artifacts(manifest, "onnx") if a.precision == "fp16"]
    assert {a.static_shape for a in fp16} == {True, False}  # the dynamic-shape one too
    for art in fp16:
        onnx.checker.check_model(onnx.load(str(out / art.file)), full_check=True)


def test_onnx_validator_rejects_an_unsorted_graph(conv_export, tmp_path):
    import onnx

    out, manifest = conv_export
    model = onnx.load(str(out / _artifacts(manifest, "onnx")[0].file))
    nodes = list(model.graph.node)[::-1]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(tmp_path / "unsorted.onnx"))
    result = validators.validate_onnx(tmp_path / "unsorted.onnx")
    assert not result.passed and "topologically sorted" in result.message and "\n" not in result.message
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert not validators.validate_onnx(tmp_path / "junk.onnx").passed


def test_tflite_records_gpu_delegate_compatibility(conv_export, tmp_path):
    out, manifest = conv_export
    for art in _artifacts(manifest, "tflite"):
        assert art.delegates == ["xnnpack", "gpu"]
        assert "compatible with GPU delegate" in art.validators[0].message
    # an op the GPU delegate has no kernel for keeps the model off the GPU, but it is still valid
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(out / _artifacts(manifest, "tflite")[0].file))
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "EdgezooNoGpu"
    flatbuffer_utils.write_model(model, str(tmp_path / "custom.tflite"))
    result = validators.validate_tflite(tmp_path / "custom.tflite")
    assert result.passed and result.details["delegates"] == ["xnnpack"]
    assert "EdgezooNoGpu" in result.message and validators.delegates([result]) == ["xnnpack"]


def test_openvino_compiles_on_every_device_named_here_and_names_a_device_that_fails(conv_export):
    import openvino as ov

    out, manifest = conv_export
    art = _artifacts(manifest, "openvino")[0]
    devices = list(ov.Core().available_devices)
    assert art.validators[0].details["compiled"] == devices and devices
    result = validators.validate_openvino(out / art.file, devices=["NO_SUCH_DEVICE"])
    assert not result.passed and "NO_SUCH_DEVICE" in result.message


def test_coreml_packages_hold_no_debug_files_and_the_validator_rejects_one(conv_export, tmp_path):
    out, manifest = conv_export
    for art in _artifacts(manifest, "coreml"):
        assert sorted(p.name for p in (out / art.file).iterdir()) == ["Data", "Manifest.json"]
        assert "not compiled or run" in art.validators[0].message  # says what could not be done here
    package = shutil.copytree(out / _artifacts(manifest, "coreml")[0].file, tmp_path / "debug.mlpackage")
    (package / "executorch_debug_handle_mapping.json").write_text("{}")
    result = validators.validate_coreml(package)
    assert not result.passed and "executorch_debug_handle_mapping.json" in result.message
    shutil.rmtree(package / "Data" / "com.apple.CoreML" / "weights")
    (package / "executorch_debug_handle_mapping.json").unlink()
    assert not validators.validate_coreml(package).passed  # the weights Manifest.json lists are gone


def test_everything_in_the_export_folder_has_ordinary_modes(conv_export):
    out, _ = conv_export
    for path in out.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path.relative_to(out), oct(mode))


def test_a_validator_rejection_fails_the_export_and_keeps_nothing(conv_net, tmp_path, monkeypatch):
    def reject(path):
        return ValidatorResult(validator="stand-in checker", passed=False, message="graph is not valid")

    monkeypatch.setitem(validators.VALIDATORS, "onnx", reject)
    with pytest.raises(ValidatorError, match=r"32x32-fp32.onnx: stand-in checker: graph is not valid") as info:
        export_model(MODEL, formats="onnx", precisions="fp32", out_dir=tmp_path, height=32, width=32,
                     model=conv_net, dynamic=False)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.yaml", "weights.safetensors"]
    assert load_manifest(tmp_path).artifacts == []


def test_a_reduced_artifact_rejected_by_its_validator_is_not_kept(conv_net, tmp_path, monkeypatch):
    real = validators.VALIDATORS["onnx"]

    def reject_fp16(path):
        if "fp16" in path.name:
            return ValidatorResult(validator="stand-in checker", passed=False, message="fp16 graph rejected")
        return real(path)

    monkeypatch.setitem(validators.VALIDATORS, "onnx", reject_fp16)
    with pytest.raises(ValidatorError, match="fp16.onnx: stand-in checker: fp16 graph rejected"):
        export_model(MODEL, formats="onnx", precisions="fp32,fp16", out_dir=tmp_path, height=32, width=32,
                     model=conv_net, dynamic=False)
    assert [a.precision for a in load_manifest(tmp_path).artifacts] == ["fp32"]
    assert not any("fp16" in p.name for p in tmp_path.rglob("*"))


@pytest.fixture(scope="module")
def zoo_onnx_export(tmp_path_factory):
    """maxim-tiny (untrained) as ONNX fp32 and fp16 at 32x32: what verify can rebuild."""
    out = tmp_path_factory.mktemp("verify-validators")
    export_model(MODEL, formats="onnx", precisions="fp32,fp16", out_dir=out, height=32, width=32, pretrained=False,
                 dynamic=False)
    return out


def test_verify_reruns_the_validators_and_json_shows_each_verdict(zoo_onnx_export, python):
    report = verify_dir(zoo_onnx_export)
    assert report.passed
    for check in report.artifacts:
        assert [v["passed"] for v in check.validators] == [True]
        assert any(g["gate"] == "validator" and g["passed"] for g in check.gates())
    result = subprocess.run([python, "-m", "edgezoo", "verify", str(zoo_onnx_export), "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["artifacts"]
    assert {a["precision"] for a in shown} == {"fp32", "fp16"}
    for artifact in shown:
        verdicts = [g for g in artifact["gates"] if g["gate"] == "validator"]
        assert verdicts and all(v["passed"] and v["validator"].startswith("onnx.checker") for v in verdicts)


def test_verify_fails_an_artifact_its_validator_rejects(zoo_onnx_export, monkeypatch):
    def reject(path):
        return ValidatorResult(validator="stand-in checker", passed=False, message="rejected")

    monkeypatch.setitem(validators.VALIDATORS, "onnx", reject)
    report = verify_dir(zoo_onnx_export)
    assert not report.passed and len(report.failures) == 2
    assert all(c.parity_passed and c.verdict == "FAIL" for c in report.failures)
    assert "rejected by stand-in checker: rejected" in report.failures[0].failure_text()
