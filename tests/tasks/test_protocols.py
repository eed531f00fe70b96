"""Task protocols: the contract each layer reads instead of assuming "an RGB image in,
a same-size image out"."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.export.parity import compare_output
from edgezoo.manifests.schema import IOContract, Manifest, Paper, Preprocessing
from edgezoo.tasks import protocol_for, protocol_named
from edgezoo.zoo import get_entry


def test_restoration_spec_is_one_tiled_image_to_image_component_scored_by_psnr():
    spec = get_entry("maxim-tiny-denoise").spec()
    net = spec.component()
    assert spec.protocol == "restore" and spec.program.kind == "tiled" and spec.metric.name == "psnr_db"
    assert [(t.name, t.role) for t in net.inputs] == [("image", "image")]
    assert [(t.name, t.role, t.shape_rule) for t in net.outputs] == [("restored", "image", "same:image")]
    assert net.inputs[0].shape == [1, 3, "H", "W"] and net.inputs[0].multiple_of == 32


def test_classifier_spec_is_a_single_call_with_fixed_input_and_logits():
    spec = get_entry("maxvit-tiny-fmnist").spec()
    net = spec.component()
    assert spec.protocol == "classify" and spec.program.kind == "single" and spec.metric.name == "top1"
    assert net.inputs[0].shape == [1, 1, 28, 28] and net.inputs[0].color == "L"
    assert net.outputs[0].role == "logits" and net.outputs[0].shape == [1, 10] and net.outputs[0].shape_rule == "fixed"
    assert spec.labels[6] == "Shirt"


def test_classify_postprocess_gives_label_and_ranked_probabilities():
    spec = get_entry("maxvit-tiny-fmnist").spec()
    logits = np.zeros((1, 10), np.float32)
    logits[0, 6], logits[0, 2] = 5.0, 3.0
    answer = protocol_named("classify").postprocess({"logits": logits}, spec)
    assert answer["label"] == "Shirt" and answer["index"] == 6
    probs = [t["probability"] for t in answer["top"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and answer["top"][1]["label"] == "Pullover"
    full = protocol_named("classify").postprocess({"logits": logits}, spec, top_k=10)
    assert abs(sum(t["probability"] for t in full["top"]) - 1.0) < 1e-5


def test_logits_parity_catches_a_changed_class_that_psnr_alone_could_pass():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(1, 10)).astype(np.float32) * 5
    order = np.argsort(reference[0])
    close = reference.copy()
    close[0, order[-2]] = reference[0, order[-1]] + 1e-3  # the runner-up overtakes by a hair
    db, max_abs, agreement = compare_output("logits", reference, close)
    assert agreement == 0.0 and db > 20  # small numeric error, but a different answer
    same_db, _, same_agreement = compare_output("logits", reference, reference + 1e-6)
    assert same_agreement == 1.0 and same_db > 100
    image_db, _, none = compare_output("image", reference, reference)
    assert none is None and image_db == float("inf")


def test_manifests_written_before_the_contract_read_as_restoration():
    io = get_entry("maxim-tiny-denoise").protocol.io(get_entry("maxim-tiny-denoise"), 64, 64)
    old = Manifest(name="m", family="maxim", task="denoise", paper=Paper(title="t", url="u"), config={}, params=1,
                   io=IOContract(inputs=io.inputs, outputs=io.outputs), preprocessing=Preprocessing())
    spec = old.model_spec()
    assert spec.protocol == "restore" and spec.program.kind == "tiled" and spec.component().outputs[0].name == "restored"


def test_unknown_task_has_no_protocol():
    with pytest.raises(Exception, match="no task protocol"):
        protocol_for("teleport")


def test_resizer_spec_is_a_single_call_whose_image_output_has_a_fixed_size_rule():
    spec = get_entry("muller-resizer-fmnist-12").spec()
    net = spec.component()
    assert spec.protocol == "resize" and spec.program.kind == "single"
    assert net.inputs[0].shape == [1, 1, 28, 28] and net.inputs[0].color == "L"
    output = net.outputs[0]
    assert (output.role, output.shape, output.shape_rule, output.color) == ("image", [1, 1, 12, 12], "fixed", "L")
    assert output.output_sides({"image": (28, 28)}) == (12, 12)  # the rule, not the input, gives the size
    # its quality is the classifier's it was trained with, named, with no number made up for the resizer
    assert spec.metric.name == "downstream_top1" and "muller-maxvit-fmnist-12" in spec.metric.note
    image = np.zeros((1, 1, 12, 12), np.float32)
    assert protocol_named("resize").postprocess({"resized": image}, spec)["image"] is image


def test_shape_rules_are_machine_readable_and_checked():
    from edgezoo.errors import ManifestError
    from edgezoo.manifests.schema import TensorSpec, parse_shape_rule

    assert parse_shape_rule("scale:4/7:image") == ("scale", 4 / 7, "image")
    same = TensorSpec(name="restored", shape=[1, 3, "H", "W"], shape_rule="same:image")
    assert same.output_sides({"image": (64, 48)}) == (64, 48)
    double = TensorSpec(name="up", shape=[1, 3, "H", "W"], shape_rule="scale:2:image")
    assert double.output_sides({"image": (64, 48)}) == (128, 96)
    with pytest.raises(ManifestError, match="names no input"):
        double.output_sides({"other": (64, 48)})
    with pytest.raises(ValueError, match="shape rule 'twice'"):
        TensorSpec(name="bad", shape=[1, 3, 8, 8], shape_rule="twice")


def test_each_protocol_states_its_int8_gate_in_its_own_metric_and_unit():
    denoise, deblur, classify = (protocol_for(t).int8_tolerance(t) for t in ("denoise", "deblur", "classify"))
    assert (denoise.metric, denoise.unit, denoise.tolerance) == ("psnr_db", "dB", 0.3)
    assert (deblur.metric, deblur.tolerance) == ("psnr_db", 0.3)  # every restoration task on its degradation
    assert (classify.metric, classify.unit, classify.tolerance) == ("top1", "%", 0.3)
    assert classify.key_suffix == "pct" and denoise.key_suffix == "db"


def test_protocols_stay_torch_free():
    import subprocess
    import sys

    code = "import sys, edgezoo.tasks; assert 'torch' not in sys.modules, 'edgezoo.tasks imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_generation_spec_is_a_denoiser_step_graph_served_by_a_sampler():
    spec = get_entry("ddpm-unet-fmnist-s").spec()
    denoiser = spec.component()
    assert spec.protocol == "generate" and spec.program.kind == "sampler" and denoiser.name == "denoiser"
    assert [(t.name, t.role, t.shape) for t in denoiser.inputs] == [
        ("sample", "noise", [1, 1, 32, 32]), ("timestep", "timestep", [1])]
    assert denoiser.inputs[1].dtype == "float32" and denoiser.inputs[1].range == (0.0, 999.0)
    # the output is named for what the network predicts: the ladder predicts v
    assert [(t.name, t.role, t.shape_rule) for t in denoiser.outputs] == [("v", "noise", "same:sample")]
    sampler = spec.program.sampler
    assert sampler["prediction"] == "v"
    assert sampler["kind"] == "ddim" and sampler["steps"] == 8 and sampler["schedule"]["kind"] == "cosine"
    assert sampler["timesteps"][0] == 999 and sampler["sample_range"] == [-1.0, 1.0]
    metric = spec.metric
    assert metric.name == "fd_fmnist" and not metric.higher_is_better and "not FID" in metric.note
    gate = protocol_for("generate").int8_tolerance("generate")  # FD-fmnist of generated samples, lower is better
    assert (gate.metric, gate.higher_is_better, gate.relative, gate.tolerance) == ("fd_fmnist", False, 0.1, 0.25)


def test_generation_postprocess_maps_samples_to_pictures():
    spec = get_entry("ddpm-unet-fmnist-xs").spec()
    samples = np.array([-1.5, -1.0, 0.0, 1.0], np.float32).reshape(1, 1, 2, 2)
    image = protocol_named("generate").postprocess({"sample": samples}, spec)["image"]
    assert image.ravel().tolist() == [0.0, 0.0, 0.5, 1.0]


def test_generation_calibrates_on_noised_fashion_mnist_at_the_samplers_timesteps():
    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing

    protocol = protocol_named("generate")
    if protocol.quality_problem("generate"):
        pytest.skip("Fashion-MNIST is not installed here")
    entry = get_entry("ddpm-unet-fmnist-xs")
    contract = artifact_metadata(entry, io_contract(entry, 32, 32), preprocessing(entry), "onnx", "int8")
    samples = protocol.calibration_samples(contract, 10)
    timesteps = entry.spec().program.sampler["timesteps"]
    assert len(samples) == 10 and all(list(s) == ["sample", "timestep"] for s in samples)
    assert all(s["sample"].shape == (1, 1, 32, 32) and s["sample"].dtype == np.float32 for s in samples)
    assert [int(s["timestep"][0]) for s in samples] == [timesteps[i % 8] for i in range(10)]
    last = samples[7]["sample"]  # t = 124: mostly the picture, its 2 px padding at the background's -1
    assert abs(float(last[0, 0, :2].mean()) + 0.98) < 0.1  # sqrt(abar) * -1, plus noise of std 0.2
    first = samples[0]["sample"]  # t = 999: pure noise
    assert abs(float(first.std()) - 1.0) < 0.15
    more = protocol.calibration_samples(contract, 12)
    assert all(np.array_equal(a["sample"], b["sample"]) for a, b in zip(samples, more))  # a larger count extends


def test_soft_diffusion_calibrates_on_blurred_and_noised_fashion_mnist():
    """The momentum sampler has no abar: its calibration requests are its own forward
    process, y_t = C_t x0 + s_t eps, at the program's timesteps in turn."""
    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
    from edgezoo.runtimes.samplers import blur_image, scheduler_from_dict
    from edgezoo.tasks.classify import fashion_mnist

    protocol = protocol_named("generate")
    if protocol.quality_problem("generate"):
        pytest.skip("Fashion-MNIST is not installed here")
    entry = get_entry("soft-unet-fmnist-xs")
    contract = artifact_metadata(entry, io_contract(entry, 32, 32), preprocessing(entry), "onnx", "int8")
    samples = protocol.calibration_samples(contract, 8)
    scheduler = scheduler_from_dict(entry.spec().program.sampler)
    assert [int(s["timestep"][0]) for s in samples] == scheduler.timesteps.tolist()
    assert all(s["sample"].shape == (1, 1, 32, 32) and s["sample"].dtype == np.float32 for s in samples)
    first, last = samples[0]["sample"], samples[-1]["sample"]  # t = 999: blurred flat + unit noise; t = 124: a picture
    assert abs(float(first.std()) - 1.0) < 0.15
    assert abs(float(last[0, 0, :2].mean()) + 1.0) < 0.1  # the black padding, little blurred or noised
    # each request is the seeded training picture (padded, in [-1, 1]) through the blur and noise of its timestep
    images, _ = fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(images))[:8]
    for i, (sample, index) in enumerate(zip(samples, order)):
        x0 = np.full((1, 1, 32, 32), -1.0)
        x0[0, 0, 2:30, 2:30] = images[index] / 255.0 * 2 - 1
        t = int(scheduler.timesteps[i])
        eps = np.random.default_rng([0, i]).standard_normal((1, 1, 32, 32), dtype=np.float32)
        want = blur_image(x0, scheduler.schedule.blur(t)) + scheduler.schedule.noise(t) * eps
        assert np.abs(sample["sample"] - want).max() < 1e-4, t
