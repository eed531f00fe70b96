import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifacts import build_export  # noqa: E402
from shared_fixtures import _isolated_store, conv_dir  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> Path:
    """maxim-tiny-denoise (random weights) at 64x64: ONNX, TFLite and OpenVINO, fp32."""
    pytest.importorskip("torch")
    return build_export(tmp_path_factory.mktemp("export") / "maxim-tiny-denoise", size=64, pretrained=False)
