import pytest
import torch

from edgezoo.errors import UnknownModelError, WeightsError
from edgezoo.zoo import create_model, get_entry, list_models


def test_every_maxim_task_has_edge_small_and_paper_sizes():
    names = list_models(family="maxim")
    for task in ("denoise", "deblur", "derain", "dehaze", "enhance"):
        for size in ("tiny", "small", "s1", "s2", "s3", "m1", "m2", "m3"):
            assert f"maxim-{size}-{task}" in names
    assert list_models(task="denoise") == sorted(n for n in names if n.endswith("-denoise"))


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="did you mean maxim-tiny-denoise"):
        get_entry("maxim-tiny-denoize")


def test_edge_variant_is_under_a_million_parameters_and_paper_size_matches_upstream():
    tiny = create_model("maxim-tiny-denoise", pretrained=False)
    assert sum(p.numel() for p in tiny.parameters()) < 1_000_000
    # upstream reports MAXIM-3S at 22.2M parameters (the paper's Table)
    s3 = create_model("maxim-s3-denoise", pretrained=False)
    assert abs(sum(p.numel() for p in s3.parameters()) / 1e6 - 22.2) < 0.1


def test_create_model_returns_eval_mode_and_rejects_overrides_with_pretrained():
    model = create_model("maxim-tiny-deblur", pretrained=False)
    assert not model.training
    with pytest.raises(ValueError):
        create_model("maxim-tiny-denoise", pretrained=True, features=8)


def test_pretrained_without_shipped_weights_says_how_to_get_them():
    with pytest.raises(WeightsError, match="edgezoo train maxim-s1-denoise"):  # a task the recipe trains
        create_model("maxim-s1-denoise", pretrained=True)
    with pytest.raises(WeightsError, match="edgezoo weights import maxim-s3-denoise"):  # official upstream weights
        create_model("maxim-s3-denoise", pretrained=True)
    with pytest.raises(WeightsError, match="edgezoo train maxim-s3-dehaze"):  # every restoration task has one
        create_model("maxim-s3-dehaze", pretrained=True)
    with pytest.raises(WeightsError, match="device_diffusion.py train --family soft"):  # diffusion: its own script
        create_model("soft-unet-fmnist-s", pretrained=True)
    with pytest.raises(WeightsError, match="has no resize recipe yet; use pretrained=False"):  # one it does not
        create_model("muller-resizer-fmnist-16", pretrained=True)


@pytest.mark.parametrize("size", [(32, 32), (64, 96), (96, 160)])
def test_tiny_output_shape_matches_input_for_several_sizes(size):
    model = create_model("maxim-tiny-denoise", pretrained=False)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_multistage_multiscale_outputs_are_coarse_to_fine():
    model = create_model("maxim-s2-denoise", pretrained=False)
    with torch.no_grad():
        outputs = model.forward_all(torch.rand(1, 3, 64, 64))
    assert len(outputs) == 2
    assert [o.shape[-1] for o in outputs[-1]] == [16, 32, 64]
