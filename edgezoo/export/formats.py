"""The export formats: which converter module serves each, what its files are called,
and parsing of the ``--format`` / ``--precision`` options. Imports nothing heavy."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterable

from edgezoo.errors import UnknownFormatError
from edgezoo.manifests.schema import FORMATS, PRECISIONS

CONVERTERS: dict[str, str] = {
    "onnx": "edgezoo.export.onnx_export",
    "tflite": "edgezoo.export.tflite_export",
    "coreml": "edgezoo.export.coreml_export",
    "openvino": "edgezoo.export.openvino_export",
}
SUFFIXES: dict[str, str] = {"onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage", "openvino": ".xml"}
# Every format is converted at fp32 (a converter's ``PRECISIONS``); fp16 and int8 are
# made from that fp32 artifact by ``edgezoo.export.quantize``, for every format.
REDUCED_PRECISIONS: tuple[str, ...] = ("fp16", "int8")
# A dynamic-shape variant (where the converter has one) is made at these precisions;
# int8 is calibrated and tiled at one size, so it stays static.
DYNAMIC_PRECISIONS: tuple[str, ...] = ("fp32", "fp16")
# auto: calibrated static int8, its remedies, then the uncalibrated fallback; static:
# calibrated only; dynamic: uncalibrated only (int8 weights, activations per call or float)
INT8_MODES: tuple[str, ...] = ("auto", "static", "dynamic")


def converter(fmt: str) -> ModuleType:
    """The converter module of ``fmt``: ``convert``, ``read_metadata``, ``PRECISIONS``
    (what ``convert`` makes directly: fp32), ``DYNAMIC``."""
    if fmt not in CONVERTERS:
        raise UnknownFormatError(f"unknown format '{fmt}': choose from {', '.join(FORMATS)} or all")
    return importlib.import_module(CONVERTERS[fmt])


def _split(spec: str | Iterable[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [item.strip().lower() for item in items if item and item.strip()]


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"onnx,tflite"``, ``"all"`` or a list -> known formats in canonical order, no repeats."""
    wanted = _split(spec)
    if not wanted:
        raise UnknownFormatError(f"no format given: choose from {', '.join(FORMATS)} or all")
    if "all" in wanted:
        return FORMATS
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise UnknownFormatError(f"unknown format '{unknown[0]}': choose from {', '.join(FORMATS)} or all")
    return tuple(f for f in FORMATS if f in wanted)


def parse_precisions(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"fp32,fp16"`` or a list -> known precisions in canonical order, no repeats."""
    wanted = _split(spec)
    unknown = [p for p in wanted if p not in PRECISIONS]
    if unknown or not wanted:
        bad = unknown[0] if unknown else ""
        raise UnknownFormatError(f"unknown precision '{bad}': choose from {', '.join(PRECISIONS)}")
    return tuple(p for p in PRECISIONS if p in wanted)


def artifact_filename(model: str, fmt: str, precision: str, height: int, width: int, dynamic: bool = False,
                      component: str | None = None) -> str:
    """``maxim-tiny-denoise-256x256-fp32.onnx``; a dynamic-shape artifact says ``dynamic``
    instead of its size; one component of a model of several names it
    (``dvsr-tiny-deblur-predictor-128x128-fp32.onnx``)."""
    shape = "dynamic" if dynamic else f"{height}x{width}"
    part = f"-{component}" if component else ""
    return f"{model}{part}-{shape}-{precision}{SUFFIXES[fmt]}"


def supported_precisions(fmt: str) -> tuple[str, ...]:
    """What ``fmt`` can be exported at: its converter's precisions, then fp16 and int8
    from the fp32 artifact."""
    direct = tuple(converter(fmt).PRECISIONS)
    return direct + tuple(p for p in REDUCED_PRECISIONS if p not in direct and "fp32" in direct)


def check_int8_mode(mode: str) -> str:
    """One of ``INT8_MODES`` (lower-cased), or :class:`UnknownFormatError` naming them."""
    value = (mode or "").strip().lower()
    if value not in INT8_MODES:
        raise UnknownFormatError(f"unknown int8 mode '{mode}': choose from {', '.join(INT8_MODES)}")
    return value


def check_precision(fmt: str, precision: str, supported: tuple[str, ...]) -> None:
    """Raise :class:`UnknownFormatError` when ``fmt`` cannot be exported at ``precision`` (yet)."""
    if precision not in PRECISIONS:
        raise UnknownFormatError(f"unknown precision '{precision}': choose from {', '.join(PRECISIONS)}")
    if precision not in supported:
        raise UnknownFormatError(
            f"{fmt} export at {precision} is not supported yet (supported: {', '.join(supported)}); "
            f"use --precision {supported[0]}"
        )
