"""The export pipeline's steps for task quality and for fp16/int8 artifacts.

A reduced-precision artifact is made from the fp32 artifact of its format (never
converted from PyTorch again), so that it differs from its fp32 sibling only by what
quantization did; it is gated by :func:`edgezoo.export.quantize.build.build_reduced`
and described in the manifest with its parity, its task quality and its recipe.

Task quality (PSNR on the evaluation photos, run in the artifact's own runtime, tiled
at its size or, for a dynamic-shape artifact, on whole photos) is measured for every
executed artifact when the weights are trained: the int8 gate compares against the
fp32 artifact's figure, and the planner weighs quality against latency across
precisions with it.

A model of several components (a predictor and a denoiser step graph) is judged as a
whole (:func:`program_gate`): once every component artifact of a (format, precision,
shape kind) group is built, the whole program runs in their runtimes at its own step
count; fp32's figure is recorded, and fp16/int8 must stay within the task's tolerance of
the fp32 group of their format, or their files are removed (unless ``allow_degraded``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgezoo.errors import EdgezooError, ExportError, ParityError
from edgezoo.export.validators import delegates, gate
from edgezoo.files import companion_files, remove_path, sha256_file, size_bytes
from edgezoo.manifests.schema import Artifact, QualityResult

UNTRAINED_NOTE = ("the weights are a random initialisation, whose task score means nothing; "
                  "export trained weights to gate int8 on task quality")


@dataclass
class QualityPlan:
    """Whether and how the export measures task quality.

    ``skip`` is the reason it does not (then int8 is gated on parity alone and the
    reason is recorded); ``images`` are the photos (default: every evaluation photo)."""

    skip: str | None = None
    images: dict[str, np.ndarray] | None = None

    @property
    def enabled(self) -> bool:
        return self.skip is None


@dataclass
class ReducedJob:
    """What one fp16/int8 step needs beside the job itself."""

    source: Path
    model: Any  # the PyTorch reference
    metadata: dict[str, Any]
    expected_io: dict[str, Any]
    tile: tuple[int, int]
    multiple_of: int
    task: str
    parity_inputs: Sequence[Any] = field(default_factory=list)
    references: Sequence[np.ndarray] = field(default_factory=list)
    calibration: Sequence[np.ndarray] | None = None  # None: the bundled calibration photos
    calibration_label: str | None = None


def quality_plan(task: str, trained: bool, images: dict[str, np.ndarray] | None = None) -> QualityPlan:
    """Measure task quality where it means something: trained weights, and a task
    whose protocol measures quality, with its data installed (the reason is kept otherwise)."""
    from edgezoo.export.quantize.quality import quality_skip_reason

    if not trained:
        return QualityPlan(skip=UNTRAINED_NOTE, images=images)
    return QualityPlan(skip=quality_skip_reason(task), images=images)


def artifact_quality(
    path: Path, fmt: str, precision: str, tile: tuple[int, int] | None, multiple_of: int, plan: QualityPlan,
) -> QualityResult:
    """The task quality of an executed fp32 or fp16 artifact, tiled at ``tile`` or, for
    None (a dynamic-shape artifact), on whole photos (the fp32 figure is cached per file,
    so the int8 gate that follows reuses it)."""
    from edgezoo.export.quantize import quality as qual

    try:
        if precision == "fp32":
            result = qual.reference_quality(path, fmt, tile, multiple_of, plan.images)
        else:
            result = qual.task_quality(path, fmt, precision, tile, multiple_of, plan.images)
    except EdgezooError:
        raise
    except Exception as exc:  # a runtime crash on the photos: the artifact is not usable as it is
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ExportError(f"{path.name}: measuring its task quality failed: {exc.__class__.__name__}: {first}") from None
    how = "whole photos" if tile is None else f"tiled at {tile[0]}x{tile[1]}"
    return result.model_copy(update={"note": f"this {precision} artifact in its own runtime, {how}"})


def int8_recipes(ladder: Sequence[Any], mode: str) -> list[Any] | None:
    """The int8 attempts of ``mode``: ``auto`` the whole ladder (None: its default
    scaling); ``static`` the calibrated recipes; ``dynamic`` the uncalibrated end (int8
    weights, activations quantized per call, or float where a format has no per-call
    quantization). A format with only one kind (Core ML: weights) uses what it has."""
    if mode == "auto":
        return None
    calibrated = [r for r in ladder if r.calibration != "none"]
    uncalibrated = [r for r in ladder if r.calibration == "none"]
    if mode == "static":
        return calibrated or uncalibrated
    return uncalibrated[-1:] or calibrated[:1]


def build_reduced_artifact(
    fmt: str, precision: str, file: str, dynamic: bool, job: ReducedJob, stage: Path, out: Path,
    quality: QualityPlan, *, int8_mode: str = "auto", allow_degraded: bool = False,
    say: Callable[[str], None] | None = None,
) -> Artifact:
    """Build ``file`` (fp16 or int8) from ``job.source`` into ``stage``, gate it, move it
    into ``out`` and return its manifest entry.

    Raises
    ------
    ParityError
        A gate missed and ``allow_degraded`` is False; nothing is left in ``out``.
    ExportError
        The conversion failed.
    """
    from edgezoo.export.folder import promote
    from edgezoo.export.quantize.build import build_reduced, module_for

    recipes = int8_recipes(module_for(fmt).INT8_LADDER, int8_mode) if precision == "int8" else None
    staged = stage / file
    result = build_reduced(
        fmt, precision, job.source, staged, job.metadata, job.model,
        task=job.task, parity_inputs=list(job.parity_inputs) or None, references=list(job.references) or None,
        expected_io=job.expected_io, quality_images=quality.images, recipes=recipes,
        calibration=job.calibration if precision == "int8" else None, calibration_label=job.calibration_label,
        allow_degraded=allow_degraded, quality_skip=quality.skip, progress=say,
    )
    from edgezoo.export.timing import stage as timed

    try:  # in the staging folder, like the gates above: a rejected artifact never reaches ``out``
        with timed("validators"):
            checks = gate(staged, fmt, file)
    except EdgezooError:
        for path in [staged, *companion_files(staged)]:
            remove_path(path)
        raise
    measured = result.quality
    if measured is None and quality.enabled and result.parity.executed and precision == "fp16":
        try:  # measured in the staging folder: an artifact whose measurement fails never reaches ``out``
            measured = artifact_quality(staged, fmt, precision, None if dynamic else job.tile, job.multiple_of, quality)
        except EdgezooError:
            remove_path(staged)
            raise
    promote(staged, out / file)
    final = out / file
    record = dict(result.quantization)
    record["source"] = job.source.name if job.source.parent == out else f"{job.source.name} (built for this, not kept)"
    if precision == "int8":
        record["int8_mode"] = int8_mode
        if int8_mode == "dynamic":  # asked for, not a remedy
            record["remedy"] = "none: dynamic int8 was asked for"
    return Artifact(
        format=fmt, precision=precision, file=file, sha256=sha256_file(final), bytes=size_bytes(final),
        static_shape=not dynamic, input_shape=list(job.expected_io["inputs"][0]["shape"]),
        tool_versions=result.tool_versions, quantization=record, parity=result.parity.to_parity(), quality=measured,
        validators=checks, delegates=delegates(checks),
    )


def program_gate(
    group: Mapping[str, Artifact], out: Path, fmt: str, precision: str, task: str, plan: QualityPlan,
    fp32: Mapping[str, Path] | None = None, allow_degraded: bool = False,
) -> dict[str, Artifact]:
    """The task quality of a model of several components, through its whole program.

    Parameters
    ----------
    group
        One artifact per component (by component name), of one format, precision and
        shape kind, already in ``out``, each executed and past its own parity gate.
    fp32
        The fp32 group of the same format and shape kind (files by component name): what
        an fp16 or int8 group is gated against; unused for fp32.
    plan
        Its ``images`` are the photos (default: every evaluation photo).

    Returns
    -------
    dict
        The artifacts with the program's :class:`QualityResult` (noted as measured with
        their partners at the program's step count); an fp16/int8 group's
        ``quantization`` also carries the gate's figures (``quality_delta_db``, ...).

    Raises
    ------
    ParityError
        A reduced group lost more than the task's tolerance and ``allow_degraded`` is
        False; ExportError: the program could not be run on the photos. Either way the
        group's files were removed from ``out`` first, so no manifest lists them.
    """
    from edgezoo.export.quantize import quality as qual
    from edgezoo.export.quantize.build import gate_record

    paths = {component: out / artifact.file for component, artifact in group.items()}
    names = " + ".join(artifact.file for artifact in group.values())
    try:
        _, tile, _ = qual.program_entry(paths, fmt)
        measured = qual.program_quality(paths, fmt, precision, plan.images)
        base = None if precision == "fp32" else qual.program_quality(dict(fp32 or {}), fmt, "fp32", plan.images)
    except Exception as exc:  # a runtime crash on the photos: the group is not usable as it is
        _remove_files(paths.values())
        if isinstance(exc, EdgezooError):
            raise
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ExportError(f"{names}: measuring their whole program's task quality failed: "
                          f"{exc.__class__.__name__}: {first}") from None
    steps = measured.metrics.get("steps")
    how = "whole photos" if tile is None else f"tiled at {tile[0]}x{tile[1]}"
    sampled = "" if steps is None else f", at {int(steps)} steps (one sample, seed {qual.QUALITY_SEED})"

    def note(component: str) -> str:
        partners = ", ".join(f"its {c} {a.file}" for c, a in group.items() if c != component)
        return (f"this {precision} artifact measured through the whole program with {partners}{sampled}, "
                f"in their own runtime, {how}")

    if base is None:
        return {c: a.model_copy(update={"quality": measured.model_copy(update={"note": note(c)})})
                for c, a in group.items()}
    tolerance = qual.tolerance_for(task)
    assert tolerance is not None, f"task quality is measured for '{task}', so its protocol has a tolerance"
    gate = qual.gate(names, measured, base, tolerance, precision=precision)
    if not gate.passed and not allow_degraded:
        _remove_files(paths.values())
        instead = "export fp16 instead, or " if precision == "int8" else ""
        raise ParityError(f"{gate.message()}. Measured through their whole program{sampled}, {how}; these "
                          f"{precision} artifacts were not kept: {instead}pass --allow-degraded to keep them")
    figures = {**gate_record(gate, tolerance), "quality_gate_images": len(measured.per_image),
               "quality_measured_images": len(measured.per_image),
               "quality_basis": f"the whole program ({names}){sampled}, {how}, on {measured.dataset}"}
    verdict = (f"{precision} task-quality gate through the whole program: {gate.figure(gate.delta, True)} against "
               f"the fp32 program's {gate.figure(gate.fp32)} (allowed: -{gate.allowed})")
    gated = {}
    for component, artifact in group.items():
        record = {k: v for k, v in (artifact.quantization or {}).items() if k != "quality_gate"}
        record.update(figures)
        record["degraded"] = bool(record.get("degraded")) or not gate.passed
        quality = measured.model_copy(update={"note": f"{verdict}; {note(component)}"})
        gated[component] = artifact.model_copy(update={"quantization": record, "quality": quality})
    return gated


def _remove_files(paths: Any) -> None:
    for path in paths:
        for file in [path, *companion_files(path)]:
            remove_path(file)
