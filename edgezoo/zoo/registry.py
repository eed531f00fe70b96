"""A timm-style model registry: ``@register_model`` builders and ``create_model(name)``."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from edgezoo.errors import UnknownModelError


@dataclass(frozen=True)
class InputSpec:
    """What a model takes: NCHW float32 RGB in ``value_range``, sides a multiple of ``multiple_of``."""

    multiple_of: int
    channels: int = 3
    layout: str = "NCHW"
    color: str = "RGB"
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class Paper:
    title: str
    url: str


@dataclass(frozen=True)
class ModelEntry:
    """Everything the zoo knows about one registered variant."""

    name: str
    family: str
    task: str
    builder: Callable[[Any], nn.Module]
    config: Any
    paper: Paper
    input_spec: InputSpec
    export_size: tuple[int, int] = (256, 256)
    description: str = ""
    licence: str = "Apache-2.0"
    tags: tuple[str, ...] = field(default_factory=tuple)

    def build(self, **overrides: Any) -> nn.Module:
        config = dataclasses.replace(self.config, **overrides) if overrides else self.config
        return self.builder(config)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    family: str,
    task: str,
    config: Any,
    paper: Paper,
    multiple_of: int,
    export_size: tuple[int, int] = (256, 256),
    description: str = "",
    tags: tuple[str, ...] = (),
) -> Callable[[Callable[[Any], nn.Module]], Callable[[Any], nn.Module]]:
    """Register ``builder(config) -> nn.Module`` under ``name``."""

    def decorate(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")
        _REGISTRY[name] = ModelEntry(
            name=name, family=family, task=task, builder=builder, config=config, paper=paper,
            input_spec=InputSpec(multiple_of=multiple_of), export_size=export_size,
            description=description, tags=tuple(tags),
        )
        return builder

    return decorate


def list_models(task: str | None = None, family: str | None = None) -> list[str]:
    """Registered model names, optionally filtered by task or family."""
    return sorted(
        name for name, entry in _REGISTRY.items()
        if (task is None or entry.task == task) and (family is None or entry.family == family)
    )


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; :class:`UnknownModelError` suggests near names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownModelError(f"unknown model '{name}': {hint}`edgezoo list` shows them all") from None


def create_model(name: str, pretrained: bool = True, **overrides: Any) -> nn.Module:
    """Build model ``name`` in eval mode.

    Parameters
    ----------
    name : str
        A registered model name (``edgezoo list``).
    pretrained : bool
        Load the shipped weights, verified against the sha256 in the model's
        manifest. Raises :class:`edgezoo.errors.WeightsError` when none ship.
    **overrides
        Config fields to change (only with ``pretrained=False``).

    Returns
    -------
    torch.nn.Module
    """
    entry = get_entry(name)
    if pretrained and overrides:
        raise ValueError("config overrides change the architecture; use pretrained=False with them")
    model = entry.build(**overrides)
    if pretrained:
        from edgezoo.zoo.weights import load_shipped_weights

        load_shipped_weights(model, name)
    return model.eval()
