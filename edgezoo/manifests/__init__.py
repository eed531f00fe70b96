"""Manifests shipped with edgezoo, one per model, and their schema."""

from __future__ import annotations

from pathlib import Path

from edgezoo.errors import UnknownModelError
from edgezoo.manifests.schema import (
    FORMATS,
    PRECISIONS,
    Artifact,
    Manifest,
    Parity,
    QualityResult,
    load_manifest,
)

PACKAGED_DIR = Path(__file__).resolve().parent

__all__ = [
    "FORMATS", "PRECISIONS", "Artifact", "Manifest", "Parity", "QualityResult",
    "load_manifest", "packaged_manifest", "packaged_names", "PACKAGED_DIR",
]


def packaged_names() -> list[str]:
    """Names of the models that ship a manifest."""
    return sorted(p.stem for p in PACKAGED_DIR.glob("*.yaml"))


def packaged_manifest(name: str) -> Manifest:
    """The shipped manifest of model ``name``."""
    path = PACKAGED_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UnknownModelError(
            f"no shipped manifest for '{name}'; known: {', '.join(packaged_names()) or 'none'}"
        )
    return load_manifest(path)
