"""Each format's own validator, run on every artifact at export and in ``verify``.

Parity shows that our runtime computes the right numbers; these show that the file is
what its ecosystem's other consumers (converters, other runtimes, app toolchains)
accept:

- ONNX: ``onnx.checker.check_model(full_check=True)`` and strict, type-checked shape
  inference.
- TFLite: LiteRT's model analyzer with GPU-delegate compatibility checking; the record
  says which delegates the artifact suits (``xnnpack``, and ``gpu`` unless the analyzer
  or a custom op rules it out).
- OpenVINO: the IR read back and compiled for every device ``ov.Core()`` names here.
- Core ML: the package layout (``Manifest.json`` and the files it lists, nothing else),
  the spec read back, and its ML Program rebuilt from the spec and the weight file by
  coremltools' own loader (which checks every op's inputs and types). Prediction and
  Apple's compiler need macOS, so neither runs here; the record says so.

Each returns a :class:`~edgezoo.manifests.schema.ValidatorResult`; a rejection is
``passed=False`` with the validator's own first line as the message, never an exception.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from edgezoo.manifests.schema import ValidatorResult

TFLITE_CPU_DELEGATE = "xnnpack"
TFLITE_GPU_DELEGATE = "gpu"
# Custom ops the LiteRT GPU delegate has kernels for; any other custom op keeps a model
# off the GPU. Checked here because the analyzer of ai-edge-litert 2.3.0 reports a model
# with an unknown custom op as "compatible with GPU delegate".
GPU_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})
COREML_PACKAGE_ENTRIES = frozenset({"Manifest.json", "Data"})


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())  # checker messages span lines; the record keeps one
    return (text or exc.__class__.__name__)[:limit]


def validate_onnx(path: str | Path) -> ValidatorResult:
    """``onnx.checker.check_model(full_check=True)``, then shape inference with
    ``check_type=True, strict_mode=True``, on the ONNX file ``path``."""
    import onnx
    from onnx import shape_inference

    name = "onnx.checker(full_check) + strict shape inference"
    details: dict[str, Any] = {"onnx": onnx.__version__}
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a damaged protobuf: onnx raises DecodeError and others
        return ValidatorResult(validator=name, passed=False, message=f"onnx.load failed: {_first_line(exc)}",
                               details=details)
    details["opset"] = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    details["nodes"] = len(model.graph.node)
    for step, run in (("check_model(full_check=True)", lambda: onnx.checker.check_model(model, full_check=True)),
                      ("infer_shapes(check_type=True, strict_mode=True)",
                       lambda: shape_inference.infer_shapes(model, check_type=True, strict_mode=True))):
        try:
            run()
        except Exception as exc:  # ValidationError, InferenceError, and C++ errors surfaced as others
            return ValidatorResult(validator=name, passed=False, message=f"{step} rejects it: {_first_line(exc)}",
                                   details=details)
    return ValidatorResult(validator=name, passed=True, details=details,
                           message="check_model(full_check=True) and strict shape inference accept it")


def analyze_tflite(path: str | Path) -> str:
    """LiteRT's model analyzer report on ``path`` with GPU compatibility checking."""
    from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer  # what tf.lite.experimental.Analyzer wraps

    return analyzer.ModelAnalyzer(str(path), True, True)


