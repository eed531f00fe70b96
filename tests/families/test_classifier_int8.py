"""int8 classifiers go through the same reduced-precision path as restoration: the
task protocol supplies the calibration samples (Fashion-MNIST training images, by input
name), the quality measurement (top-1 through the artifact's runtime) and the gate's
tolerance and unit (0.3 points of top-1 against the fp32 artifact); nothing in the
export pipeline names the task."""

from __future__ import annotations

import pytest

from edgezoo.errors import BadInputError, ParityError
from edgezoo.zoo import fashion_mnist

pytestmark = pytest.mark.skipif(not fashion_mnist.available(),
                                reason="needs Debian's dataset-fashion-mnist (the test venv's host has it)")

MODEL = "maxvit-tiny-fmnist"
GATE_IMAGES = 300  # a slice of each split keeps this fast; the export default is the whole split


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    """(fp32 ONNX path, its int8 contract, the small PyTorch model)."""
    pytest.importorskip("torch")
    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
    from edgezoo.export.pipeline import export_model
    from edgezoo.zoo import get_entry

    from .conftest import _small

    model = _small(MODEL)
    out = tmp_path_factory.mktemp("int8-classifier")
    manifest = export_model(MODEL, formats="onnx", precisions="fp32", out_dir=out, model=model)
    entry = get_entry(MODEL)
    metadata = artifact_metadata(entry, io_contract(entry, 28, 28), preprocessing(entry), "onnx", "int8")
    return out / manifest.artifacts[0].file, metadata, model


def _slices():
    from edgezoo.tasks.classify import fashion_mnist as split

    selection, test = split("selection"), split("test")
    return (selection[0][:GATE_IMAGES], selection[1][:GATE_IMAGES]), (test[0][:GATE_IMAGES], test[1][:GATE_IMAGES])


def _build(fp32_onnx, tmp_path, **kwargs):
    from edgezoo.export.quantize.build import build_reduced, module_for
    from edgezoo.export.quantize.recipe import ladder_for

    path, metadata, model = fp32_onnx
    selection, test = _slices()
    return build_reduced("onnx", "int8", path, tmp_path / "int8.onnx", metadata, model, task="classify",
                         expected_io=metadata["io"], recipes=ladder_for(module_for("onnx").INT8_LADDER[:1], 8), selection_images=selection, quality_images=test, **kwargs)


def test_calibration_samples_are_training_images_keyed_by_input_name(fp32_onnx):
    from edgezoo.export.quantize.calibration import calibration_samples

    _, metadata, _ = fp32_onnx
    samples = calibration_samples(metadata, 5)
    assert [sorted(s) for s in samples] == [["image"]] * 5  # the component's input names, not bare arrays
    assert all(s["image"].shape == (1, 1, 28, 28) and s["image"].dtype.name == "float32" for s in samples)
    assert [s["image"].tobytes() for s in calibration_samples(metadata, 3)] == [s["image"].tobytes() for s in samples[:3]]
    selection = {img.tobytes() for img in fashion_mnist.load_split("selection")[0]}
    pixels = [(s["image"][0, 0] * 255 + 0.5).astype("uint8").tobytes() for s in samples]
    assert not set(pixels) & selection  # never the images the gate chooses on


def test_int8_classifier_is_calibrated_and_gated_in_top1_points(fp32_onnx, tmp_path):
    result = _build(fp32_onnx, tmp_path)
    q = result.quantization
    assert q["calibration_set"].startswith("8 Fashion-MNIST training-split images") and q["images"] == 8
    assert q["quality_metric"] == "top1 (%)" and q["quality_tolerance_pct"] == 0.3
    assert q["quality_gate_images"] == GATE_IMAGES and q["quality_measured_images"] == GATE_IMAGES
    assert q["quality_passed"] is True and q["selection_delta_pct"] >= -0.3
    # the gate compared two artifacts run in their runtime, on the selection slice, then measured on the test slice
    assert q["selection_quality_pct"] - q["selection_fp32_quality_pct"] == pytest.approx(q["selection_delta_pct"])
    assert result.quality is not None and result.quality.metrics["top1"] == q["quality_pct"]
    assert "points" in result.quality.note and "dB" not in result.quality.note
    assert not any(k.endswith("_db") for k in q if k.startswith(("quality", "selection", "fp32")))


