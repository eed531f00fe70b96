"""The signature every converter sees: ``forward(<contract inputs>) -> <contract outputs>``,
whatever the wrapped module calls its arguments, so that every format names its tensors
the same and a model with several inputs or outputs needs no special case."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from torch import nn


class ContractModule(nn.Module):
    """The wrapped module called with the contract's inputs in order.

    ``forward`` takes the inputs positionally or by their contract names (its signature
    names them, which is what converters that trace keyword inputs read) and returns
    the single output tensor, a tuple in the contract's output order, or with
    ``named_outputs`` a dict by output name (converters that name outputs after the
    returned dict's keys, such as litert-torch)."""

    def __init__(self, module: nn.Module, input_names: Sequence[str], output_names: Sequence[str],
                 named_outputs: bool = False) -> None:
        super().__init__()
        self.module = module
        self.input_names, self.output_names = list(input_names), list(output_names)
        self.named_outputs = named_outputs

        def forward(*args: torch.Tensor, **kwargs: torch.Tensor) -> Any:
            return self._call(args, kwargs)

        forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in self.input_names])
        self.forward = forward  # per instance: the signature carries this model's input names

    def _call(self, args: tuple[torch.Tensor, ...], kwargs: dict[str, torch.Tensor]) -> Any:
        values = list(args) + [kwargs[n] for n in self.input_names[len(args):]]
        returned = self.module(*values)
        if isinstance(returned, dict):
            outputs = [returned[n] for n in self.output_names]
        else:
            outputs = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        if len(outputs) != len(self.output_names):
            raise ValueError(f"the model returns {len(outputs)} tensors; the contract names {self.output_names}")
        if self.named_outputs:
            return dict(zip(self.output_names, outputs))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def example_tensors(example: Any, input_names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The converter's example inputs by contract name, from a dict (numpy or torch
    values) or, for a one-input model, a bare tensor."""
    if not isinstance(example, dict):
        if len(input_names) != 1:
            raise ValueError(f"this model takes {list(input_names)}; pass the example as a dict by name")
        example = {input_names[0]: example}
    missing = [n for n in input_names if n not in example]
    if missing:
        raise ValueError(f"the example lacks the inputs {missing}")
    return {n: example[n] if isinstance(example[n], torch.Tensor) else torch.from_numpy(example[n])
            for n in input_names}
