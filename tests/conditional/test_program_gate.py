"""A predict-and-refine model's reduced precisions are judged on task quality through the
whole program: every component artifact of a group loaded in its runtime and composed as
the runtime serves a request, at the program's own step count, against the fp32 group of
the same format; a group that loses too much is removed from the folder and the manifest."""

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.errors import ParityError  # noqa: E402
from edgezoo.manifests import load_manifest  # noqa: E402

NAME = "dvsr-tiny-deblur"
SIDE = 32  # the static artifacts' side: a 64 x 64 photo is served in 3 x 3 tiles
FILES = {(c, p): f"{NAME}-{c}-{SIDE}x{SIDE}-{p}.onnx" for c in ("predictor", "denoiser") for p in ("fp32", "int8")}


@pytest.fixture(scope="module")
def photos():
    """Two 64 x 64 crops of evaluation photos: enough to judge, small enough for seconds."""
    from edgezoo.zoo.data import evaluation_images

    images = evaluation_images()
    return {name: images[name][96:160, 96:160] for name in ("astronaut", "coffee")}


@pytest.fixture(scope="module")
def export(tmp_path_factory, photos):
    """The shipped (trained) dvsr-tiny-deblur exported to ONNX fp32 and int8 by the pipeline."""
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("gate") / NAME
    export_model(NAME, formats="onnx", precisions="fp32,int8", out_dir=out, height=SIDE, width=SIDE,
                 pretrained=True, dynamic=False, quality_images=photos, workers=1)
    return out


def test_every_artifact_carries_its_whole_programs_quality(export):
    by_file = {a.file: a for a in load_manifest(export).artifacts}
    assert set(by_file) == set(FILES.values())
    for (component, precision), file in FILES.items():
        quality = by_file[file].quality
        assert quality is not None and quality.metrics["steps"] == 25.0, file  # the program's own step count
        assert quality.metrics["psnr_db"] == quality.mean.psnr_db and len(quality.per_image) == 2
        partner = FILES[("denoiser" if component == "predictor" else "predictor", precision)]
        assert "through the whole program" in quality.note and partner in quality.note and "25 steps" in quality.note
    # both components of a group carry the one figure of their program
    for precision in ("fp32", "int8"):
        assert by_file[FILES[("predictor", precision)]].quality == \
            by_file[FILES[("denoiser", precision)]].quality.model_copy(
                update={"note": by_file[FILES[("predictor", precision)]].quality.note})


def test_the_int8_gate_figures_are_the_measured_difference(export):
    by_file = {a.file: a for a in load_manifest(export).artifacts}
    fp32 = by_file[FILES[("predictor", "fp32")]].quality.mean.psnr_db
    for component in ("predictor", "denoiser"):
        artifact = by_file[FILES[(component, "int8")]]
        record = artifact.quantization
        assert record["quality_db"] == artifact.quality.mean.psnr_db and record["fp32_quality_db"] == fp32
        assert record["quality_delta_db"] == pytest.approx(round(artifact.quality.mean.psnr_db - fp32, 3), abs=1e-9)
        assert record["quality_tolerance_db"] == 0.3 and record["quality_passed"] is True
        assert record["quality_delta_db"] >= -0.3 and record["degraded"] is False
        assert "quality_gate" not in record  # the per-component skip note gave way to the program's figures
        assert "int8 task-quality gate through the whole program" in artifact.quality.note


def test_the_program_runner_restores_as_the_pytorch_reference_does(export):
    from edgezoo.export.quantize.quality import artifact_contract, program_runner
    from edgezoo.runtimes.refine import refine
    from edgezoo.runtimes.samplers import scheduler_from_dict
    from edgezoo.zoo import create_model
    from edgezoo.zoo.train_conditional import torch_components

    paths = {c: export / FILES[(c, "fp32")] for c in ("predictor", "denoiser")}
    contract = artifact_contract(paths["predictor"], "onnx")
    run = program_runner(paths, "onnx", "fp32", contract, seed=3)
    degraded = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    restored = run({"degraded": degraded})["restored"]

    predict, denoise = torch_components(create_model(NAME, pretrained=True))
    sampler = contract["spec"]["program"]["sampler"]
    _, expected = refine(predict, denoise, scheduler_from_dict(sampler), degraded,
                         sampler["refine"]["residual_scale"], count=1, seed=3)
    assert restored.shape == expected.shape == (1, 3, SIDE, SIDE)
    assert np.abs(restored - expected).max() < 1e-3