def tflite_custom_ops(path: str | Path) -> list[str]:
    """The custom op names of a .tflite file, read from its operator codes."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            names.append(custom.decode() if isinstance(custom, bytes) else str(custom))
    return sorted(set(names))


def validate_tflite(path: str | Path) -> ValidatorResult:
    """LiteRT's model analyzer (GPU compatibility on) on the .tflite ``path``.

    Passes when the analyzer reads the model; ``details["delegates"]`` lists the
    delegates it suits: ``xnnpack`` (LiteRT's CPU path, which the parity gate runs)
    and ``gpu`` unless the analyzer warns about GPU compatibility or the model holds a
    custom op the GPU delegate has no kernel for (``details["gpu_issues"]`` says why)."""
    from importlib.metadata import version

    name = "LiteRT model analyzer (gpu_compatibility)"
    details: dict[str, Any] = {"ai-edge-litert": version("ai-edge-litert")}
    try:
        report = analyze_tflite(path)
        custom = tflite_custom_ops(path)
    except Exception as exc:  # the analyzer raises RuntimeError/ValueError for unreadable files
        return ValidatorResult(validator=name, passed=False, message=f"the analyzer cannot read it: {_first_line(exc)}",
                               details=details)
    issues = [" ".join(line.split(":", 1)[1].split()) for line in report.splitlines()
              if "GPU COMPATIBILITY WARNING" in line.upper()]
    issues += [f"custom op {op}: the GPU delegate has no kernel for it" for op in custom if op not in GPU_CUSTOM_OPS]
    delegates = [TFLITE_CPU_DELEGATE] + ([] if issues else [TFLITE_GPU_DELEGATE])
    details.update(delegates=delegates, gpu_issues=issues[:20], custom_ops=custom)
    if issues:
        message = f"readable; not GPU-delegate compatible: {issues[0]}"
    else:
        said = re.search(r"Your model looks compatible with GPU delegate[^\n]*", report)
        message = "readable; " + (said.group(0).rstrip(".") if said else "no GPU compatibility warning")
    return ValidatorResult(validator=name, passed=True, message=message, details=details)


def validate_openvino(path: str | Path, devices: list[str] | None = None) -> ValidatorResult:
    """The IR ``path`` (``.xml`` with its ``.bin``) read back with ``ov.Core().read_model``
    and compiled for every device in ``devices`` (default: ``ov.Core().available_devices``)."""
    import openvino as ov

    path = Path(path)
    name = "OpenVINO read_model + compile_model"
    core = ov.Core()
    devices = list(core.available_devices) if devices is None else list(devices)
    details: dict[str, Any] = {"openvino": ov.get_version().split("-")[0], "devices": devices}
    try:
        model = core.read_model(str(path), str(path.with_suffix(".bin")))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
        return ValidatorResult(validator=name, passed=False, message=f"read_model failed: {_first_line(exc)}",
                               details=details)
    compiled = []
    for device in devices:
        try:
            core.compile_model(model, device)
        except Exception as exc:
            details["compiled"] = compiled
            return ValidatorResult(validator=name, passed=False, details=details,
                                   message=f"compile_model for {device} failed: {_first_line(exc)}")
        compiled.append(device)
    details["compiled"] = compiled
    if not devices:
        return ValidatorResult(validator=name, passed=False, details=details,
                               message="read back, but OpenVINO names no device here to compile it for")
    return ValidatorResult(validator=name, passed=True, details=details,
                           message=f"read back and compiled for {', '.join(compiled)}")


def coreml_package_problems(path: str | Path) -> list[str]:
    """What is wrong with a ``.mlpackage``'s layout: a missing or unreadable
    ``Manifest.json``, an item it lists that is absent, or anything beside
    ``Manifest.json`` and ``Data/`` (debug files an app does not need)."""
    path = Path(path)
    if not path.is_dir():
        return [f"{path.name} is not a package folder"]
    problems = [f"extra file {p.name}" for p in sorted(path.iterdir()) if p.name not in COREML_PACKAGE_ENTRIES]
    try:
        manifest = json.loads((path / "Manifest.json").read_text(encoding="utf-8"))
        items = manifest["itemInfoEntries"]
        if manifest["rootModelIdentifier"] not in items:
            problems.append("Manifest.json's rootModelIdentifier names no item")
        for item in items.values():
            if not (path / "Data" / item["path"]).exists():
                problems.append(f"Manifest.json lists Data/{item['path']}, which is missing")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"Manifest.json is missing or malformed ({exc.__class__.__name__})")
    return problems


def validate_coreml(path: str | Path) -> ValidatorResult:
    """Core ML spec validation without macOS, on the ``.mlpackage`` ``path``: the
    package layout (:func:`coreml_package_problems`), the spec loaded with coremltools
    (``MLModel(skip_model_load=True)``) and its ML Program rebuilt from the spec and the
    weight file by coremltools' MIL proto loader. Not done: compiling it with Apple's
    compiler and running a prediction, which need macOS."""
    from edgezoo.export.capture import captured_output

    name = "coremltools spec + ML Program load"
    details: dict[str, Any] = {"not_done": "Apple's compiler and prediction (macOS only)"}
    problems = coreml_package_problems(path)
    if problems:
        return ValidatorResult(validator=name, passed=False, message="package layout: " + "; ".join(problems),
                               details=details)
    try:
        with captured_output():  # coremltools reports at import what it cannot do on this host
            import coremltools as ct
            from coremltools.converters.mil.frontend.milproto import load as milproto

            mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
            spec = mlmodel.get_spec()
            details.update(coremltools=ct.__version__, specification_version=int(spec.specificationVersion),
                           model_type=spec.WhichOneof("Type") or "none")
            if spec.WhichOneof("Type") != "mlProgram":
                raise ValueError(f"the spec holds a {spec.WhichOneof('Type')}, not an mlProgram")
            program = milproto.load(spec, int(spec.specificationVersion), mlmodel.weights_dir or "")
            details["ops"] = sum(len(f.operations) for f in program.functions.values())
    except Exception as exc:  # coremltools raises untyped errors for a damaged spec
        return ValidatorResult(validator=name, passed=False, message=f"spec check failed: {_first_line(exc)}",
                               details=details)
    return ValidatorResult(validator=name, passed=True, details=details,
                           message=(f"package layout, spec (v{details['specification_version']}) and ML Program "
                                    "(rebuilt from spec and weights) check out; not compiled or run (needs macOS)"))


VALIDATORS: dict[str, Callable[[Path], ValidatorResult]] = {
    "onnx": validate_onnx, "tflite": validate_tflite, "openvino": validate_openvino, "coreml": validate_coreml,
}


def validate(path: str | Path, fmt: str) -> list[ValidatorResult]:
    """Every validator of format ``fmt`` on ``path`` (one per format today)."""
    return [VALIDATORS[fmt](Path(path))]


def delegates(results: list[ValidatorResult]) -> list[str] | None:
    """The delegates a .tflite artifact suits, from its validator results (None: not a
    .tflite, or the analyzer did not run)."""
    for result in results:
        found = result.details.get("delegates")
        if isinstance(found, list):
            return [str(d) for d in found]
    return None


def gate(path: str | Path, fmt: str, file: str | None = None) -> list[ValidatorResult]:
    """Run the validators of ``fmt`` on ``path`` for the export: their results if all
    pass, else :class:`~edgezoo.errors.ValidatorError` naming the artifact, the validator
    and what it said."""
    from edgezoo.errors import ValidatorError

    results = validate(path, fmt)
    problem = rejection(file or Path(path).name, results)
    if problem:
        raise ValidatorError(f"{problem} - the artifact is not kept; report this with the converter versions")
    return results


def rejection(file: str, results: list[ValidatorResult]) -> str | None:
    """One line naming the artifact and each validator that rejected it, or None."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    return f"{file}: " + "; ".join(f"{r.validator}: {r.message}" for r in failed)
