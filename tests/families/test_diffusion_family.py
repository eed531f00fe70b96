"""A diffusion denoiser goes through the same export, runtime and planner as every
model: its contract (a ``denoiser`` step graph (sample, timestep) -> v, a ``sampler``
program whose scheduler is data) is what differs. The runtime's sampling loop over each
exported fp32 step graph matches the PyTorch loop with the same scheduler and noise."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.metrics import psnr
from edgezoo.runtimes.backends import get_backend

STEPS = 6


def test_every_format_exports_the_step_graph_with_its_sampler_contract(diffusion_export, check_every_format):
    _, manifest, _ = diffusion_export
    check_every_format(manifest, min_parity_db=100)  # fp32 step graphs reach 135-137 dB here
    spec = manifest.spec
    assert spec is not None and spec.protocol == "generate"
    assert spec.program.kind == "sampler" and spec.program.component == "denoiser"
    assert spec.program.sampler["kind"] == "ddim" and spec.program.sampler["schedule"]["kind"] == "cosine"
    assert len(spec.program.sampler["timesteps"]) == spec.program.sampler["steps"] == 8
    denoiser = spec.component()
    assert [(t.name, t.role, t.shape) for t in denoiser.inputs] == [
        ("sample", "noise", [1, 1, 32, 32]), ("timestep", "timestep", [1])]
    assert [(t.name, t.role, t.shape_rule) for t in denoiser.outputs] == [("v", "noise", "same:sample")]  # v prediction
    assert spec.metric.name == "fd_fmnist" and not spec.metric.higher_is_better and "not FID" in spec.metric.note
    assert manifest.quality == []  # no sample quality is claimed for weights that do not ship
    assert all(artifact.input_shape == [1, 1, 32, 32] for artifact in manifest.artifacts)


@pytest.mark.parametrize("backend", ["onnxruntime", "litert", "openvino"])
def test_runtime_sampling_over_the_artifact_matches_the_pytorch_loop(diffusion_export, backend):
    from edgezoo import runtimes
    from edgezoo.zoo.sampling import reference_samples

    if not get_backend(backend).available():
        pytest.fail(f"{backend} is not available here: the test venv installs every backend")
    folder, manifest, model = diffusion_export
    fmt = {"onnxruntime": "onnx", "litert": "tflite", "openvino": "openvino"}[backend]
    session = runtimes.load(folder, backend=backend, artifact=fmt)
    assert session.artifact.format == fmt
    got = session.generate(count=2, seed=3, steps=STEPS, raw=True)
    want = reference_samples(model, manifest.spec, count=2, seed=3, steps=STEPS)
    assert got.shape == want.shape == (2, 1, 32, 32) and got.dtype == np.float32
    assert np.std(want) > 0.05  # the loop produced something, not a constant
    assert psnr(want, got, data_range=2.0) >= 40.0  # samples live in [-1, 1]
    pictures = session.generate(count=1, seed=3, steps=STEPS)
    assert pictures.min() >= 0.0 and pictures.max() <= 1.0
    assert np.allclose(pictures[0], (got[0] + 1) / 2, atol=1e-6)  # same seed, same sample
    assert "sampler: ddim" in session.describe()["tiling"]


def test_seeds_are_reproducible_and_distinct(diffusion_export):
    from edgezoo import runtimes

    session = runtimes.load(diffusion_export[0], backend="onnxruntime")
    a, b = session.generate(count=2, seed=0, steps=2, raw=True)
    again = session.generate(count=1, seed=0, steps=2, raw=True)
    assert np.array_equal(a, again[0]) and not np.array_equal(a, b)


def test_planner_costs_a_sample_as_one_call_per_step_whatever_the_image_size(diffusion_export):
    from edgezoo.runtimes import plan, resolve

    exports = resolve(diffusion_export[0])
    for size in ((32, 32), (256, 256)):
        chosen = plan(exports, backend="onnxruntime", image_size=size, fallback_gflops=lambda: 10.0).chosen
        assert chosen.call_shape == [1, 1, 32, 32] and chosen.calls == 8  # the program's 8 steps, never tiles


def test_a_sampler_session_takes_no_picture(diffusion_export):
    from edgezoo import runtimes
    from edgezoo.errors import BadInputError

    session = runtimes.load(diffusion_export[0], backend="onnxruntime")
    with pytest.raises(BadInputError, match="generate"):
        session(np.zeros((32, 32), np.uint8))


def test_cli_generate_writes_a_grid_and_prints_the_plan(diffusion_export, tmp_path, capsys):
    from PIL import Image

    from edgezoo.cli import main

    out = tmp_path / "grid.png"
    status = main(["generate", str(diffusion_export[0]), "-o", str(out), "-n", "3", "--steps", "2", "--seed", "5",
                   "--backend", "onnxruntime"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert printed.startswith("plan: ddpm-unet-fmnist-xs onnx-fp32-static on onnxruntime")
    assert "ddim, 2 steps, seed 5" in printed and str(out) in printed
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 32 + 2, 2 * 32 + 2)  # 3 samples on a 2x2 grid, grey, 2 px apart
    status = main(["generate", str(diffusion_export[0]), "-o", str(tmp_path / "grid.txt")])
    assert status == 2


def test_verify_rebuilds_the_denoiser_from_its_weights_and_passes(diffusion_export):
    from edgezoo.export.verify import verify_dir

    report = verify_dir(diffusion_export[0])
    assert report.passed
    executed = [c for c in report.artifacts if c.executed]
    assert len(executed) == 3 and all(c.psnr_db >= 100 for c in executed)


def test_soft_diffusion_momentum_loop_over_the_onnx_step_graph_matches_the_pytorch_loop(soft_diffusion_export):
    """Soft Diffusion's contract: an x0-predicting step graph and a momentum sampler
    program (blur and noise levels, the prior of the lowest DCT block), which the
    runtime replays over the exported graph as the PyTorch reference does."""
    from edgezoo import runtimes
    from edgezoo.zoo.sampling import reference_samples
    from edgezoo.zoo.variants.diffusion import SOFT_PRIOR_MEAN, SOFT_PRIOR_STD

    folder, manifest, model = soft_diffusion_export
    sampler = manifest.spec.program.sampler
    assert sampler["kind"] == "momentum" and sampler["prediction"] == "x0"
    assert tuple(sampler["schedule"]["prior_mean"]) == SOFT_PRIOR_MEAN
    assert tuple(sampler["schedule"]["prior_std"]) == SOFT_PRIOR_STD
    assert len(sampler["blur_sigma"]) == len(sampler["noise_sigma"]) == sampler["steps"]
    denoiser = manifest.spec.component()
    assert [(t.name, t.role, t.shape_rule) for t in denoiser.outputs] == [("x0", "noise", "same:sample")]
    [artifact] = manifest.artifacts
    assert artifact.format == "onnx" and artifact.parity.executed and artifact.parity.psnr_db >= 100

    session = runtimes.load(folder, backend="onnxruntime", artifact="onnx")
    got = session.generate(count=2, seed=3, steps=STEPS, raw=True)
    want = reference_samples(model, manifest.spec, count=2, seed=3, steps=STEPS)
    assert got.shape == want.shape == (2, 1, 32, 32) and got.dtype == np.float32
    assert np.std(want) > 0.05 and not np.array_equal(want[0], want[1])
    assert psnr(want, got, data_range=2.0) >= 40.0  # samples live in [-1, 1]
    assert "sampler: momentum" in session.describe()["tiling"]
