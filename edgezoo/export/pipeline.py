"""``export_model``: one pipeline for every zoo model, every format and every precision.

For each requested (format, precision) the model is converted into a hidden staging
folder, run in its own runtime against the PyTorch reference (the parity gate), and
only then moved into the export folder and added to ``manifest.yaml``. So at every
moment, Ctrl-C included, the manifest lists exactly the artifacts that exist and
passed; a failed conversion or gate leaves nothing of that artifact behind.

fp32 is converted from PyTorch; fp16 and int8 are made from the fp32 artifact of the
same format (:mod:`edgezoo.export.reduced`), gated at their own thresholds (int8 also
on task quality), and recorded with their recipe. When fp32 is not asked for, it is
still built (or taken from the folder) as their source, but not kept.

A model of several components (a predictor and a denoiser step graph) is exported
component by component, each with its own contract and parity gate, in groups of one
format, precision and shape kind: a group is built whole when its first job comes up,
then judged on task quality through the whole program
(:func:`edgezoo.export.reduced.program_gate`: the fp32 group's figure recorded, an fp16
or int8 group within the task's tolerance of it), and only then does each job report
its artifact; a group that misses is removed, so no manifest ever lists it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from edgezoo.errors import BadInputError, EdgezooError, ExportError, ParityError
from edgezoo.export.capture import captured_output, torch_threads
from edgezoo.export.contract import artifact_metadata, exported_components, io_contract, preprocessing
from edgezoo.export.folder import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    check_folder_is_for,
    exclusive_export,
    prepare_out_dir,
    promote,
    staging_dir,
    start_manifest,
)
from edgezoo.export.formats import (
    DYNAMIC_PRECISIONS,
    artifact_filename,
    check_int8_mode,
    check_precision,
    converter,
    parse_formats,
    parse_precisions,
    supported_precisions,
)
from edgezoo.export.parity import inputs_for_artifact, measure_parity, reference_outputs
from edgezoo.export.reduced import (
    QualityPlan,
    ReducedJob,
    artifact_quality,
    build_reduced_artifact,
    program_gate,
    quality_plan,
)
from edgezoo.export.timing import stage as timed
from edgezoo.export.validators import delegates, gate
from edgezoo.files import companion_files, remove_path, sha256_file, size_bytes
from edgezoo.manifests.schema import FORMATS, Artifact, Manifest

EXPORT_SEED = 0  # parity inputs at export; verify uses other seeds


@dataclass(frozen=True)
class ExportJob:
    """One artifact to build. ``keep`` is False for an fp32 artifact built only as the
    source of its format's fp16/int8 artifacts (fp32 was not asked for): it is gated
    like the others, then dropped."""

    format: str
    precision: str
    file: str
    dynamic: bool = False
    keep: bool = True
    component: str | None = None  # of a model of several components; None: the program's one

    @property
    def label(self) -> str:
        return ((f"{self.component} " if self.component else "") + f"{self.format} {self.precision}"
                + (" dynamic" if self.dynamic else "")
                + ("" if self.keep else " (source of fp16/int8, not kept)"))


@dataclass(frozen=True)
class ExportEvent:
    """Progress of an export, for a progress bar: ``kind`` is ``start`` (a job begins),
    ``progress`` (what a job is doing now, in ``message``), ``done`` (kept),
    ``source`` (an fp32 source built and not kept), ``skipped`` (an optional variant
    that did not work; ``message`` says why), ``failed`` (the export will fail;
    ``message`` says why) or ``note``."""

    kind: str
    index: int
    total: int
    job: ExportJob | None = None
    message: str = ""
    seconds: float | None = None
    artifact: Artifact | None = None


ProgressFn = Callable[[ExportEvent], None]


@exclusive_export
def export_model(
    name: str,
    formats: str | Iterable[str] = FORMATS,
    precisions: str | Iterable[str] = ("fp32",),
    out_dir: str | os.PathLike | None = None,
    height: int | None = None,
    width: int | None = None,
    pretrained: bool = True,
    model: Any = None,
    progress: ProgressFn | None = None,
    dynamic: bool = True,
    allow_degraded: bool = False,
    int8_mode: str = "auto",
    measure_quality: bool | None = None,
    quality_images: dict[str, Any] | None = None,
    calibration_images: Sequence[str | os.PathLike] | None = None,
    workers: int | None = None,
) -> Manifest:
    """Export zoo model ``name`` and return the manifest written to ``out_dir``.

    Parameters
    ----------
    name : str
        A registered model (``edgezoo list``).
    formats, precisions : str or iterable of str
        ``"onnx,tflite"``, ``"all"``, or lists; precisions ``fp32``, ``fp16``, ``int8``
        (every format; fp16 and int8 are made from the format's fp32 artifact).
    out_dir : path
        Created if needed (default: ``edgezoo.runtimes.default_artifact_dir(name)``). Receives the artifacts, ``weights.safetensors`` (the exact
        reference weights, so ``verify_dir`` can rebuild the reference) and ``manifest.yaml``.
    height, width : int, optional
        The static input size; defaults to the model's export size. Must be multiples of
        the model's ``multiple_of``.
    pretrained : bool
        Use the shipped weights; ``False`` uses a seeded random initialisation.
    model : torch.nn.Module, optional
        Export this module instead of building one (it must have the entry's I/O).
    progress : callable, optional
        Called with an :class:`ExportEvent` as work proceeds.
    dynamic : bool
        Also export a dynamic H x W variant (ONNX, at fp32 and fp16). Like every other
        artifact, one that fails to convert or to pass parity fails the export (the
        others are still written); ``False`` leaves it out.
    allow_degraded : bool
        Keep an fp16/int8 artifact that misses a gate, recording the miss in the
        manifest (``quantization.degraded``, ``parity.passed: false``), instead of
        failing. fp32 artifacts must always pass: a miss there is a converter fault.
    int8_mode : str
        ``static``: int8 activations calibrated on the calibration photos, with the
        format's calibrated remedies when a gate misses; ``dynamic``: int8 weights with
        activations quantized per call (ONNX, TFLite) or kept float (OpenVINO, Core ML);
        ``auto``: static, then dynamic if no static recipe passes.
    measure_quality : bool, optional
        Measure each executed artifact's task quality and gate int8 on it (a model of
        several components: each group's whole program, fp16 and int8 gated on it);
        default: when the weights are trained (shipped ones), since a random network's
        score means nothing (the skip is recorded).
    quality_images : dict, optional
        Photos for task quality (default: every evaluation photo).
    calibration_images : list of paths, optional
        Pictures to calibrate int8 on instead of the bundled calibration photos, used as
        the model receives them (noisy photos for a denoiser; never evaluation photos).
    workers : int, optional
        Processes that export formats side by side (default: :func:`export_workers`,
        one per CPU core); each format's artifacts are built, gated and measured exactly
        as in one process, and the manifest is written by this one.

    Returns
    -------
    Manifest
        Lists only artifacts that exist and passed their gates (or, with
        ``allow_degraded``, recorded their miss).

    Raises
    ------
    UnknownModelError, UnknownFormatError, BadInputError
        Before any work, for bad arguments.
    ExportError, ParityError
        After all other artifacts were tried, if one failed to convert or missed a
        gate; the manifest then lists the ones that passed.
    """
    from edgezoo.zoo import get_entry

    entry = get_entry(name)
    fmts = parse_formats(formats)
    precs = parse_precisions(precisions)
    int8_mode = check_int8_mode(int8_mode)
    height, width = check_size(entry, height, width)
    jobs = plan_jobs(name, fmts, precs, height, width, dynamic and not entry.input_spec.fixed_size,
                     exported_components(entry))
    if out_dir is None:
        from edgezoo.runtimes.store import default_artifact_dir

        out_dir = default_artifact_dir(name)
    out = prepare_out_dir(out_dir)
    check_folder_is_for(out, name)
    emit = progress or (lambda event: None)

    supplied = model is not None
    model = (model if supplied else build_reference(name, pretrained)).eval()
    from edgezoo.zoo.weights import save_weights

    weights_sha = save_weights(model, out / WEIGHTS_FILE, metadata={"model": name})
    manifest = start_manifest(out, entry, model, pretrained, supplied, weights_sha, height, width,
                              lambda text: emit(ExportEvent("note", 0, 0, message=text)))
    manifest.save(out / MANIFEST_FILE)

    trained = (pretrained and not supplied) if measure_quality is None else measure_quality
    settings = _Settings(name, pretrained, weights_sha, height, width,
                         quality_plan(entry.task, trained, quality_images), allow_degraded, int8_mode,
                         list(calibration_images) if calibration_images else None)
    failures: list[EdgezooError] = []

    def record(index: int, job: ExportJob, outcome: Any, seconds: float) -> None:
        """One finished job: into the manifest (saved at once) or into the failures."""
        if isinstance(outcome, EdgezooError):
            if job.dynamic:  # asked for (the default), so a miss fails the export; say how to leave it out
                outcome = type(outcome)(f"{outcome} (the dynamic H x W variant: export with --no-dynamic "
                                        "to leave it out)")
            failures.append(outcome)
            if not (out / job.file).exists() and any(a.file == job.file for a in manifest.artifacts):
                # an earlier export's entry whose file this one replaced and then removed (a
                # program that missed its gate): the manifest lists only what exists
                manifest.artifacts = [a for a in manifest.artifacts if a.file != job.file]
                manifest.save(out / MANIFEST_FILE)
            emit(ExportEvent("failed", index, len(jobs), job, message=str(outcome)))
        elif outcome is None:
            emit(ExportEvent("source", index, len(jobs), job, seconds=seconds))
        else:
            previous = next((a for a in manifest.artifacts if a.file == outcome.file), None)
            if previous is not None and previous.sha256 == outcome.sha256 and not outcome.latency:
                # the same bytes run as fast as before: a re-export keeps what bench measured
                outcome = outcome.model_copy(update={"latency": list(previous.latency)})
            manifest.artifacts = [a for a in manifest.artifacts if a.file != outcome.file] + [outcome]
            manifest.save(out / MANIFEST_FILE)
            emit(ExportEvent("done", index, len(jobs), job, seconds=seconds, artifact=outcome))

    groups = _by_format(jobs)
    count = export_workers(workers, len(groups), supplied)
    with staging_dir(out) as stage:
        if count > 1:
            from edgezoo.export.parallel import run_in_workers

            run_in_workers(settings, groups, len(jobs), out, stage, count, emit, record)
        else:
            run = settings.run(entry, model, out, stage)
            for index, job in enumerate(jobs):
                emit(ExportEvent("start", index, len(jobs), job))
                started = time.perf_counter()
                try:
                    outcome: Any = run.build(job, manifest, _progress_for(emit, index, len(jobs), job))
                except EdgezooError as exc:
                    outcome = exc
                record(index, job, outcome, time.perf_counter() - started)
    if failures:
        raise _combined(failures, len(jobs))
    return manifest


WORKERS_ENV = "EDGEZOO_EXPORT_WORKERS"
# Memory one worker may need: int8 calibration keeps every intermediate tensor of the
# calibration images (AI Edge Quantizer's calibrator peaked at 6 GB for MAXIM-tiny at
# 256x256); by default no more workers start than the available memory gives this each.
WORKER_MEMORY_MB = 4096


def export_workers(workers: int | None, formats: int, supplied: bool) -> int:
    """How many processes export formats side by side: ``workers``, else
    ``$EDGEZOO_EXPORT_WORKERS``, else one per CPU core, as many as the available memory
    gives :data:`WORKER_MEMORY_MB` each (psutil; at most one per format). A
    caller-supplied module stays in this process (a worker rebuilds the model from the
    registry and the saved weights, which a module of the caller's own class may not be)."""
    if supplied or formats < 2:
        return 1
    if workers is None:
        env = os.environ.get(WORKERS_ENV, "").strip()
        workers = int(env) if env.isdigit() else min(os.cpu_count() or 1, _memory_for_workers())
    return max(1, min(int(workers), formats))


def _memory_for_workers() -> int:
    try:
        import psutil

        return max(1, int(psutil.virtual_memory().available / 2**20 // WORKER_MEMORY_MB))
    except Exception:  # no psutil, or a sandbox that hides /proc/meminfo: the cores decide
        return 1 << 16


def _by_format(jobs: Sequence[ExportJob]) -> list[list[tuple[int, ExportJob]]]:
    """The jobs (with their index in the export) grouped by format, in plan order: a
    format's fp16 and int8 need only its own fp32, so formats are independent."""
    groups: dict[str, list[tuple[int, ExportJob]]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(job.format, []).append((index, job))
    return list(groups.values())


@dataclass
class _Settings:
    """What a worker needs to rebuild the reference and run its jobs (picklable)."""

    name: str
    pretrained: bool
    weights_sha: str
    height: int
    width: int
    quality: QualityPlan
    allow_degraded: bool
    int8_mode: str
    calibration_images: list[Any] | None

    def run(self, entry: Any, model: Any, out: Path, stage: Path) -> "_Run":
        return _Run(entry, model, out, self, stage)


def _progress_for(emit: ProgressFn, index: int, total: int, job: ExportJob) -> Callable[[str], None]:
    def say(message: str) -> None:
        emit(ExportEvent("progress", index, total, job, message=message))

    return say


@dataclass
class _Run:
    """What every job of one export shares: the reference, the folder, the parity
    inputs and reference outputs (computed once per shape kind), and the fp32 artifact
    of each (format, shape kind) that fp16/int8 are made from."""

    entry: Any
    model: Any
    out: Path
    settings: _Settings
    stage: Path | None = None
    sources: dict[tuple[str | None, str, bool], Path] = dataclasses.field(default_factory=dict)
    source_errors: dict[tuple[str | None, str, bool], str] = dataclasses.field(default_factory=dict)
    parity_sets: dict[tuple[str | None, bool], tuple[list, list]] = dataclasses.field(default_factory=dict)
    flops: dict[str, float] = dataclasses.field(default_factory=dict)
    # a model of several components: each (format, precision, dynamic) group's outcome per component
    groups: dict[tuple[str, str, bool], dict[str, Any]] = dataclasses.field(default_factory=dict)

    def module(self, component: str | None) -> Any:
        """The PyTorch module of one component (the whole model for the program's only one)."""
        return self.model if component is None else self.model.components()[component]

    def component_gflops(self, component: str | None) -> float | None:
        """GFLOPs per megapixel of a component's first input (None for the program's only
        component: the manifest's model figure stands for it)."""
        if component is None:
            return None
        if component not in self.flops:
            from edgezoo.zoo.flops import gflops_per_mpix_of

            example = _example(io_contract(self.entry, self.settings.height, self.settings.width, False, component))
            self.flops[component] = gflops_per_mpix_of(self.module(component), example)
        return self.flops[component]

    def io(self, job: ExportJob) -> Any:
        return io_contract(self.entry, self.settings.height, self.settings.width, job.dynamic, job.component)

    def parity_set(self, dynamic: bool, component: str | None = None) -> tuple[list, list]:
        """(parity inputs, reference outputs) for a static or a dynamic artifact of a component."""
        if (component, dynamic) not in self.parity_sets:
            cfg = self.settings
            # at the export size for a static artifact (a x4 model's output sides are then numbers)
            tensors = (self.entry.spec() if dynamic else self.entry.spec(cfg.height, cfg.width)).component(component)
            inputs = inputs_for_artifact(cfg.height, cfg.width, self.entry.input_spec.multiple_of, not dynamic,
                                         EXPORT_SEED, tensors=tensors.inputs)
            outputs = [t.name for t in tensors.outputs]
            self.parity_sets[(component, dynamic)] = (inputs, reference_outputs(self.module(component), inputs,
                                                                                outputs))
        return self.parity_sets[(component, dynamic)]

    def build(self, job: ExportJob, manifest: Manifest, say: Callable[[str], None]) -> Artifact | None:
        """The job's manifest entry, or None for an fp32 source that is not kept. A job of
        one component of a model of several reports its artifact once its whole group
        was built and judged through the program (:meth:`_build_group`)."""
        if job.component is None:
            return self._build(job, manifest, say)
        key = (job.format, job.precision, job.dynamic)
        if key not in self.groups:
            self.groups[key] = self._build_group(job, manifest, say)
        outcome = self.groups[key][job.component]
        if isinstance(outcome, EdgezooError):
            raise outcome
        return outcome

    def _build_group(self, job: ExportJob, manifest: Manifest, say: Callable[[str], None]) -> dict[str, Any]:
        """Every component's artifact of ``job``'s (format, precision, shape kind), each
        built and gated on its own, then, where every one was built and executed and the
        plan measures task quality, judged through the whole program
        (:func:`~edgezoo.export.reduced.program_gate`). Returns each component's outcome:
        its Artifact, None (an fp32 source not kept) or the EdgezooError its job reports."""
        cfg = self.settings
        members = [dataclasses.replace(job, component=c, file=artifact_filename(
            self.entry.name, job.format, job.precision, cfg.height, cfg.width, job.dynamic, c))
            for c in exported_components(self.entry)]
        # an earlier export's files of this group step aside (into the staging folder, one
        # rename each) and come back if the group fails: a failed re-export keeps the old program
        assert self.stage is not None
        aside = self.stage / f".replaced-{job.format}-{job.precision}-{'dynamic' if job.dynamic else 'static'}"
        moved = _set_aside([self.out / m.file for m in members], aside) if job.keep else []
        outcomes: dict[str, Any] = {}
        for member in members:
            try:
                outcomes[member.component] = self._build(member, manifest, say)
            except EdgezooError as exc:
                outcomes[member.component] = exc
        built = {c: a for c, a in outcomes.items() if isinstance(a, Artifact)}
        failed = next((m for m in members if isinstance(outcomes[m.component], EdgezooError)), None)
        if failed is not None:  # one graph of a program is no program: its partners are not kept either
            return self._group_failed(members, failed.file, outcomes[failed.component], outcomes, moved, aside)
        if not cfg.quality.enabled or len(built) < len(members) or not all(a.parity.executed for a in built.values()):
            return outcomes  # nothing to judge: a member is a source only, or nothing runs here
        fp32 = {c: self.sources[(c, job.format, job.dynamic)] for c in built
                if (c, job.format, job.dynamic) in self.sources}
        say(f"{' + '.join(a.file for a in built.values())}: task quality through the whole program")
        try:
            return program_gate(built, self.out, job.format, job.precision, self.entry.task, cfg.quality, fp32,
                                cfg.allow_degraded)
        except EdgezooError as exc:  # the group's files are gone: its fp16/int8 have no fp32 source either
            return self._group_failed(members, members[0].file, exc, outcomes, moved, aside)

    def _group_failed(self, members: list[ExportJob], first: str, exc: EdgezooError, outcomes: dict[str, Any],
                      moved: list[Path], aside: Path) -> dict[str, Any]:
        """Every member of a failed group reports the failure (``first`` its cause), none
        of their new files stays in the folder, and an earlier export's files return."""
        for member in members:
            key = (member.component, member.format, member.dynamic)
            if member.precision == "fp32":  # its fp16/int8 have no fp32 source
                self.sources.pop(key, None)
                self.source_errors[key] = str(exc)
            if member.keep:  # a source only may be an earlier export's file: it stays
                for path in [self.out / member.file, *companion_files(self.out / member.file)]:
                    remove_path(path)
            outcomes[member.component] = exc if member.file == first else type(exc)(
                f"{member.file}: not kept: with {first} it makes one program, which failed (see {first})")
        for path in moved:
            os.replace(aside / path.name, path)
        return outcomes

    def _build(self, job: ExportJob, manifest: Manifest, say: Callable[[str], None]) -> Artifact | None:
        """One artifact: converted (fp32) or made from its format's fp32 (fp16, int8), gated."""
        assert self.stage is not None
        key = (job.component, job.format, job.dynamic)
        if job.precision == "fp32":
            try:
                return self._fp32(job, manifest)
            except EdgezooError as exc:
                self.source_errors[key] = str(exc)
                raise
        source = self.sources.get(key)
        if source is None:
            why = self.source_errors.get(key, "it was not built")
            raise ExportError(f"{job.label} is made from the fp32 {job.format} artifact, which failed: {why}")
        io = self.io(job)
        inputs, refs = self.parity_set(job.dynamic, job.component)
        reduced = ReducedJob(
            source=source, model=self.module(job.component),
            metadata=artifact_metadata(self.entry, io, preprocessing(self.entry), job.format, job.precision,
                                       self.settings.weights_sha, job.component),
            expected_io=io.model_dump(mode="json"), tile=(self.settings.height, self.settings.width),
            multiple_of=self.entry.input_spec.multiple_of, task=self.entry.task, parity_inputs=inputs,
            references=refs,
        )
        if self.settings.calibration_images and job.precision == "int8":
            from edgezoo.export.quantize.calibration import DEFAULT_COUNT, calibration_from_images

            count = 2 * DEFAULT_COUNT  # what the remedies that ask for more images take
            cfg = self.settings
            reduced.calibration = calibration_from_images(cfg.calibration_images, cfg.height, cfg.width, count)
            reduced.calibration_label = (f"{count} views of {len(self.settings.calibration_images)} caller-supplied "
                                         "pictures, used as given")
        artifact = build_reduced_artifact(job.format, job.precision, job.file, job.dynamic, reduced, self.stage,
                                          self.out, self._quality(job), int8_mode=self.settings.int8_mode,
                                          allow_degraded=self.settings.allow_degraded, say=say)
        remove_path(self.out / f"{job.file}.error.log")  # from an earlier failed attempt
        if job.component is None:
            return artifact
        return artifact.model_copy(update={"component": job.component,
                                           "gflops_per_mpix": self.component_gflops(job.component)})

    def _quality(self, job: ExportJob) -> QualityPlan:
        """The task-quality plan of one artifact: a component of a model of several is
        one step of its program, which has no task figure on its own: its group is
        measured through the whole program once every component is built (the note
        stays where the program could not be measured)."""
        if job.component is None or not self.settings.quality.enabled:
            return self.settings.quality
        return dataclasses.replace(self.settings.quality, skip=(
            f"{job.component} is one component of {self.entry.name}'s program: task quality is measured through "
            "the whole program, with every component of the same format, precision and shape, not per component"))

    def _fp32(self, job: ExportJob, manifest: Manifest) -> Artifact | None:
        key = (job.component, job.format, job.dynamic)
        if not job.keep:  # a source only: an intact one from an earlier export of these weights will do
            previous = next((a for a in manifest.artifacts if a.file == job.file), None)
            if previous is not None:
                self.sources[key] = self.out / previous.file
                return None
        assert self.stage is not None
        staged, tools, report, io = _convert_and_check(job, self.entry, self.module(job.component),
                                                       _example(self.io(dataclasses.replace(job, dynamic=False))), self.stage, self.out,
                                                       self.io(job), self.settings.weights_sha,
                                                       self.parity_set(job.dynamic, job.component))
        if not job.keep:
            self.sources[key] = staged
            return None
        with timed("validators"):
            checks = gate(staged, job.format, job.file)  # before the move, like parity: a rejected file never lands
        quality = None
        # measured before the move: an artifact whose measurement fails never reaches the folder
        if self._quality(job).enabled and report.executed:
            tile = None if job.dynamic else (self.settings.height, self.settings.width)
            quality = artifact_quality(staged, job.format, "fp32", tile, self.entry.input_spec.multiple_of,
                                       self.settings.quality)
        final = self.out / job.file
        promote(staged, final)
        self.sources[key] = final
        remove_path(self.out / f"{job.file}.error.log")  # from an earlier failed attempt
        return Artifact(
            component=job.component, gflops_per_mpix=self.component_gflops(job.component),
            format=job.format, precision=job.precision, file=job.file, sha256=sha256_file(final),
            bytes=size_bytes(final), static_shape=not job.dynamic, input_shape=list(io.inputs[0].shape),
            tool_versions=tools, parity=report.to_parity(), quality=quality, validators=checks,
            delegates=delegates(checks),
        )


# --- steps ------------------------------------------------------------------------------


def check_size(entry: Any, height: int | None, width: int | None) -> tuple[int, int]:
    """The export size, defaulting to the entry's; :class:`BadInputError` with the fix
    when a side is not a positive multiple of ``multiple_of``."""
    default_h, default_w = entry.export_size
    height = default_h if height is None else height
    width = default_w if width is None else width
    fixed = entry.input_spec.fixed_size
    if fixed and (height, width) != tuple(fixed):
        raise BadInputError(f"{entry.name} takes exactly {fixed[0]}x{fixed[1]} inputs; leave the size out")
    m = entry.input_spec.multiple_of
    for label, side in (("height", height), ("width", width)):
        if not isinstance(side, int) or side <= 0:
            raise BadInputError(f"{label} must be a positive integer, not {side!r}")
        if side % m:
            low, high = side // m * m, (side // m + 1) * m
            options = f"{low} or {high}" if low else f"{high}"
            raise BadInputError(f"{label} {side} is not a multiple of {m}, which {entry.name} needs: use {options}")
    return height, width


def plan_jobs(
    name: str, fmts: Iterable[str], precs: Iterable[str], height: int, width: int, dynamic: bool,
    components: Sequence[str | None] = (None,),
) -> list[ExportJob]:
    """Every artifact to build, checked up front (unsupported precisions fail here,
    before any conversion). Per format: fp32 first (kept, or only built as the source of
    fp16/int8), its dynamic-shape variant, then fp16 and int8 from them; each of them
    for every component in turn (a group of one format, precision and shape kind is
    judged as a whole program, and every component's fp32 is built before any fp16)."""
    precs = tuple(precs)
    jobs = []
    for fmt in fmts:
        module = converter(fmt)
        supported = supported_precisions(fmt)
        for precision in precs:
            check_precision(fmt, precision, supported)
        kinds = [False] + ([True] if dynamic and module.DYNAMIC else [])
        for precision in ("fp32",) + tuple(p for p in precs if p != "fp32"):
            for is_dynamic in kinds:
                if is_dynamic and precision not in DYNAMIC_PRECISIONS:
                    continue
                if precision == "fp32":
                    wanted = [p for p in precs if not is_dynamic or p in DYNAMIC_PRECISIONS]
                    if not wanted:
                        continue
                    keep = "fp32" in precs
                else:
                    keep = True
                for component in components:
                    file = artifact_filename(name, fmt, precision, height, width, is_dynamic, component)
                    jobs.append(ExportJob(fmt, precision, file, is_dynamic, keep, component))
    return jobs


def build_reference(name: str, pretrained: bool, seed: int = 0) -> Any:
    """The zoo model; untrained models get a seeded initialisation, so that exporting
    twice gives the same weights."""
    import torch

    from edgezoo.zoo import create_model

    if pretrained:
        return create_model(name, pretrained=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(name, pretrained=False)


def _example(io: Any) -> dict[str, Any]:
    """The tracing inputs of a static I/O contract by name, from the one place inputs come from."""
    import torch

    from edgezoo.tasks.feeds import example_feeds

    feeds = example_feeds(io.inputs, rng=EXPORT_SEED)
    return {name: torch.from_numpy(value) for name, value in feeds.items()}


def _convert_and_check(
    job: ExportJob, entry: Any, model: Any, example: Any, stage: Path, out: Path, io: Any, weights_sha: str,
    parity_set: tuple[list, list],
) -> tuple[Path, dict[str, str], Any, Any]:
    """Convert the fp32 artifact of a job's component (``model``, with ``io``) into
    ``stage`` and pass it through the parity gate: (staged path, tool versions, parity
    report, I/O contract); raises on a miss."""
    module = converter(job.format)
    metadata = artifact_metadata(entry, io, preprocessing(entry), job.format, job.precision, weights_sha,
                                 job.component)
    staged = stage / job.file
    kwargs = {"dynamic_multiple_of": entry.input_spec.multiple_of} if job.dynamic else {}
    with captured_output() as log, torch_threads(1), timed(f"convert {job.format}"):
        try:
            tools = module.convert(model, example, staged, metadata, job.precision, **kwargs)
        except EdgezooError:
            raise
        except Exception as exc:  # converters raise anything; keep their log for the user
            raise _conversion_error(job, exc, log.tail(), out) from None
    inputs, refs = parity_set
    try:
        report = measure_parity(staged, job.format, job.precision, model, inputs, name=job.file,
                                expected_io=io.model_dump(mode="json"), references=refs)
    except EdgezooError:
        raise
    except Exception as exc:  # a runtime that crashes on the artifact fails the gate too
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ParityError(f"{job.file}: running it in its runtime failed: {first}") from None
    if not report.passed:
        raise report.failure()
    return staged, tools, report, io


def _set_aside(paths: Sequence[Path], aside: Path) -> list[Path]:
    """Move the existing ``paths`` (and their companions) into ``aside``; returns every
    moved path, to be moved back by name."""
    moved = []
    for path in paths:
        for file in [path, *companion_files(path)]:
            if file.exists():
                aside.mkdir(parents=True, exist_ok=True)
                os.replace(file, aside / file.name)
                moved.append(file)
    return moved


def _conversion_error(job: ExportJob, exc: Exception, log_tail: str, out: Path) -> ExportError:
    first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
    log_file = out / f"{job.file}.error.log"
    note = ""
    try:
        log_file.write_text(f"{exc.__class__.__name__}: {exc}\n\n--- converter output ---\n{log_tail}\n", encoding="utf-8")
        note = f" (converter output in {log_file})"
    except OSError:
        pass
    return ExportError(f"{job.label} conversion to {job.file} failed: {exc.__class__.__name__}: {first}{note}")


def _combined(failures: list[EdgezooError], total: int) -> EdgezooError:
    if len(failures) == 1:
        return failures[0]
    cls = ParityError if all(isinstance(f, ParityError) for f in failures) else ExportError
    return cls(f"{len(failures)} of {total} artifacts failed: " + "; ".join(str(f) for f in failures))
