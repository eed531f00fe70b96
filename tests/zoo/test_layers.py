import torch

from edgezoo.zoo import create_model
from edgezoo.zoo.layers import block_partition, block_unpartition, grid_partition, grid_unpartition


def test_block_partition_groups_each_block_and_inverts_exactly():
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    tokens = block_partition(x, (4, 4))
    assert tokens.shape == (2 * 3 * 2 * 3, 16)
    # first token row is the top-left 4x4 block of image 0, channel 0
    assert torch.equal(tokens[0], x[0, 0, :4, :4].reshape(-1))
    assert torch.equal(block_unpartition(tokens, (4, 4), x.shape), x)


def test_grid_partition_groups_pixels_at_one_offset_across_patches_and_inverts():
    x = torch.arange(1 * 2 * 8 * 12, dtype=torch.float32).reshape(1, 2, 8, 12)
    tokens = grid_partition(x, (2, 3))  # patches of 4x4, a 2x3 grid of them
    assert tokens.shape == (1 * 2 * 4 * 4, 6)
    # first token row: offset (0, 0) in each patch of channel 0
    assert torch.equal(tokens[0], x[0, 0, ::4, ::4].reshape(-1))
    assert torch.equal(grid_unpartition(tokens, (2, 3), x.shape), x)


def test_exported_graph_has_no_tensor_above_rank_4_and_only_tanh_gelu():
    model = create_model("maxim-tiny-denoise", pretrained=False)
    program = torch.export.export(model, (torch.rand(1, 3, 64, 64),))
    ranks, gelus = [], []
    for node in program.graph.nodes:
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor):
            ranks.append(value.dim())
        if node.op == "call_function" and "gelu" in str(node.target):
            gelus.append(node.kwargs.get("approximate", "none"))
    assert max(ranks) <= 4
    assert gelus and set(gelus) == {"tanh"}
