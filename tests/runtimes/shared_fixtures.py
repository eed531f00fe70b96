"""Fixtures shared by the runtime, batch and reliability tests (each conftest imports them)."""

from pathlib import Path

import pytest
from artifacts import conv_export


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """No test reads or writes the user's artifact store."""
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEZOO_ARTIFACTS", raising=False)


@pytest.fixture(scope="session")
def conv_dir(tmp_path_factory) -> Path:
    """A convolution-only net as static 64x64 and dynamic ONNX (built without torch)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return conv_export(tmp_path_factory.mktemp("conv") / "conv-test")
