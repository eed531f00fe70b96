"""What a failed export leaves: the parity gate is an error, a converter crash or
Ctrl-C leaves no partial artifact, and the manifest lists only what exists. Uses a
small conv net (exports in seconds) standing in for the zoo model."""

import pytest

from edgezoo.errors import ExportError, ParityError
from edgezoo.export import parity
from edgezoo.export.pipeline import export_model
from edgezoo.manifests import load_manifest

MODEL = "maxim-tiny-denoise"  # the entry whose I/O contract the conv net shares


def _leftovers(out):
    return sorted(p.name for p in out.iterdir() if p.name not in ("weights.safetensors", "manifest.yaml"))


def test_missed_parity_threshold_is_an_error_and_keeps_nothing(conv_net, tmp_path, monkeypatch):
    monkeypatch.setitem(parity.PARITY_THRESHOLDS_DB, "fp32", 250.0)  # above anything a runtime reaches
    with pytest.raises(ParityError) as info:
        export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    message = str(info.value)
    assert "maxim-tiny-denoise-32x32-fp32.onnx" in message
    assert "below the fp32 threshold of 250 dB" in message and " dB" in message.split("parity ")[1]
    assert _leftovers(tmp_path) == []
    assert load_manifest(tmp_path).artifacts == []


def test_converter_crash_midway_leaves_no_partial_file(conv_net, tmp_path, monkeypatch):
    import torch

    def crash(self, destination, **kwargs):
        with open(destination, "wb") as handle:
            handle.write(b"half an onnx file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.onnx.ONNXProgram, "save", crash)
    with pytest.raises(ExportError, match=r"onnx fp32 conversion to .*32x32-fp32.onnx failed: RuntimeError: disk full"):
        export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    assert _leftovers(tmp_path) == ["maxim-tiny-denoise-32x32-fp32.onnx.error.log"]  # the converter's output, for the user
    assert load_manifest(tmp_path).artifacts == []


def test_interrupt_during_conversion_leaves_nothing_partial(conv_net, tmp_path, monkeypatch):
    import torch

    def interrupted(self, destination, **kwargs):
        with open(destination, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx.ONNXProgram, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    assert _leftovers(tmp_path) == []


def test_one_failure_keeps_the_others_and_the_manifest_lists_only_them(conv_net, tmp_path, monkeypatch):
    from edgezoo.export import openvino_export

    def broken(*args, **kwargs):
        raise ValueError("unsupported op aten::frobnicate")

    monkeypatch.setattr(openvino_export, "convert", broken)
    events = []
    with pytest.raises(ExportError, match="openvino fp32 conversion .* failed: ValueError: unsupported op"):
        export_model(MODEL, formats="onnx,openvino", out_dir=tmp_path, height=32, width=32, model=conv_net,
                     dynamic=False, progress=events.append)
    manifest = load_manifest(tmp_path)
    assert [a.format for a in manifest.artifacts] == ["onnx"]
    assert (tmp_path / manifest.artifacts[0].file).is_file()
    assert not list(tmp_path.glob("*.xml")) and not list(tmp_path.glob("*.bin"))
    assert [e.kind for e in events if e.kind != "start"] == ["done", "failed"]


def test_dynamic_variant_runs_at_two_sizes(conv_net, tmp_path):
    manifest = export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net)
    dynamic = next(a for a in manifest.artifacts if not a.static_shape)
    assert dynamic.file == "maxim-tiny-denoise-dynamic-fp32.onnx"
    assert dynamic.input_shape == [1, 3, "H", "W"] and dynamic.parity.passed
    assert {i.split("@")[1] for i in dynamic.parity.inputs} == {"32x32", "64x96"}
    from edgezoo.export.onnx_export import read_metadata

    assert read_metadata(tmp_path / dynamic.file)["io"]["inputs"][0]["shape"] == [1, 3, "H", "W"]


def test_dynamic_variant_that_fails_fails_the_export_and_says_how_to_leave_it_out(conv_net, tmp_path, monkeypatch):
    from edgezoo.export import onnx_export

    real = onnx_export.convert

    def no_dynamic(*args, dynamic_multiple_of=None, **kwargs):
        if dynamic_multiple_of:
            raise RuntimeError("Constraints violated (H)")
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_export, "convert", no_dynamic)
    events = []
    with pytest.raises(ExportError, match="Constraints violated.*--no-dynamic"):
        export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net,
                     progress=events.append)
    failed = [e for e in events if e.kind == "failed"]
    assert len(failed) == 1 and failed[0].job.dynamic
    manifest = load_manifest(tmp_path)  # the static artifact that passed is written and listed
    assert [a.static_shape for a in manifest.artifacts] == [True]
    assert _leftovers(tmp_path) == [manifest.artifacts[0].file, "maxim-tiny-denoise-dynamic-fp32.onnx.error.log"]
    again = export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    assert [a.static_shape for a in again.artifacts] == [True]


def test_reexport_with_other_weights_removes_the_stale_artifacts(conv_net, tmp_path):
    export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    import torch

    with torch.no_grad():
        conv_net[0].bias.add_(1.0)
    events = []
    manifest = export_model(MODEL, formats="onnx", out_dir=tmp_path, height=64, width=64, model=conv_net,
                            dynamic=False, progress=events.append)
    assert [a.file for a in manifest.artifacts] == ["maxim-tiny-denoise-64x64-fp32.onnx"]
    assert _leftovers(tmp_path) == ["maxim-tiny-denoise-64x64-fp32.onnx"]
    assert any(e.kind == "note" and "other weights" in e.message for e in events)


def test_nan_output_fails_the_gate_instead_of_passing_silently(conv_net, tmp_path, monkeypatch):
    import numpy as np

    from edgezoo.runtimes.backends.onnxruntime_backend import OnnxRuntimeRunner

    real_run = OnnxRuntimeRunner._run

    def poisoned(self, feeds):
        outputs = real_run(self, feeds)
        outputs[0][..., 0, 0] = np.nan
        return outputs

    monkeypatch.setattr(OnnxRuntimeRunner, "_run", poisoned)
    with pytest.raises(ParityError, match="NaN or infinite values on random0@32x32"):
        export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    assert _leftovers(tmp_path) == []


def test_a_folder_holding_another_models_export_is_refused(conv_net, tmp_path):
    from edgezoo.errors import BadInputError

    export_model(MODEL, formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net, dynamic=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(BadInputError, match="holds an export of maxim-tiny-denoise; export maxim-tiny-deblur into another folder"):
        export_model("maxim-tiny-deblur", formats="onnx", out_dir=tmp_path, height=32, width=32, model=conv_net)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
