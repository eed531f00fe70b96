"""Model zoo: reference PyTorch definitions behind a timm-style registry. Importing this
package needs no torch; building a model (``create_model``) does."""

from edgezoo.zoo import variants as _variants  # noqa: F401  (registers every family's variants)
from edgezoo.zoo.registry import ModelEntry, create_model, get_entry, list_models, register_model

__all__ = ["ModelEntry", "create_model", "get_entry", "list_models", "register_model"]
