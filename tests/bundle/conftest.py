"""Exports shared by the bundle tests, built once per session: MAXIM-tiny (shipped
weights) at 64x64 in ONNX, TFLite and OpenVINO (Core ML is left out on purpose: the iOS
bundle exports it on demand), and the smallest diffusion UNet at a tiny width."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))
from shared_fixtures import _isolated_store  # noqa: E402,F401 - the autouse fixture: no test touches the user's store

MAXIM = "maxim-tiny-denoise"
SIZE = 64
DIFFUSION = "ddpm-unet-fmnist-xs"
DIFFUSION_SMALL_CONFIG = dict(width=4, blocks=1)


@pytest.fixture(scope="session")
def maxim_dir(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("store") / MAXIM
    export_model(MAXIM, formats="onnx,tflite,openvino", out_dir=out, height=SIZE, width=SIZE, dynamic=False,
                 measure_quality=False)
    return out


@pytest.fixture(scope="session")
def maxim_model(maxim_dir):
    from edgezoo.export.verify import rebuild_reference
    from edgezoo.manifests import load_manifest

    return rebuild_reference(maxim_dir, load_manifest(maxim_dir))


@pytest.fixture(scope="session")
def diffusion(tmp_path_factory) -> tuple[Path, object]:
    pytest.importorskip("torch")
    import torch

    from edgezoo.export.pipeline import export_model
    from edgezoo.zoo import create_model

    torch.manual_seed(0)
    model = create_model(DIFFUSION, pretrained=False, **DIFFUSION_SMALL_CONFIG)
    out = tmp_path_factory.mktemp("store") / DIFFUSION
    export_model(DIFFUSION, formats="onnx,tflite,openvino", out_dir=out, model=model)
    return out, model


@pytest.fixture(scope="session")
def android_bundle(maxim_dir, tmp_path_factory) -> Path:
    from edgezoo.export.bundle import build_bundle

    return build_bundle(maxim_dir, "android", tmp_path_factory.mktemp("bundles") / "maxim-android.zip").path


@pytest.fixture(scope="session")
def linux_bundle(maxim_dir, tmp_path_factory) -> Path:
    from edgezoo.export.bundle import build_bundle

    return build_bundle(maxim_dir, "linux", tmp_path_factory.mktemp("bundles") / "maxim-linux.zip").path
