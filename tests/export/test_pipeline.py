"""One real export of MAXIM-tiny to every format: what a user gets in the folder."""

import pytest

from edgezoo.export.formats import converter
from edgezoo.files import sha256_file, size_bytes
from edgezoo.manifests import load_manifest

from .conftest import MODEL, SIZE

EXECUTED = ("onnx", "tflite", "openvino")


def _by_format(manifest):
    return {a.format: a for a in manifest.artifacts}


def test_every_format_is_exported_with_its_hash(maxim_export):
    out, manifest, events = maxim_export
    arts = _by_format(manifest)
    assert set(arts) == {"onnx", "tflite", "coreml", "openvino"}
    assert arts["onnx"].file == f"{MODEL}-{SIZE}x{SIZE}-fp32.onnx"
    assert (out / arts["coreml"].file).is_dir()  # .mlpackage
    assert (out / arts["openvino"].file.replace(".xml", ".bin")).is_file()
    for art in manifest.artifacts:
        path = out / art.file
        assert art.sha256 == sha256_file(path) and art.bytes == size_bytes(path) > 0
        assert art.static_shape and art.input_shape == [1, 3, SIZE, SIZE]
        assert art.tool_versions.get("torch")
    assert [e.kind for e in events].count("done") == 4
    # nothing else is left behind: no staging folder, no temporaries, no logs
    expected = {a.file for a in manifest.artifacts} | {"weights.safetensors", "manifest.yaml", arts["openvino"].file[:-4] + ".bin"}
    assert {p.name for p in out.iterdir()} == expected


@pytest.mark.parametrize("fmt", EXECUTED)
def test_artifacts_run_in_their_runtime_at_fp32_parity(maxim_export, fmt):
    parity = _by_format(maxim_export[1])[fmt].parity
    assert parity.executed and parity.passed
    # the gate is 60 dB; fp32 artifacts reach 128-137 dB, so a drop to the gate is a regression too
    assert parity.psnr_db >= 100.0 and parity.threshold_db == 60.0
    assert parity.backend in ("onnxruntime", "litert", "openvino")
    # random images and real photos, all fresh
    assert any(i.startswith("random") for i in parity.inputs) and any(i.startswith("photo:") for i in parity.inputs)


def test_coreml_is_converted_loaded_back_and_checked_not_run(maxim_export):
    out, manifest, _ = maxim_export
    art = _by_format(manifest)["coreml"]
    assert art.parity.executed is False and art.parity.passed is True
    assert "needs macOS" in art.parity.note and art.parity.psnr_db is None
    from edgezoo.export.coreml_export import inspect_package

    spec = inspect_package(out / art.file)
    assert spec["inputs"] == [("image", [1, 3, SIZE, SIZE])]
    assert [name for name, _ in spec["outputs"]] == ["restored"]
    assert spec["author"] == "edgezoo" and spec["licence"]


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "coreml", "openvino"])
def test_each_artifact_carries_its_contract_inside(maxim_export, fmt):
    out, manifest, _ = maxim_export
    art = _by_format(manifest)[fmt]
    meta = converter(fmt).read_metadata(out / art.file)
    assert meta["model"] == MODEL and meta["task"] == "denoise"
    assert meta["format"] == fmt and meta["precision"] == "fp32"
    assert meta["io"] == manifest.io.model_dump(mode="json")
    assert meta["preprocessing"]["pad_to_multiple_of"] == 32
    assert meta["weights_sha256"] == manifest.weights.sha256


def test_runtimes_see_the_contract_names(maxim_export):
    from edgezoo.runtimes.backends import backend_for_format

    out, manifest, _ = maxim_export
    for fmt in ("onnx", "openvino"):
        runner = backend_for_format(fmt).load(out / _by_format(manifest)[fmt].file, "cpu", precision="fp32")
        assert [i.name for i in runner.inputs] == ["image"] and [o.name for o in runner.outputs] == ["restored"]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(out / _by_format(manifest)["tflite"].file))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["restored"]}}


def test_manifest_round_trips_and_records_the_reference_weights(maxim_export, tmp_path):
    out, manifest, _ = maxim_export
    loaded = load_manifest(out)
    assert loaded.model_dump(mode="json") == manifest.model_dump(mode="json")  # YAML keeps tuples as lists
    assert load_manifest(loaded.save(tmp_path / "again.yaml")).model_dump(mode="json") == loaded.model_dump(mode="json")
    assert loaded.weights.file == "weights.safetensors"
    assert loaded.weights.sha256 == sha256_file(out / "weights.safetensors")
    assert loaded.weights.params == loaded.params > 0
    assert loaded.config["features"] == 16 and loaded.io.inputs[0].shape == [1, 3, SIZE, SIZE]


@pytest.mark.slow
def test_maxim_dynamic_onnx_is_exported_and_runs_at_another_size(tmp_path):
    """The dynamic H x W ONNX of the real model (about a minute: symbolic shapes)."""
    from edgezoo.export.pipeline import export_model

    manifest = export_model(MODEL, formats="onnx", out_dir=tmp_path, height=SIZE, width=SIZE, pretrained=False)
    dynamic = next(a for a in manifest.artifacts if not a.static_shape)
    assert dynamic.input_shape == [1, 3, "H", "W"] and dynamic.parity.psnr_db >= 100.0
    assert f"{SIZE + 32}x{SIZE + 64}" in " ".join(dynamic.parity.inputs)
