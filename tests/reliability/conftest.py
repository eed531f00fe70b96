import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "runtimes"))
sys.path.insert(0, str(HERE))

from shared_fixtures import _isolated_store, conv_dir  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def resizer_export(tmp_path_factory) -> Path:
    """The cheapest real zoo export: the MULLER resizer (four scalars, untrained) as ONNX
    and OpenVINO, through the export pipeline."""
    pytest.importorskip("torch")
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("store") / "muller-resizer-fmnist-16"
    export_model("muller-resizer-fmnist-16", formats=["onnx", "openvino"], out_dir=out, pretrained=False)
    return out


@pytest.fixture
def edgezoo(capsys):
    """Run the CLI in this process: (exit status, stdout, stderr)."""
    from edgezoo.cli import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
