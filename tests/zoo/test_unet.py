"""The diffusion UNet ladder: the sizes the registry promises, a noise estimate of the
sample's shape that depends on the timestep, and the shared noise-level embedding."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from edgezoo.zoo import create_model, get_entry, list_models  # noqa: E402
from edgezoo.zoo.layers import SinusoidalEmbedding  # noqa: E402

LADDER = ["ddpm-unet-fmnist-xs", "ddpm-unet-fmnist-s", "ddpm-unet-fmnist-m", "ddpm-unet-fmnist-l"]


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_ladder_spans_about_a_tenth_to_five_million_parameters():
    assert set(LADDER) <= set(list_models(task="generate"))
    counts = [_params(create_model(name, pretrained=False)) for name in LADDER]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert 0.08e6 <= counts[0] <= 0.15e6 and 3.5e6 <= counts[-1] <= 5.0e6, counts
    assert [get_entry(n).config.width for n in LADDER] == [8, 16, 32, 56]


def test_noise_estimate_has_the_samples_shape_and_depends_on_the_timestep():
    torch.manual_seed(0)
    model = create_model("ddpm-unet-fmnist-xs", pretrained=False, width=4, blocks=1)
    with torch.no_grad():
        x = torch.randn(1, 1, 32, 32)
        early, late = model(x, torch.tensor([10.0])), model(x, torch.tensor([900.0]))
    assert early.shape == x.shape
    assert (early - late).abs().max() > 1e-3


def test_sinusoidal_embedding_is_sin_and_cos_of_geometric_frequencies():
    emb = SinusoidalEmbedding(8)
    out = emb(torch.tensor([0.0, 3.0]))
    assert out.shape == (2, 8)
    assert torch.allclose(out[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = [10000 ** (-i / 4) for i in range(4)]
    want = [math.sin(3 * f) for f in freqs] + [math.cos(3 * f) for f in freqs]
    assert torch.allclose(out[1], torch.tensor(want), atol=1e-6)
    with pytest.raises(ValueError):
        SinusoidalEmbedding(7)


def test_sizes_that_do_not_halve_are_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        create_model("ddpm-unet-fmnist-xs", pretrained=False, image_size=(30, 30))
