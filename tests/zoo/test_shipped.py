"""The weights and manifests that ship in the package: valid, verified, and honest about
their quality (re-measured here on one evaluation photo, not taken on trust)."""

import numpy as np
import pytest
import torch

from edgezoo.files import sha256_file
from edgezoo.manifests import packaged_manifest, packaged_names
from edgezoo.metrics import psnr
from edgezoo.zoo import create_model, get_entry
from edgezoo.zoo.data import GaussianNoise, evaluation_images
from edgezoo.zoo.evaluate import torch_restorer
from edgezoo.zoo.release import gflops_per_mpix
from edgezoo.zoo.weights import shipped_weights_path

SHIPPED = packaged_names()


def test_the_default_model_ships_trained_weights():
    assert "maxim-tiny-denoise" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_packaged_manifest_matches_its_weights_and_model(name):
    manifest = packaged_manifest(name)
    entry = get_entry(name)
    path, sha = shipped_weights_path(name)
    assert sha256_file(path) == sha == manifest.weights.sha256
    assert path.stat().st_size == manifest.weights.bytes
    model = create_model(name, pretrained=True)
    assert sum(p.numel() for p in model.parameters()) == manifest.params == manifest.weights.params
    assert manifest.task == entry.task and manifest.io.inputs[0].multiple_of == entry.input_spec.multiple_of
    levels = {q.degradation for q in manifest.quality}
    assert levels == {GaussianNoise(s).label for s in (15, 25, 50)}
    for q in manifest.quality:
        assert set(q.per_image) == set(evaluation_images())
        assert q.baselines["noisy"].psnr_db < q.mean.psnr_db
        assert "cbm3d" in q.baselines
        assert q.mean.psnr_db == pytest.approx(np.mean([s.psnr_db for s in q.per_image.values()]), abs=1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_recorded_quality_is_reproduced_on_one_photo(name):
    """Image i of the sorted evaluation set gets noise from default_rng(seed + i)."""
    manifest = packaged_manifest(name)
    result = next(q for q in manifest.quality if q.degradation == GaussianNoise(25).label)
    images = evaluation_images()
    index, photo = next((i, n) for i, n in enumerate(sorted(images)) if n == "chelsea")
    noisy = GaussianNoise(25)(images[photo], np.random.default_rng(result.seed + index))
    restored = np.clip(torch_restorer(create_model(name))(noisy), 0, 1)
    assert psnr(images[photo], restored) == pytest.approx(result.per_image[photo].psnr_db, abs=0.02)


def test_flop_count_of_one_convolution_is_two_per_multiply_add():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert gflops_per_mpix(conv, 32, 32) == pytest.approx(2 * 3 * 8 * 9 / 1e3, abs=0.01)