def test_one_components_task_quality_is_its_programs(export, photos):
    """What `edgezoo verify` asks of one component's artifact: its program's figure,
    with the partner beside it (the fp32 group's, cached from the export)."""
    from edgezoo.export.quantize.quality import reference_quality

    measured = reference_quality(export / FILES[("denoiser", "fp32")], "onnx", (SIDE, SIDE), 4, photos)
    recorded = next(a for a in load_manifest(export).artifacts if a.file == FILES[("denoiser", "fp32")]).quality
    assert measured.metrics == recorded.metrics


def test_the_planner_still_reads_quality_per_step_count_from_the_manifest(export):
    """An artifact's program figure (with its ``steps``) does not replace the manifest's
    rows per step count: fp32 options keep them, int8 ones stay unmeasured per count."""
    from edgezoo.runtimes import Inventory, plan, target
    from edgezoo.runtimes.planner import quality_key, step_choices

    manifest = load_manifest(export)
    counts = sorted(int(q.metrics["steps"]) for q in manifest.quality if "steps" in q.metrics)
    assert counts and 25 in counts  # the shipped table, copied into the export's manifest
    key = quality_key([(manifest, export)], {NAME: None})
    for artifact in (a for a in manifest.artifacts if a.component == "denoiser"):
        choices = step_choices(artifact, manifest, None, key)
        assert sorted(steps for steps, _, _ in choices) == counts
        if artifact.precision == "fp32":
            assert all(quality is not None for _, quality, _ in choices)
        else:
            assert all(quality is None and "not measured" in source for _, quality, source in choices)
    chosen = plan([(manifest, export)], None, inventory=Inventory([target("onnxruntime", "cpu", "cpu")]),
                  max_memory_mb=float("inf"), measured_elsewhere=[]).chosen
    assert chosen.steps in counts and chosen.partners["predictor"].component == "predictor"


def test_a_group_that_misses_the_gate_is_removed_and_named(export, photos, tmp_path, monkeypatch):
    from edgezoo.export.pipeline import export_model
    from edgezoo.files import sha256_file
    from edgezoo.tasks.base import QualityTolerance
    from edgezoo.tasks.conditional import ConditionalRestoreProtocol

    out = tmp_path / NAME
    shutil.copytree(export, out)  # its fp32 artifacts are the sources; its int8 ones are re-exported
    before = {a.file: a.sha256 for a in load_manifest(out).artifacts}
    # an int8 program must now gain a dB on fp32's: it cannot
    monkeypatch.setattr(ConditionalRestoreProtocol, "int8_tolerance",
                        lambda self, task: QualityTolerance("psnr_db", "dB", -1.0))

    def export_int8() -> str:
        with pytest.raises(ParityError) as failure:
            export_model(NAME, formats="onnx", precisions="int8", out_dir=out, height=SIDE, width=SIDE,
                         pretrained=True, dynamic=False, quality_images=photos, workers=1)
        return str(failure.value)

    message = export_int8()
    assert FILES[("predictor", "int8")] in message and FILES[("denoiser", "int8")] in message
    assert "below the fp32 artifact's" in message and "the int8 threshold is -1 dB" in message
    assert "25 steps" in message and "--allow-degraded" in message
    # a failed re-export keeps the earlier program: its files are back, byte for byte, and still listed
    assert {a.file: a.sha256 for a in load_manifest(out).artifacts} == before
    assert all(sha256_file(out / file) == digest for file, digest in before.items())
    assert not [p for p in out.iterdir() if p.name.startswith(".edgezoo-staging")]

    # with no earlier int8 program, nothing is left: neither component's file, nor an entry
    manifest = load_manifest(out)
    for file in (FILES[("predictor", "int8")], FILES[("denoiser", "int8")]):
        (out / file).unlink()
    manifest.artifacts = [a for a in manifest.artifacts if a.precision != "int8"]
    manifest.save(out / "manifest.yaml")
    export_int8()
    assert not list(out.glob("*int8*"))
    listed = {a.file for a in load_manifest(out).artifacts}
    assert listed == {FILES[("predictor", "fp32")], FILES[("denoiser", "fp32")]}