def test_int8_classifier_that_loses_more_than_the_tolerance_fails(fp32_onnx, tmp_path, monkeypatch):
    """Tightened so far that no int8 artifact can pass (it would have to beat fp32 by 5
    points): the gate, measured for real, must refuse it, in points of top-1."""
    from edgezoo.tasks import classify

    monkeypatch.setattr(classify, "INT8_TOLERANCE_POINTS", -5.0)
    with pytest.raises(ParityError, match=r"top1 on .*points below the fp32 artifact's .*threshold is -5 points"):
        _build(fp32_onnx, tmp_path)
    assert not (tmp_path / "int8.onnx").exists()


def test_without_the_dataset_int8_fails_with_the_install_command_and_quality_is_skipped(
        fp32_onnx, tmp_path, monkeypatch):
    from edgezoo.export.quantize.build import build_reduced
    from edgezoo.export.reduced import quality_plan

    monkeypatch.setenv(fashion_mnist.DIR_ENV, str(tmp_path / "empty"))
    path, metadata, model = fp32_onnx
    with pytest.raises(BadInputError, match="apt-get install dataset-fashion-mnist") as info:
        build_reduced("onnx", "int8", path, tmp_path / "int8.onnx", metadata, model, task="classify")
    assert "\n" not in str(info.value) and "int8.onnx" in str(info.value)
    plan = quality_plan("classify", trained=True)
    assert not plan.enabled and "apt-get install dataset-fashion-mnist" in plan.skip


@pytest.mark.slow  # the whole selection (5,000) and test (10,000) splits through the runtime, twice each
def test_export_gates_int8_on_the_selection_split_and_records_the_test_split(tmp_path):
    from edgezoo.export.pipeline import export_model
    from edgezoo.tasks.classify import SELECTION_DATASET, TEST_DATASET

    from .conftest import _small

    manifest = export_model(MODEL, formats="onnx", precisions="fp32,int8", out_dir=tmp_path, model=_small(MODEL),
                            measure_quality=True)
    fp32, int8 = sorted(manifest.artifacts, key=lambda a: a.precision != "fp32")
    q = int8.quantization
    assert q["quality_gate_images"] == 5000 and q["quality_measured_images"] == 10000
    assert SELECTION_DATASET in q["quality_basis"] and TEST_DATASET in q["quality_basis"]
    assert fp32.quality.dataset == int8.quality.dataset == TEST_DATASET
    assert q["fp32_quality_pct"] == fp32.quality.metrics["top1"] and q["quality_pct"] == int8.quality.metrics["top1"]


def test_the_gate_takes_the_loss_plus_its_paired_standard_error():
    """Two artifacts scored on the same 5,000 images that disagree on 98 of them: a
    measured loss of 0.12 points is 0.12 +- 0.20, so the gate (loss + one standard error
    within 0.3 points) refuses it; with 20 disagreements (+- 0.09) it passes."""
    import numpy as np

    from edgezoo.export.quantize.quality import gate, paired_standard_error
    from edgezoo.manifests.schema import QualityResult
    from edgezoo.tasks.base import QualityTolerance

    def scored(correct):
        result = QualityResult(dataset="selection", degradation="none", seed=0,
                               metrics={"top1": round(100.0 * float(np.mean(correct)), 2)})
        result._outcomes = list(map(bool, correct))
        return result

    n = 5000
    fp32 = np.ones(n, bool)
    fp32[:400] = False  # 92.00%
    tolerance = QualityTolerance("top1", "%", 0.3)
    for discordant, passes in ((98, False), (20, True)):
        int8 = fp32.copy()
        lost, gained = (discordant + 6) // 2, (discordant - 6) // 2  # net -6: -0.12 points either way
        int8[400:400 + lost] = False
        int8[:gained] = True
        verdict = gate("m-int8.onnx", scored(int8), scored(fp32), tolerance)
        assert verdict.delta == -0.12
        assert verdict.margin == paired_standard_error(scored(int8), scored(fp32)) == round(100 * np.sqrt(discordant) / n, 3)
        assert verdict.passed is passes, verdict.message()
        if not passes:
            assert "give or take 0.20 points" in verdict.message() and "standard error" in verdict.message()
    unpaired = QualityResult(dataset="selection", degradation="none", seed=0, metrics={"top1": 91.88})
    assert gate("m", unpaired, scored(fp32), tolerance).margin == 0.0  # no outcomes: the bare difference
