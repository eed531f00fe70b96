"""One small export per family, built once per test session and shared by every test
of the family: a new family adds one fixture here, not an export per test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# each classifier family at its variant's input and output contract, smaller inside (quick to convert)
MAXVIT_SMALL_CONFIG = dict(stem_channels=8, channels=(16, 32), depths=(1, 1))
CLASSIFIERS = ("maxvit-tiny-fmnist", "muller-maxvit-fmnist-12")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEZOO_ARTIFACTS", raising=False)


def _small(name: str):
    import dataclasses

    import torch

    from edgezoo.zoo import create_model, get_entry

    torch.manual_seed(0)
    if name.startswith("muller"):
        classifier = dataclasses.replace(get_entry(name).config.classifier, **MAXVIT_SMALL_CONFIG)
        model = create_model(name, pretrained=False, classifier=classifier)
        with torch.no_grad():  # a resizer that does something (zero scalars are plain bilinear)
            model.resizer.scales.copy_(torch.tensor([0.8, -0.5]))
            model.resizer.biases.copy_(torch.tensor([0.02, -0.01]))
        return model
    return create_model(name, pretrained=False, **MAXVIT_SMALL_CONFIG)


@pytest.fixture(scope="session", params=CLASSIFIERS)
def classifier_export(request, tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, manifest, the PyTorch model) of one classifier family's contract, every format, fp32."""
    pytest.importorskip("torch")
    from edgezoo.export.pipeline import export_model

    name = request.param
    model = _small(name)
    out = tmp_path_factory.mktemp("classifier") / name
    manifest = export_model(name, formats="all", out_dir=out, model=model)
    return out, manifest, model


@pytest.fixture(scope="session")
def resizer_export(tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, manifest, the PyTorch resizer) of the MULLER resizer alone, every format,
    fp32: the resizer part of a MULLER model (with scalars that do something)."""
    pytest.importorskip("torch")
    from edgezoo.export.pipeline import export_model

    resizer = _small("muller-maxvit-fmnist-16").resizer.eval()
    out = tmp_path_factory.mktemp("resizer") / "muller-resizer-fmnist-16"
    manifest = export_model("muller-resizer-fmnist-16", formats="all", out_dir=out, model=resizer)
    return out, manifest, resizer


# the diffusion family's contract (32x32 grey sample, timestep, sampler program) at a tiny width
DIFFUSION = "ddpm-unet-fmnist-xs"
DIFFUSION_SMALL_CONFIG = dict(width=4, blocks=1)


@pytest.fixture(scope="session")
def diffusion_export(tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, manifest, the PyTorch denoiser) of the smallest diffusion UNet at a tiny
    width, every format, fp32, through the one export pipeline."""
    pytest.importorskip("torch")
    import torch

    from edgezoo.export.pipeline import export_model
    from edgezoo.zoo import create_model

    torch.manual_seed(0)
    model = create_model(DIFFUSION, pretrained=False, **DIFFUSION_SMALL_CONFIG)
    out = tmp_path_factory.mktemp("diffusion") / DIFFUSION
    manifest = export_model(DIFFUSION, formats="all", out_dir=out, model=model)
    return out, manifest, model


SOFT_DIFFUSION = "soft-unet-fmnist-xs"


@pytest.fixture(scope="session")
def soft_diffusion_export(tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, manifest, the PyTorch denoiser) of the smallest Soft Diffusion UNet (x0
    prediction, momentum sampler) at a tiny width, ONNX only, fp32: the step graph is the
    same network as the Gaussian one, only the sampler program differs."""
    pytest.importorskip("torch")
    import torch

    from edgezoo.export.pipeline import export_model
    from edgezoo.zoo import create_model

    torch.manual_seed(0)
    model = create_model(SOFT_DIFFUSION, pretrained=False, **DIFFUSION_SMALL_CONFIG)
    out = tmp_path_factory.mktemp("soft-diffusion") / SOFT_DIFFUSION
    manifest = export_model(SOFT_DIFFUSION, formats="onnx", out_dir=out, model=model)
    return out, manifest, model


def _check_every_format(manifest, min_parity_db: float) -> None:
    """Every family's export: the four formats, each static; Core ML converted and its
    spec read back, not run (prediction needs macOS); the others executed in their
    runtime at ``min_parity_db`` or better."""
    assert sorted(a.format for a in manifest.artifacts) == ["coreml", "onnx", "openvino", "tflite"]
    for artifact in manifest.artifacts:
        assert artifact.static_shape  # a fixed-size model gets no dynamic variant
        if artifact.format == "coreml":
            assert not artifact.parity.executed and artifact.parity.passed
            continue
        assert artifact.parity.executed and artifact.parity.psnr_db >= min_parity_db, (artifact.file, artifact.parity)


@pytest.fixture(scope="session")
def check_every_format():
    """The shared check of a family's export (see :func:`_check_every_format`)."""
    return _check_every_format
