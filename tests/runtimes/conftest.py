import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifacts import build_export, conv_export  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """No test reads or writes the user's artifact store."""
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEZOO_ARTIFACTS", raising=False)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> Path:
    """maxim-tiny-denoise (random weights) at 64x64: ONNX, TFLite and OpenVINO, fp32."""
    pytest.importorskip("torch")
    return build_export(tmp_path_factory.mktemp("export") / "maxim-tiny-denoise", size=64, pretrained=False)


@pytest.fixture(scope="session")
def conv_dir(tmp_path_factory) -> Path:
    """A convolution-only net as static 64x64 and dynamic ONNX (built without torch)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return conv_export(tmp_path_factory.mktemp("conv") / "conv-test")
