"""One small export per family, built once per test session and shared by every test
of the family: a new family adds one fixture here, not an export per test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# MaxViT at the shipped variant's input and output contract, smaller inside (seconds to convert)
MAXVIT_SMALL_CONFIG = dict(stem_channels=8, channels=(16, 32), depths=(1, 1))


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEZOO_ARTIFACTS", raising=False)


@pytest.fixture(scope="session")
def maxvit_export(tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, manifest, the PyTorch model) of maxvit-tiny-fmnist's contract, every format, fp32."""
    pytest.importorskip("torch")
    import torch

    from edgezoo.export.pipeline import export_model
    from edgezoo.zoo import create_model

    torch.manual_seed(0)
    model = create_model("maxvit-tiny-fmnist", pretrained=False, **MAXVIT_SMALL_CONFIG)
    out = tmp_path_factory.mktemp("maxvit") / "maxvit-tiny-fmnist"
    manifest = export_model("maxvit-tiny-fmnist", formats="all", out_dir=out, model=model)
    return out, manifest, model
