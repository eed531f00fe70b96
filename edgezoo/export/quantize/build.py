"""Build one fp16 or int8 artifact from the fp32 artifact of its format, and gate it.

fp16 must reach the parity threshold (40 dB). int8 must reach 30 dB of parity *and*
keep the task quality within the task's tolerance of the fp32 artifact's on the task's
selection data (restoration: 0.3 dB of PSNR on the selection photos; classification:
0.3 points of top-1 on the selection split). Calibration samples, the quality
measurement and its tolerance and unit come from the task protocol
(:mod:`edgezoo.tasks`), named by the artifact's contract. When int8 misses, the format's remedies
(``INT8_LADDER``) are tried in order, and the one that passed is recorded in
``Artifact.quantization`` with every attempt before it. The chosen artifact's quality
is then measured on the evaluation photos, which took no part in the choice. A miss that no
remedy fixes raises :class:`ParityError` naming the artifact, the figure and the
threshold, unless ``allow_degraded``: then the best attempt is kept and the miss is
recorded (``degraded: true``, the gate ``passed: false``). One component of a model of
several is gated here on parity alone (``quality_skip`` says why): its task quality is
its whole program's, judged once every component is built
(:func:`edgezoo.export.reduced.program_gate`).
"""

from __future__ import annotations

import importlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from edgezoo.errors import BadInputError, ExportError, ParityError, UnknownFormatError
from edgezoo.export.capture import captured_output
from edgezoo.export.quantize import calibration as calib
from edgezoo.export.quantize import quality as qual
from edgezoo.export.quantize.recipe import Int8Recipe, QuantValue, ladder_for
from edgezoo.export.timing import stage
from edgezoo.files import remove_path
from edgezoo.manifests.schema import QualityResult
from edgezoo.tasks.base import QualityTolerance

MODULES: dict[str, str] = {
    "onnx": "edgezoo.export.quantize.onnx",
    "openvino": "edgezoo.export.quantize.openvino",
    "tflite": "edgezoo.export.quantize.tflite",
    "coreml": "edgezoo.export.quantize.coreml",
}
REDUCED: tuple[str, ...] = ("fp16", "int8")


def module_for(fmt: str) -> ModuleType:
    """The quantize module of ``fmt`` (``to_fp16``, ``to_int8``, ``INT8_LADDER``)."""
    if fmt not in MODULES:
        raise UnknownFormatError(f"no reduced precision for format '{fmt}': one of {', '.join(MODULES)}")
    return importlib.import_module(MODULES[fmt])


@dataclass
class ReducedArtifact:
    """What :func:`build_reduced` wrote and measured."""

    path: Path
    format: str
    precision: str
    tool_versions: dict[str, str]
    quantization: dict[str, QuantValue]
    parity: Any  # edgezoo.export.parity.ParityReport
    quality: QualityResult | None = None
    degraded: bool = False
    attempts: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.degraded


@dataclass
class _Attempt:
    recipe: Int8Recipe
    path: Path
    record: dict[str, QuantValue]
    tools: dict[str, str]
    parity: Any
    seconds: float = 0.0
    gate: qual.QualityGate | None = None
    quality: QualityResult | None = None
    quality_note: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.parity.passed) and (self.gate is None or self.gate.passed)

    def rank(self) -> tuple:
        return (self.passed, bool(self.parity.passed), self.gate.passed if self.gate else False,
                self.parity.psnr_db if self.parity.psnr_db is not None else -1e9,
                self.gate.gain if self.gate else -1e9)

    def summary(self) -> str:
        parts = [f"parity {self.parity.psnr_db:.1f} dB" if self.parity.psnr_db is not None
                 else f"parity {'ok (not executed)' if self.parity.passed else 'failed'}"]
        if self.gate is not None:
            parts.append(f"quality {self.gate.figure(self.gate.delta, signed=True)}")
        if not self.parity.executed:
            verdict = "converted, spec checked (not executed)" if self.passed else "missed"
        else:
            verdict = "passed" if self.passed else "missed"
        return f"{self.recipe.label}: {', '.join(parts)} ({self.seconds:.0f} s): {verdict}"


def _io_shape(metadata: dict[str, Any], precision: str) -> tuple[int | None, int | None, int]:
    """(height, width, multiple_of) of the artifact's picture input (its first input of
    four dimensions; else its first input, whose last two sides are then given: a text
    encoder's 1 x tokens); the sides are None for a dynamic-shape fp16 artifact. int8
    needs a static shape: calibration ranges and the quality gate's tiles are taken at
    one size."""
    inputs = metadata["io"]["inputs"]
    spec = next((t for t in inputs if len(t["shape"]) == 4), inputs[0])
    height, width = (spec["shape"][-2], spec["shape"][-1]) if len(spec["shape"]) >= 2 else (1, spec["shape"][0])
    multiple_of = int(spec.get("multiple_of") or 1)
    if isinstance(height, int) and isinstance(width, int):
        return height, width, multiple_of
    if precision == "int8":
        raise UnknownFormatError("int8 needs a static-shape artifact (calibration and tiling use its size)")
    return None, None, multiple_of


