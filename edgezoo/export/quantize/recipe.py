"""What an int8 attempt is (:class:`Int8Recipe`) and what a reduced-precision conversion
returns (:class:`Reduced`). Each format module lists its recipes as ``INT8_LADDER``:
the first is the plain one, the others are remedies tried in order when a gate misses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Union

QuantValue = Union[str, int, float, bool, list[str]]  # what Artifact.quantization holds


@dataclass(frozen=True)
class Int8Recipe:
    """One way to make an int8 artifact.

    ``method`` is format-specific (``static-qdq``/``dynamic`` for ONNX, ``nncf-ptq`` for
    OpenVINO, ``static``/``dynamic-range`` for TFLite, ``weights`` for Core ML);
    ``calibration`` names the activation range estimator (``minmax``, ``percentile``,
    ``entropy``, ``quantile``; ``none`` where no calibration is needed); ``images`` is
    the number of calibration inputs; ``float_layers`` names the groups of
    :mod:`edgezoo.export.quantize.sensitive` kept in float; ``options`` holds extra
    format-specific settings; ``remedy`` says in words what this attempt changes."""

    method: str
    calibration: str = "minmax"
    images: int = 32
    float_layers: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    remedy: str = "none"

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def scaled(self, images: int) -> "Int8Recipe":
        """The same recipe with a base calibration count of ``images`` (remedies that
        ask for more images keep their ratio to the base)."""
        return dataclasses.replace(self, images=images)

    @property
    def label(self) -> str:
        parts = [self.method]
        if self.calibration != "none":
            parts.append(f"{self.calibration}/{self.images} images")
        if self.float_layers:
            parts.append("float " + "+".join(self.float_layers))
        parts += [f"{k}={v}" for k, v in self.options]
        return ", ".join(parts)


@dataclass
class Reduced:
    """A reduced-precision artifact that was written: the tools that made it and what
    was done (becomes ``Artifact.quantization``)."""

    tool_versions: dict[str, str]
    quantization: dict[str, QuantValue] = field(default_factory=dict)


def ladder_for(ladder: tuple[Int8Recipe, ...], images: int, base: int = 32) -> list[Int8Recipe]:
    """``ladder`` with calibration counts scaled from ``base`` to ``images`` (at least 1):
    tests calibrate on a few images, exports on the default 32 and remedies on 64."""
    return [r.scaled(max(1, round(r.images * images / base))) if r.calibration != "none" else r for r in ladder]
