"""Shared exports for the export tests: MAXIM-tiny (untrained, 64x64) in all four
formats, built once per session, and a two-layer conv net for fast pipeline tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MODEL = "maxim-tiny-denoise"
SIZE = 64  # the smallest multiple of 32 that exercises every partition


@pytest.fixture(scope="session")
def maxim_export(tmp_path_factory):
    """(folder, manifest, progress events) of one export of every format."""
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("maxim64")
    events = []
    manifest = export_model(MODEL, formats="all", out_dir=out, height=SIZE, width=SIZE, pretrained=False,
                            dynamic=False, progress=events.append)
    return out, manifest, events


@pytest.fixture
def maxim_copy(maxim_export, tmp_path) -> Path:
    """A private copy of the session export, free to damage."""
    return Path(shutil.copytree(maxim_export[0], tmp_path / "copy"))


@pytest.fixture
def conv_net():
    """A 3 -> 3 channel conv net: exports in seconds, same I/O as the zoo's restorers."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()
