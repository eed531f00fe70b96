"""Export: one pipeline turns any zoo model into ONNX, TFLite, Core ML and OpenVINO
artifacts, each checked against the PyTorch reference before it is kept.

``export_model`` builds an export folder (artifacts, ``weights.safetensors``,
``manifest.yaml``); ``verify_dir`` checks such a folder again later. Importing this
package is cheap: torch and each converter load only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["export_model", "verify_dir", "ExportEvent", "VerifyReport", "ArtifactCheck", "ParityReport"]

_LAZY = {
    "export_model": "edgezoo.export.pipeline",
    "ExportEvent": "edgezoo.export.pipeline",
    "verify_dir": "edgezoo.export.verify",
    "VerifyReport": "edgezoo.export.verify",
    "ArtifactCheck": "edgezoo.export.verify",
    "ParityReport": "edgezoo.export.parity",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgezoo.export' has no attribute {name!r}")