def build_reduced(
    fmt: str,
    precision: str,
    fp32_path: str | Path,
    out_path: str | Path,
    metadata: dict[str, Any],
    model: Any,
    *,
    task: str = "denoise",
    parity_inputs: Sequence[Any] | None = None,
    references: Sequence[np.ndarray] | None = None,
    expected_io: dict[str, Any] | None = None,
    calibration: Sequence[Any] | None = None,
    calibration_label: str | None = None,
    calibration_count: int = calib.DEFAULT_COUNT,
    quality_images: Any = None,
    selection_images: Any = None,
    recipes: Sequence[Int8Recipe] | None = None,
    allow_degraded: bool = False,
    quality_skip: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReducedArtifact:
    """Write the ``precision`` artifact of format ``fmt`` to ``out_path`` (atomically) from
    the fp32 artifact ``fp32_path``, and gate it against ``model`` (the PyTorch reference).

    Parameters
    ----------
    metadata : dict
        The contract to embed (``edgezoo.export.contract.artifact_metadata`` with this
        precision); its input shape gives the calibration and tile size.
    parity_inputs, references : optional
        ``edgezoo.export.parity.ParityInput`` items (default: ``inputs_for_artifact``
        at the artifact's size, seed 0; required for a dynamic-shape fp16 artifact)
        and the model's outputs on them.
    calibration : list of dicts (or arrays), optional
        Samples by the component's input names (an array: the one input of a one-input
        component); default: the task protocol's ``calibration_samples`` with
        ``calibration_count`` as the base count (remedies may use twice as many).
    calibration_label : str, optional
        What the caller's ``calibration`` is, for the manifest.
    quality_images : optional
        The data the chosen int8 artifact's quality is measured and recorded on, after
        the choice, in the protocol's form (restoration: photos by name; default: the
        task's evaluation data, such as all evaluation photos or a test split).
    selection_images : optional
        The data the int8 quality gate chooses the recipe on (default: the task's
        selection data; where only ``quality_images`` is given, those, which then both
        choose and measure, as recorded in ``quality_basis``).
    recipes : optional
        int8 attempts in order (default: the format's ``INT8_LADDER``).
    allow_degraded : bool
        Keep the best attempt when every gate-passing remedy failed, recording the miss.
    quality_skip : str, optional
        Skip the int8 task-quality gate, recording this reason (for weights whose task
        score means nothing, such as a random initialisation); parity still gates.

    Returns
    -------
    ReducedArtifact

    Raises
    ------
    ParityError
        A gate missed (and ``allow_degraded`` is False); nothing is left at ``out_path``.
    """
    from edgezoo.export.parity import inputs_for_artifact, measure_parity, reference_outputs

    if precision not in REDUCED:
        raise UnknownFormatError(f"build_reduced makes {' or '.join(REDUCED)}, not {precision!r}")
    module = module_for(fmt)
    out_path, fp32_path = Path(out_path), Path(fp32_path)
    height, width, multiple_of = _io_shape(metadata, precision)
    say = progress or (lambda message: None)
    if parity_inputs is None and height is None:
        raise UnknownFormatError("a dynamic-shape artifact needs its parity_inputs (at two sizes at least)")
    io = metadata["io"]  # the artifact's own contract: every input it takes, every output it returns
    inputs = (list(parity_inputs) if parity_inputs is not None
              else inputs_for_artifact(height, width, multiple_of, True, 0, tensors=io["inputs"]))
    refs = (list(references) if references is not None
            else reference_outputs(model, inputs, [t["name"] for t in io["outputs"]]))

    def parity(path: Path) -> Any:
        return measure_parity(path, fmt, precision, model, inputs, name=out_path.name, expected_io=expected_io,
                              references=refs)

    if precision == "fp16":
        say(f"{out_path.name}: fp16")
        try:
            with captured_output(), stage(f"fp16 {fmt}"):  # the converters' own logs and progress bars
                reduced = module.to_fp16(fp32_path, out_path, metadata)
        except Exception as exc:  # converters raise anything
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
            raise ExportError(f"{fmt} fp16 conversion to {out_path.name} failed: {exc.__class__.__name__}: {first}") from None
        report = _safe_parity(parity, out_path)
        degraded = not report.passed
        if degraded and not allow_degraded:
            remove_path(out_path)
            for companion in _companions(out_path):
                remove_path(companion)
            raise report.failure()
        record = dict(reduced.quantization)
        record["degraded"] = degraded
        if degraded:
            report.note = f"{report.note or ''}; kept with allow_degraded".lstrip("; ")
        return ReducedArtifact(out_path, fmt, precision, reduced.tool_versions, record, report, degraded=degraded)

    # int8: what is task-specific (samples, measurement, tolerance) is the protocol's
    contract = {**metadata, "task": metadata.get("task") or task}
    ladder = list(recipes) if recipes is not None else ladder_for(module.INT8_LADDER, calibration_count)
    need = max([r.images for r in ladder] + [1])
    if calibration is None:
        try:
            with stage("calibration samples"):
                arrays = calib.calibration_samples(contract, need) if any(r.images for r in ladder) else []
        except BadInputError as exc:  # the task's data are not installed: say so, with the fix
            raise BadInputError(f"{out_path.name}: int8 calibration needs the task's data: {exc}") from None
        calibration_label = calib.describe_samples(contract, len(arrays)) if arrays else "none"
    else:
        arrays = calib.check_samples(calibration, metadata["io"]["inputs"])
        calibration_label = calibration_label or f"{len(arrays)} caller-supplied samples"
    tolerance = qual.tolerance_for(contract["task"]) if quality_skip is None else None
    gated = tolerance is not None
    # the caller's own quality data do both jobs, as they did before the selection split existed
    same = quality_images is not None and (selection_images is None or selection_images is quality_images)
    selection = evaluation_set = None
    if gated:
        selection = qual.quality_set(contract, "selection", quality_images if same else selection_images)
        evaluation_set = selection if same else None
    fp32_quality: QualityResult | None = None
    attempts: list[_Attempt] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".edgezoo-int8-", dir=out_path.parent) as scratch:
        work = Path(scratch)
        for index, recipe in enumerate(ladder):
            say(f"{out_path.name}: int8 attempt {index + 1}/{len(ladder)}: {recipe.label}")
            candidate = work / f"attempt{index}" / out_path.name
            candidate.parent.mkdir()
            started = time.perf_counter()
            try:
                with captured_output(), stage(f"int8 quantize {fmt}"):
                    reduced = module.to_int8(fp32_path, candidate, metadata, arrays, recipe, work=work)
            except Exception as exc:  # quantizers raise anything; the next remedy may still work
                first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
                failures.append(f"{recipe.label}: failed: {exc.__class__.__name__}: {first}")
                continue
            try:
                attempt = _Attempt(recipe, candidate, dict(reduced.quantization), reduced.tool_versions,
                                   _safe_parity(parity, candidate))
                if attempt.parity.executed and attempt.parity.passed and gated:
                    if fp32_quality is None:
                        fp32_quality = qual.reference_quality(fp32_path, fmt, (height, width), multiple_of,
                                                              selection, contract=contract)
                    attempt.quality = qual.task_quality(candidate, fmt, precision, (height, width), multiple_of,
                                                        selection, contract=contract)
                    attempt.gate = qual.gate(out_path.name, attempt.quality, fp32_quality, tolerance)
            except Exception as exc:  # the runtime refused or crashed on this attempt: try the next remedy
                first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
                failures.append(f"{recipe.label}: could not run: {first}")
                continue
            if not attempt.parity.executed:
                attempt.quality_note = "not run: the artifact cannot be executed on this host (Core ML needs macOS)"
            elif quality_skip is not None:
                attempt.quality_note = f"not run: {quality_skip}"
            elif not gated:
                attempt.quality_note = f"not run: no task-quality protocol for task '{task}'"
            attempt.seconds = time.perf_counter() - started
            attempts.append(attempt)
            say(f"{out_path.name}: {attempt.summary()}")
            if attempt.passed:
                break
        if not attempts:
            raise ParityError(f"{out_path.name}: no int8 attempt produced an artifact that runs: " + "; ".join(failures))
        best = max(attempts, key=_Attempt.rank)
        tried = [a.summary() for a in attempts] + failures
        if not best.passed and not allow_degraded:
            raise ParityError(_miss_message(out_path.name, best, tried, tolerance))
        evaluation: qual.QualityGate | None = None
        if best.gate is not None and same:
            evaluation = best.gate
        elif best.gate is not None:  # measured once the choice is made, on data that took no part in it
            evaluation_set = qual.quality_set(contract, "evaluation", quality_images)
            say(f"{out_path.name}: measuring the chosen recipe on {evaluation_set.dataset}")
            fp32_eval = qual.reference_quality(fp32_path, fmt, (height, width), multiple_of, evaluation_set,
                                               contract=contract)
            best.quality = qual.task_quality(best.path, fmt, precision, (height, width), multiple_of, evaluation_set,
                                             contract=contract)
            evaluation = qual.gate(out_path.name, best.quality, fp32_eval, tolerance)
        from edgezoo.export.folder import promote

        promote(best.path, out_path)
    record = dict(best.record)
    record["calibration_set"] = calibration_label if best.recipe.calibration != "none" else "none (not calibrated)"
    record["attempts"] = tried
    record["remedy"] = best.recipe.remedy if len(attempts) > 1 or best.recipe.remedy != "none" else "none needed"
    if best.gate is not None and evaluation is not None:
        assert tolerance is not None and selection is not None and evaluation_set is not None
        unit = tolerance.key_suffix
        record.update(gate_record(best.gate, tolerance, evaluation))
        record.update({
            f"selection_quality_{unit}": best.gate.value,
            f"selection_fp32_quality_{unit}": best.gate.fp32, f"selection_delta_{unit}": best.gate.delta,
            f"selection_standard_error_{unit}": best.gate.margin,
            "quality_gate_images": selection.count, "quality_measured_images": evaluation_set.count,
            "quality_basis": (
                "recipe chosen and measured on the caller's quality_images" if same
                else f"recipe chosen on {selection.dataset}; quality_* measured afterwards on {evaluation_set.dataset}"),
        })
    else:
        record["quality_gate"] = best.quality_note or "not run: parity missed first"
    record["degraded"] = not best.passed
    if not best.passed:
        best.parity.note = f"{best.parity.note or ''}; kept with allow_degraded".lstrip("; ")
    quality = best.quality
    if quality is not None and best.gate is not None and evaluation is best.gate:
        g = best.gate
        quality = quality.model_copy(update={"note": (
            f"int8 task-quality gate, on these data: {g.figure(g.delta, True)} against the fp32 artifact's "
            f"{g.figure(g.fp32)} (allowed: -{g.allowed})")})
    elif quality is not None and best.gate is not None and evaluation is not None:
        g = best.gate
        quality = quality.model_copy(update={"note": (
            f"int8 task-quality gate on {selection.dataset if selection else 'the selection data'}: "
            f"{g.figure(g.delta, True)} against the fp32 "
            f"artifact's {g.figure(g.fp32)} (allowed: -{g.allowed}); on these evaluation data, measured after "
            f"the choice: {evaluation.figure(evaluation.delta, True)} against the fp32 artifact's "
            f"{evaluation.figure(evaluation.fp32)}")})
    return ReducedArtifact(out_path, fmt, precision, best.tools, record, best.parity, quality,
                           degraded=not best.passed, attempts=tried)


