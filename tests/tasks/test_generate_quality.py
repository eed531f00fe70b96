"""The generate protocol's int8 gate: FD-fmnist of samples generated through the step
graph, lower is better, compared with the fp32 artifact's on the same seeds. Synthetic:
an untrained tiny UNet as the "fp32 artifact" and, as the real images, its own samples
from other seeds (so its FD is small), through the ``data`` argument of quality_set;
Fashion-MNIST need not be installed (the feature network's weights ship with edgezoo)."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.tasks import protocol_for

SAMPLES = 48


@pytest.fixture(scope="module")
def generator():
    pytest.importorskip("torch")
    import torch

    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
    from edgezoo.export.quantize.quality import torch_runner
    from edgezoo.zoo import create_model
    from edgezoo.zoo.registry import get_entry

    torch.manual_seed(0)
    entry = get_entry("ddpm-unet-fmnist-xs")
    model = create_model(entry.name, pretrained=False, width=4, blocks=1).eval()
    contract = artifact_metadata(entry, io_contract(entry, 32, 32), preprocessing(entry), "onnx", "int8")
    contract["spec"]["program"]["sampler"]["steps"] = 2  # the scheduler recomputes its timesteps from this
    return contract, torch_runner(model, contract)


def noisy(run, scale: float):
    rng = np.random.default_rng(5)

    def wrapped(inputs):
        return {name: value + scale * rng.standard_normal(value.shape).astype(np.float32)
                for name, value in run(inputs).items()}

    return wrapped


def test_the_gate_passes_the_fp32_step_graph_and_fails_one_whose_samples_are_worse(generator):
    from edgezoo.export.quantize.quality import gate

    contract, run = generator
    protocol = protocol_for("generate")
    tolerance = protocol.int8_tolerance("generate")
    # the real side: the generator's own samples from other seeds
    from edgezoo.runtimes.samplers import generate, scheduler_from_dict

    scheduler = scheduler_from_dict(contract["spec"]["program"]["sampler"])

    def denoise(sample, timestep):
        return run({"sample": sample, "timestep": timestep})["v"]

    pictures = (np.clip(generate(denoise, scheduler, (1, 1, 32, 32), SAMPLES, seed=100), -1, 1) + 1) / 2
    data = protocol.quality_set(contract, "selection", {"images": pictures, "samples": SAMPLES})
    assert data.count == SAMPLES and data.dataset == f"caller's images ({SAMPLES})"

    fp32 = protocol.measure_quality(contract, run, data)
    assert fp32.seed == 0 and fp32.metrics["samples"] == SAMPLES and fp32.metrics["steps"] == 2
    same = protocol.measure_quality(contract, lambda inputs: run(inputs), data)
    worse = protocol.measure_quality(contract, noisy(run, 1.0), data)
    assert same.metrics == fp32.metrics  # same step graph, same seeds: the same samples
    assert worse.value("fd_fmnist") > 2 * fp32.value("fd_fmnist") + 1.0, (fp32.metrics, worse.metrics)

    passed = gate("fp32-equal.onnx", same, fp32, tolerance)
    failed = gate("noisy.onnx", worse, fp32)  # the tolerance found from the metric the results carry
    assert passed.passed and not passed.higher_is_better and passed.delta == 0.0
    assert not failed.passed and failed.gain < 0 and failed.delta > 0
    assert "lower is better" in failed.message() and "above the fp32 artifact's" in failed.message()


def test_the_fd_gate_is_relative_plus_absolute_and_lower_is_better():
    from edgezoo.export.quantize.quality import QualityGate
    from edgezoo.tasks.generate import INT8_FD_ABSOLUTE, INT8_FD_RELATIVE

    tolerance = protocol_for("generate").int8_tolerance("generate")
    assert (tolerance.metric, tolerance.higher_is_better) == ("fd_fmnist", False)
    assert tolerance.allowed_loss(10.0) == pytest.approx(10.0 * INT8_FD_RELATIVE + INT8_FD_ABSOLUTE)

    def fd_gate(value, fp32):
        return QualityGate("a", "fd_fmnist", value, fp32, tolerance.tolerance, tolerance.unit,
                           higher_is_better=False, relative=tolerance.relative)

    assert fd_gate(8.0, 10.0).passed  # better than fp32
    assert fd_gate(11.24, 10.0).passed and not fd_gate(11.26, 10.0).passed  # 10.0 * 1.10 + 0.25 = 11.25
    assert fd_gate(11.24, 10.0).gain < 0 < fd_gate(8.0, 10.0).gain
    assert "10% of the fp32 figure + 0.25 (here 1.25)" in fd_gate(12.0, 10.0).message()
    # higher is better, absolute (PSNR, top-1): as before
    psnr = QualityGate("b", "psnr", 30.0, 30.25, 0.3)
    assert psnr.passed and not QualityGate("b", "psnr", 29.9, 30.25, 0.3).passed
    assert psnr.gain == pytest.approx(-0.25)
