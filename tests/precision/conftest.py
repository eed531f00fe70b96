"""Shared fixtures for the reduced-precision tests: a MAXIM-tiny that denoises (the
shipped weights when they exist, else a quick deterministic stand-in), its fp32
artifacts at 64x64 built once per session, and small quality photos.

Random weights would make the quality gate meaningless (an untrained net's output is
noise either way), so the stand-in is trained for a few dozen steps: enough that int8
errors show up as a quality loss against fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

MODEL = "maxim-tiny-denoise"
SIZE = 64


def _stand_in(steps: int = 60, batch: int = 4, seed: int = 0):
    """MAXIM-tiny trained briefly on the calibration photos (sigma in [0, 50])."""
    import torch

    from edgezoo.export.quantize.calibration import calibration_arrays
    from edgezoo.zoo import create_model
    from edgezoo.zoo.train import charbonnier

    from edgezoo.export.capture import torch_threads

    # one thread: on a shared host, OpenMP threads spin-waiting on each other made
    # these small steps many times slower
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        torch.manual_seed(seed)
        model = create_model(MODEL, pretrained=False).train()
        optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        rng = np.random.default_rng(seed)
        clean_pool = calibration_arrays(SIZE, SIZE, count=64, task="clean", seed=seed + 7)
        for _ in range(steps):
            clean = torch.from_numpy(np.concatenate([clean_pool[i] for i in rng.integers(0, len(clean_pool), batch)]))
            sigma = torch.from_numpy(rng.uniform(0, 50, (batch, 1, 1, 1)).astype(np.float32)) / 255.0
            noisy = clean + torch.randn(clean.shape) * sigma
            loss = charbonnier(model(noisy), clean)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


@pytest.fixture(scope="session")
def denoiser():
    """(model, source): the shipped weights where the package lists them (a failure to
    load them fails the tests that use them), the stand-in only where none ship."""
    from edgezoo.manifests import packaged_names
    from edgezoo.zoo import create_model

    if MODEL in packaged_names():
        return create_model(MODEL, pretrained=True), "shipped"
    return _stand_in(), "stand-in"


@pytest.fixture(scope="session")
def contract():
    """(entry, io contract) of the test size."""
    from edgezoo.export.contract import io_contract
    from edgezoo.zoo import get_entry

    entry = get_entry(MODEL)
    return entry, io_contract(entry, SIZE, SIZE)


def metadata_for(contract, fmt: str, precision: str) -> dict:
    from edgezoo.export.contract import artifact_metadata, preprocessing

    entry, io = contract
    return artifact_metadata(entry, io, preprocessing(entry), fmt, precision)


@pytest.fixture(scope="session")
def precision_export(tmp_path_factory, denoiser, quality_photos):
    """(folder, manifest, events) of one ``export_model`` of every format at every
    precision, 64x64, task quality on the small photos. int8 in ``dynamic`` mode (one
    uncalibrated recipe per format) keeps it quick: the calibrated recipes and their
    remedies are tested one by one on the fp32 artifacts it leaves."""
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("precisions")
    events: list = []
    manifest = export_model(MODEL, formats="all", precisions="fp32,fp16,int8", out_dir=out, height=SIZE, width=SIZE,
                            model=denoiser[0], measure_quality=True, quality_images=quality_photos, dynamic=False,
                            int8_mode="dynamic", progress=events.append)
    return out, manifest, events


@pytest.fixture(scope="session")
def fp32_artifact(precision_export):
    """``fp32_artifact(fmt)``: the fp32 artifact of ``fmt`` at 64x64 (from the shared
    export: converted once)."""
    from edgezoo.export.formats import artifact_filename

    def get(fmt: str) -> Path:
        path = precision_export[0] / artifact_filename(MODEL, fmt, "fp32", SIZE, SIZE)
        assert path.exists(), f"the shared export has no {path.name}"
        return path

    return get


@pytest.fixture(scope="session")
def quality_photos():
    """Two 96x96 crops of evaluation photos: four tiles each at 64x64, so the quality
    gate runs in a second."""
    from edgezoo.zoo.data import evaluation_images

    images = evaluation_images()
    return {name: np.ascontiguousarray(images[name][64:160, 64:160]) for name in ("astronaut", "coffee")}
