"""Forward FLOPs of a graph per megapixel of its first input, counted by PyTorch's
``FlopCounterMode`` (a multiply-add counts 2): what the planner scales latencies by."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch


def gflops_per_mpix_of(module: Callable[..., Any], feeds: Mapping[str, torch.Tensor]) -> float:
    """GFLOPs of one call of ``module(**feeds)`` per megapixel of the first feed's
    height x width (its last two sides)."""
    from torch.utils.flop_counter import FlopCounterMode

    first = next(iter(feeds.values()))
    pixels = int(first.shape[-2]) * int(first.shape[-1])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(**feeds)
    return round(counter.get_total_flops() / 1e9 / (pixels / 1e6), 2)
