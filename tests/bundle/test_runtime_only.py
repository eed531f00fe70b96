"""Each bundle, loaded in a subprocess that cannot import torch, the zoo or the
exporters, reproduces the PyTorch reference: MAXIM through tiles (the recipe read from
contract.json) and its uint8 NHWC signature, the diffusion model through the sampler
table of contract.json alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgezoo.metrics import psnr

PROBE = Path(__file__).with_name("app_probe.py")


def _run_probe(python: str, bundle: Path, inputs: dict, tmp_path: Path) -> dict[str, np.ndarray]:
    np.savez(tmp_path / "in.npz", **inputs)
    result = subprocess.run([python, str(PROBE), str(bundle), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "clean"
    return dict(np.load(tmp_path / "out.npz"))


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth picture with noise of sigma 25 (what the model expects), 1x3xHxW float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    clean = np.stack([0.5 + 0.4 * np.sin(6 * x + c) * np.cos(4 * y - c) for c in range(3)])[None]
    return (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)


def _torch_fn(model):
    import torch

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return fn


@pytest.mark.parametrize("which", ["linux", "android"])
def test_maxim_bundle_reproduces_pytorch_with_the_runtime_alone(which, request, maxim_model, python, tmp_path):
    import torch

    from edgezoo.export.bundle.app_signature import Uint8NhwcModule
    from edgezoo.runtimes.bundle import open_bundle
    from edgezoo.runtimes.serving import serve

    bundle_path = request.getfixturevalue(f"{which}_bundle")
    contract = open_bundle(bundle_path).contract
    image = _picture(96, 80)  # larger than the 64x64 tile: served in overlapping tiles
    tiled = [a for a in contract["artifacts"] if a["signature"] == "float_nchw"]
    recipe = tiled[0]["serving"]
    assert recipe["kind"] == "tiled" and recipe["tile"] == [64, 64]
    reference = serve(_torch_fn(maxim_model), image, recipe["align"], (64, 64), recipe["overlap"], recipe["pad_mode"])
    pixels = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    io = {"inputs": [a for a in tiled[0]["inputs"]], "outputs": [a for a in tiled[0]["outputs"]]}
    with torch.no_grad():
        reference_u8 = Uint8NhwcModule(maxim_model, io)(image=torch.from_numpy(pixels))["restored"].numpy()

    outputs = _run_probe(python, bundle_path, {"image": image, "pixels": pixels}, tmp_path)
    expected = {"linux": {"onnx", "openvino"}, "android": {"tflite"}}[which]
    assert {a["format"] for a in contract["artifacts"]} == expected
    assert len(outputs) == len(contract["artifacts"])
    for key, out in outputs.items():
        if "uint8_nhwc" in key:
            assert out.dtype == np.uint8 and out.shape == (1, 64, 64, 3)
            assert int(np.abs(out.astype(int) - reference_u8.astype(int)).max()) <= 1, key
        else:
            assert out.shape == image.shape
            assert psnr(np.clip(out, 0, 1), np.clip(reference, 0, 1)) >= 60.0, key
    if which == "android":
        assert any("uint8_nhwc" in k for k in outputs)


# the android diffusion bundle converts the UNet to TFLite once more (about a minute here): weekly, with -m slow
@pytest.mark.parametrize("platform", ["linux", pytest.param("android", marks=pytest.mark.slow)])
def test_diffusion_sampler_from_contract_json_alone(platform, diffusion, python, tmp_path):
    from edgezoo.export.bundle import build_bundle
    from edgezoo.manifests import load_manifest
    from edgezoo.zoo.sampling import reference_samples

    folder, model = diffusion
    bundle = build_bundle(folder, platform, tmp_path / f"ddpm-{platform}.zip").path
    manifest = load_manifest(folder)
    reference = reference_samples(model, manifest.model_spec(), count=1, seed=0)
    outputs = _run_probe(python, bundle, {}, tmp_path)
    assert outputs, "no artifact ran"
    for key, sample in outputs.items():
        assert sample.shape == reference.shape
        error = float(np.abs(sample - reference).max())
        assert error < 1e-3, (key, error)
        # on the sample's [-1, 1] range mapped to [0, 1]
        assert psnr((sample + 1) / 2, (reference + 1) / 2) >= 60.0, key
