"""Model zoo: reference PyTorch definitions behind a timm-style registry."""

from edgezoo.zoo import maxim as _maxim  # noqa: F401  (registers the MAXIM family)
from edgezoo.zoo.registry import ModelEntry, create_model, get_entry, list_models, register_model

__all__ = ["ModelEntry", "create_model", "get_entry", "list_models", "register_model"]
