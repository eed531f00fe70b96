"""MaxViT: windowed block and grid attention on rank <= 4 partitions, relative
position bias, MBConv; the edge classifier's shapes."""

from __future__ import annotations

import pytest
import torch

from edgezoo.zoo import create_model
from edgezoo.zoo.layers import RelativeAttention, relative_position_index, window_tokens, window_untokens


@pytest.mark.parametrize("mode,size", [("block", (4, 3)), ("grid", (2, 4))])
def test_window_partitions_invert_exactly(mode, size):
    x = torch.randn(2, 5, 8, 12)
    tokens = window_tokens(x, size, mode)
    assert tokens.shape == (2 * 8 * 12 // (size[0] * size[1]), size[0] * size[1], 5)
    assert torch.equal(window_untokens(tokens, size, mode, x.shape), x)


def test_block_windows_are_local_and_grid_windows_are_dilated():
    x = torch.randn(1, 3, 8, 12)
    block = window_tokens(x, (4, 3), "block")
    assert torch.equal(block[0], x[0, :, :4, :3].reshape(3, -1).T)  # first window: the top-left 4x3 pixels
    grid = window_tokens(x, (2, 4), "grid")
    assert torch.equal(grid[0], x[0, :, ::4, ::3].reshape(3, -1).T)  # one pixel from each of the 2x4 patches


def test_relative_position_index_depends_only_on_the_offset():
    index = relative_position_index((3, 3))
    assert index.shape == (9, 9) and index.max() == 24 and index.min() == 0
    assert index[0, 0] == index[4, 4] == index[8, 8]  # zero offset
    assert index[0, 1] == index[3, 4] and index[0, 1] != index[1, 0]


def test_attention_mixes_only_within_its_windows():
    torch.manual_seed(0)
    attention = RelativeAttention(16, (4, 4), "block", head_dim=8).eval()
    x = torch.randn(1, 16, 8, 8)
    y = x.clone()
    y[:, :, 4:, 4:] += 1.0  # change only the bottom-right window
    with torch.no_grad():
        a, b = attention(x), attention(y)
    assert torch.allclose(a[:, :, :4, :], b[:, :, :4, :]) and torch.allclose(a[:, :, 4:, :4], b[:, :, 4:, :4])
    assert not torch.allclose(a[:, :, 4:, 4:], b[:, :, 4:, 4:])


def test_edge_classifier_takes_28x28_grey_and_returns_ten_logits():
    model = create_model("maxvit-tiny-fmnist", pretrained=False)
    params = sum(p.numel() for p in model.parameters())
    assert 100_000 < params < 1_000_000
    with torch.no_grad():
        assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_muller_starts_as_the_bilinear_resize_and_learns_four_scalars():
    from torch.nn import functional as F

    model = create_model("muller-maxvit-fmnist-12", pretrained=False)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.resizer(x), F.interpolate(x, size=(12, 12), mode="bilinear", align_corners=False))
        model.resizer.scales.fill_(1.0)
        assert not torch.allclose(model.resizer(x), F.interpolate(x, size=(12, 12), mode="bilinear", align_corners=False))
    assert sum(p.numel() for p in model.resizer.parameters()) == 4
    assert model(x).shape == (2, 10)