def gate_record(gate: qual.QualityGate, tolerance: QualityTolerance,
                evaluation: qual.QualityGate | None = None) -> dict[str, QuantValue]:
    """A task-quality gate's figures as ``Artifact.quantization`` records them: the
    metric, the artifact's figure beside fp32's, their difference, the tolerance, and
    whether the gate passed (``evaluation``: the figures measured after the choice on
    other data, recorded in place of the deciding ones)."""
    unit, shown = tolerance.key_suffix, evaluation or gate
    record: dict[str, QuantValue] = {"quality_metric": f"{tolerance.metric} ({tolerance.unit})" if tolerance.higher_is_better
                                     else f"{tolerance.metric} (lower is better)"}
    if tolerance.relative:
        record["quality_tolerance_relative"] = tolerance.relative
    record.update({f"quality_{unit}": shown.value, f"fp32_quality_{unit}": shown.fp32,
                   f"quality_delta_{unit}": shown.delta, f"quality_tolerance_{unit}": gate.tolerance,
                   "quality_passed": gate.passed})
    return record


def _safe_parity(parity: Callable[[Path], Any], path: Path) -> Any:
    """The parity report; a runtime that crashes on the artifact fails the gate."""
    from edgezoo.errors import EdgezooError

    try:
        return parity(path)
    except EdgezooError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ParityError(f"{path.name}: running it in its runtime failed: {first}") from None


def _companions(path: Path) -> list[Path]:
    from edgezoo.files import companion_files

    return companion_files(path)


def _miss_message(name: str, best: _Attempt, tried: list[str], tolerance: Any) -> str:
    if not best.parity.passed:
        head = str(best.parity.failure())
    else:
        assert best.gate is not None
        head = best.gate.message()
    if tolerance is None:
        gates = f"the parity gate (parity >= {best.parity.threshold_db:g} dB)"
    else:
        allowed = (best.gate.allowed if best.gate is not None else
                   f"{tolerance.tolerance:g} points" if tolerance.unit == "%" else f"{tolerance.tolerance:g} {tolerance.unit}")
        gates = (f"both gates (parity >= {best.parity.threshold_db:g} dB and task quality ({tolerance.metric}) "
                 f"within {allowed} of fp32)")
    return (f"{head}. No int8 remedy passed {gates}; tried: " + "; ".join(tried)
            + ". Export fp16 instead, or pass --allow-degraded to keep the best attempt")
