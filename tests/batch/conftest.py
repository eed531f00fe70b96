import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifacts import conv_export  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """No test reads or writes the user's artifact store."""
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEZOO_ARTIFACTS", raising=False)


@pytest.fixture(scope="session")
def conv_dir(tmp_path_factory) -> Path:
    """A convolution-only net (ONNX built without torch) as a static 64x64 and a dynamic artifact."""
    pytest.importorskip("onnxruntime")
    return conv_export(tmp_path_factory.mktemp("conv") / "conv-test")
