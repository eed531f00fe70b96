"""The weights and manifests that ship in the package: valid, verified, and honest about
their quality (recomputed here on one evaluation photo and sigma, every photo and sigma
in the slow run, not taken on trust)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edgezoo.files import sha256_file
from edgezoo.manifests import packaged_manifest, packaged_names
from edgezoo.zoo import create_model, get_entry
from edgezoo.zoo.data import GaussianNoise, evaluation_images
from edgezoo.zoo.release import check_manifest, gflops_per_mpix
from edgezoo.zoo.weights import shipped_weights_path

SHIPPED = packaged_names()
DENOISERS = [n for n in SHIPPED if packaged_manifest(n).task == "denoise"]
CLASSIFIERS = [n for n in SHIPPED if packaged_manifest(n).task == "classify"]
TASK_RESTORERS = [n for n in SHIPPED if packaged_manifest(n).task in ("deblur", "derain", "dehaze", "enhance")]
REFINERS = [n for n in SHIPPED if packaged_manifest(n).task.startswith("conditional-")]


def test_the_default_model_ships_trained_weights():
    assert "maxim-tiny-denoise" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_manifest_carries_its_model_contract_and_matches_its_weights(name):
    manifest = packaged_manifest(name)
    entry = get_entry(name)
    assert manifest.spec == entry.spec()  # the contract every layer reads, as the registry states it today
    path, sha = shipped_weights_path(name)
    assert sha256_file(path) == sha == manifest.weights.sha256 and path.stat().st_size == manifest.weights.bytes
    model = create_model(name, pretrained=True)
    assert sum(p.numel() for p in model.parameters()) == manifest.params == manifest.weights.params
    assert manifest.quality and all(q.value(manifest.spec.metric.name) is not None for q in manifest.quality)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_shipped_classifier_figures_are_recomputed(name):
    from edgezoo.zoo.fashion_mnist import available
    from edgezoo.zoo.release_classifier import check_classifier

    if not available():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert check_classifier(name) == []


@pytest.mark.parametrize("name", DENOISERS)
def test_packaged_manifest_matches_its_weights_and_model(name):
    manifest = packaged_manifest(name)
    entry = get_entry(name)
    path, sha = shipped_weights_path(name)
    assert sha256_file(path) == sha == manifest.weights.sha256
    assert path.stat().st_size == manifest.weights.bytes
    model = create_model(name, pretrained=True)
    assert sum(p.numel() for p in model.parameters()) == manifest.params == manifest.weights.params
    assert manifest.task == entry.task and manifest.io.inputs[0].multiple_of == entry.input_spec.multiple_of
    levels = {q.degradation for q in manifest.quality}
    assert levels == {GaussianNoise(s).label for s in (15, 25, 50)}
    for q in manifest.quality:
        assert set(q.per_image) == set(evaluation_images())
        assert q.baselines["noisy"].psnr_db < q.mean.psnr_db
        assert "cbm3d" in q.baselines
        assert q.mean.psnr_db == pytest.approx(np.mean([s.psnr_db for s in q.per_image.values()]), abs=1e-3)


@pytest.mark.parametrize("name", DENOISERS)
def test_recorded_figures_are_recomputed_on_one_photo_and_sigma(name, tmp_path, monkeypatch):
    """``eval --check`` on chelsea at sigma 25: parameters, FLOPs, and PSNR/SSIM of the model
    (served inside its contract: the small model pads chelsea's 288 rows to 320), the noisy
    input and CBM3D, recomputed from scratch (an empty baseline cache)."""
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path))
    report = check_manifest(name, sigmas=(25,), names={"chelsea"})
    assert report.compared == 2 + 3 * 2  # params, FLOPs; PSNR and SSIM of model, noisy, CBM3D
    assert report.passed, [d.message() for d in report.differences]


@pytest.mark.parametrize("name", TASK_RESTORERS)
def test_a_task_model_beats_its_input_and_baselines_and_its_figures_are_recomputed_on_one_photo(name, tmp_path,
                                                                                              monkeypatch):
    """A deblur/derain/dehaze/enhance model ships only where it beats the degraded input on
    the mean, and where a classical baseline beats it the README says by how much;
    ``eval --check`` recomputes coffee's figures: parameters, FLOPs, and PSNR/SSIM of the
    model, the input and each baseline."""
    from edgezoo.zoo.baselines import BASELINES

    manifest = packaged_manifest(name)
    (result,) = manifest.quality
    assert set(result.baselines) == {"degraded", *BASELINES[manifest.task]}
    assert result.mean.psnr_db > result.baselines["degraded"].psnr_db
    best = max(result.baselines.values(), key=lambda score: score.psnr_db)
    if best.psnr_db > result.mean.psnr_db:
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
        gap = f"{round(best.psnr_db, 2) - round(result.mean.psnr_db, 2):.2f} dB"
        assert gap in readme, f"{name} trails a baseline by {gap}: the README must say so"
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path))
    report = check_manifest(name, names={"coffee"})
    assert report.compared == 2 + 2 * (2 + len(BASELINES[manifest.task]))
    assert report.passed, [d.message() for d in report.differences]


def test_the_check_names_a_figure_that_moved(monkeypatch, capsys):
    from edgezoo.zoo import release

    manifest = packaged_manifest("maxim-tiny-denoise").model_copy(deep=True)  # the original may be cached
    result = next(q for q in manifest.quality if q.degradation == GaussianNoise(25).label)
    result.per_image["chelsea"].ssim += 0.0003  # what serving it outside the contract did to small's chelsea
    monkeypatch.setattr("edgezoo.manifests.packaged_manifest", lambda name: manifest)
    report = release.check_manifest("maxim-tiny-denoise", sigmas=(25,), names={"chelsea"}, baselines=False)
    assert [d.figure for d in report.differences] == ["sigma 25, model, chelsea SSIM"]
    assert "allowed 0.0002" in report.differences[0].message()

    from edgezoo.cli import main  # the command exits 1 and names the figure

    assert main(["eval", "maxim-tiny-denoise", "--check", "--sigmas", "25", "--photos", "chelsea",
                 "--no-baselines"]) == 1
    assert "sigma 25, model, chelsea SSIM: the manifest says" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", DENOISERS)
def test_edgezoo_eval_check_recomputes_every_figure(name, python):
    import subprocess

    result = subprocess.run([python, "-m", "edgezoo", "eval", name, "--check"], capture_output=True, text=True,
                            timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "figures checked match the manifest" in result.stdout


def test_flop_count_of_one_convolution_is_two_per_multiply_add():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert gflops_per_mpix(conv, 32, 32) == pytest.approx(2 * 3 * 8 * 9 / 1e3, abs=0.01)


@pytest.mark.parametrize("name", REFINERS)
def test_a_predict_and_refine_model_records_each_step_count_and_its_figures_are_recomputed_on_one_photo(name):
    """One quality row per number of refinement steps (0: the predictor alone), on the
    task it serves, as the regression models of that task are scored; coffee's figures
    of the predictor and of 1 step are recomputed from the shipped weights."""
    from edgezoo.tasks import served_task
    from edgezoo.zoo.release_conditional import measure_refinement

    manifest = packaged_manifest(name)
    steps = [int(q.metrics["steps"]) for q in manifest.quality]
    assert steps[0] == 0 and steps == sorted(steps) and len(steps) > 1
    regression = [n for n in SHIPPED if packaged_manifest(n).task == served_task(manifest.task)]
    for other in regression:  # compared on the same photos and degradation
        assert {(q.dataset, q.degradation) for q in packaged_manifest(other).quality} == \
            {(q.dataset, q.degradation) for q in manifest.quality}
    model = create_model(name, pretrained=True).eval()
    for recorded, measured in zip(manifest.quality[:2], measure_refinement(name, model, steps[:2], names={"coffee"})):
        assert recorded.per_image["coffee"].psnr_db == pytest.approx(measured.per_image["coffee"].psnr_db, abs=0.02)
