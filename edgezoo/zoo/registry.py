"""A timm-style model registry, kept as data: ``register_model(name, builder="module:attr", ...)``
and ``create_model(name)``.

Entries are registered by each family's torch-free ``edgezoo.zoo.variants`` module (its
configs and names); the family's torch module is imported only when a model is built,
so ``edgezoo list`` and ``info`` work in the runtime-only install."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
import importlib
from typing import TYPE_CHECKING, Any, Callable

from edgezoo.errors import UnknownModelError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class InputSpec:
    """What a model's image input is: NCHW float32 in ``value_range``, ``channels`` of
    ``color``; sides a multiple of ``multiple_of``, or exactly ``fixed_size``."""

    multiple_of: int
    channels: int = 3
    layout: str = "NCHW"
    color: str = "RGB"
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)
    fixed_size: tuple[int, int] | None = None


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
    builder: str  # "package.module:callable", called with the config
    config: Any
    paper: Paper
    input_spec: InputSpec
    export_size: tuple[int, int] = (256, 256)
    description: str = ""
    licence: str = "Apache-2.0"
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def protocol(self) -> Any:
        """The task protocol (``edgezoo.tasks``) that says what this variant's task means."""
        from edgezoo.tasks import protocol_for

        return protocol_for(self.task)

    def spec(self, height: int | None = None, width: int | None = None, dynamic: bool = False) -> Any:
        """The model contract (:class:`edgezoo.manifests.schema.ModelSpec`), symbolic or at a size."""
        return self.protocol.spec(self, height, width, dynamic)

    def build(self, **overrides: Any) -> "nn.Module":
        config = dataclasses.replace(self.config, **overrides) if overrides else self.config
        return self.builder_fn()(config)

    def builder_fn(self) -> Callable[[Any], "nn.Module"]:
        """The family's builder, importing its (torch) module now."""
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    family: str,
    task: str,
    builder: str,
    config: Any,
    paper: Paper,
    input_spec: InputSpec,
    export_size: tuple[int, int] = (256, 256),
    description: str = "",
    licence: str = "Apache-2.0",
    tags: tuple[str, ...] = (),
) -> ModelEntry:
    """Register variant ``name``: ``builder`` ("module:callable") makes it from ``config``."""
    if name in _REGISTRY:
        raise ValueError(f"model '{name}' is registered twice")
    entry = ModelEntry(
        name=name, family=family, task=task, builder=builder, config=config, paper=paper,
        input_spec=input_spec, export_size=export_size, description=description, licence=licence, tags=tuple(tags),
    )
    _REGISTRY[name] = entry
    return entry


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


def create_model(name: str, pretrained: bool = True, **overrides: Any) -> "nn.Module":
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
