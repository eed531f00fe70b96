"""``export_model``: one pipeline for every zoo model and every format.

For each requested (format, precision) the model is converted into a hidden staging
folder, run in its own runtime against the PyTorch reference (the parity gate), and
only then moved into the export folder and added to ``manifest.yaml``. So at every
moment, Ctrl-C included, the manifest lists exactly the artifacts that exist and
passed; a failed conversion or gate leaves nothing of that artifact behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from edgezoo.errors import BadInputError, EdgezooError, ExportError, ParityError
from edgezoo.export.capture import captured_output, torch_threads
from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
from edgezoo.export.formats import artifact_filename, converter, parse_formats, parse_precisions
from edgezoo.export.parity import inputs_for_artifact, measure_parity
from edgezoo.files import companion_files, remove_path, sha256_file, size_bytes
from edgezoo.manifests.schema import FORMATS, Artifact, Manifest, Paper, Weights, load_manifest

WEIGHTS_FILE = "weights.safetensors"
MANIFEST_FILE = "manifest.yaml"
EXPORT_SEED = 0  # parity inputs at export; verify uses other seeds


@dataclass(frozen=True)
class ExportJob:
    """One artifact to build."""

    format: str
    precision: str
    file: str
    dynamic: bool = False

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision}" + (" dynamic" if self.dynamic else "")


@dataclass(frozen=True)
class ExportEvent:
    """Progress of an export, for a progress bar: ``kind`` is ``start`` (a job begins),
    ``done`` (kept), ``skipped`` (an optional variant that did not work; ``message``
    says why), ``failed`` (the export will fail; ``message`` says why) or ``note``."""

    kind: str
    index: int
    total: int
    job: ExportJob | None = None
    message: str = ""
    seconds: float | None = None
    artifact: Artifact | None = None


ProgressFn = Callable[[ExportEvent], None]


def export_model(
    name: str,
    formats: str | Iterable[str] = FORMATS,
    precisions: str | Iterable[str] = ("fp32",),
    out_dir: str | os.PathLike = "exports",
    height: int | None = None,
    width: int | None = None,
    pretrained: bool = True,
    model: Any = None,
    progress: ProgressFn | None = None,
    dynamic: bool = True,
) -> Manifest:
    """Export zoo model ``name`` and return the manifest written to ``out_dir``.

    Parameters
    ----------
    name : str
        A registered model (``edgezoo list``).
    formats, precisions : str or iterable of str
        ``"onnx,tflite"``, ``"all"``, or lists; precisions ``fp32`` (``fp16``/``int8``
        where a converter supports them).
    out_dir : path
        Created if needed. Receives the artifacts, ``weights.safetensors`` (the exact
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
        Also export a dynamic H x W ONNX variant; skipped, with the reason reported
        through ``progress``, if it fails to convert or to pass parity.

    Returns
    -------
    Manifest
        Lists only artifacts that exist and passed parity.

    Raises
    ------
    UnknownModelError, UnknownFormatError, BadInputError
        Before any work, for bad arguments.
    ExportError, ParityError
        After all other artifacts were tried, if one failed to convert or missed its
        parity threshold; the manifest then lists the ones that passed.
    """
    from edgezoo.zoo import get_entry

    entry = get_entry(name)
    fmts = parse_formats(formats)
    precs = parse_precisions(precisions)
    height, width = check_size(entry, height, width)
    jobs = plan_jobs(name, fmts, precs, height, width, dynamic)
    out = prepare_out_dir(out_dir)
    _check_folder_is_for(out, name)
    emit = progress or (lambda event: None)

    supplied = model is not None
    model = (model if supplied else build_reference(name, pretrained)).eval()
    from edgezoo.zoo.weights import save_weights

    weights_sha = save_weights(model, out / WEIGHTS_FILE, metadata={"model": name})
    manifest = _start_manifest(out, entry, model, pretrained, supplied, weights_sha, height, width, emit)
    manifest.save(out / MANIFEST_FILE)

    example = _example(entry, height, width)
    failures: list[EdgezooError] = []
    with staging_dir(out) as stage:
        for index, job in enumerate(jobs):
            emit(ExportEvent("start", index, len(jobs), job))
            started = time.perf_counter()
            try:
                artifact = _build_one(job, entry, model, example, stage, out, weights_sha, height, width)
            except EdgezooError as exc:
                if job.dynamic:  # an optional variant: skip it, say why
                    emit(ExportEvent("skipped", index, len(jobs), job, message=str(exc)))
                    continue
                failures.append(exc)
                emit(ExportEvent("failed", index, len(jobs), job, message=str(exc)))
                continue
            manifest.artifacts = [a for a in manifest.artifacts if a.file != artifact.file] + [artifact]
            manifest.save(out / MANIFEST_FILE)
            emit(ExportEvent("done", index, len(jobs), job, seconds=time.perf_counter() - started, artifact=artifact))
    if failures:
        raise _combined(failures, len(jobs))
    return manifest


# --- steps ------------------------------------------------------------------------------


def check_size(entry: Any, height: int | None, width: int | None) -> tuple[int, int]:
    """The export size, defaulting to the entry's; :class:`BadInputError` with the fix
    when a side is not a positive multiple of ``multiple_of``."""
    default_h, default_w = entry.export_size
    height = default_h if height is None else height
    width = default_w if width is None else width
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
) -> list[ExportJob]:
    """Every artifact to build, checked up front (unsupported precisions fail here,
    before any conversion)."""
    from edgezoo.export.formats import check_precision

    jobs = []
    for fmt in fmts:
        module = converter(fmt)
        for precision in precs:
            check_precision(fmt, precision, module.PRECISIONS)
            jobs.append(ExportJob(fmt, precision, artifact_filename(name, fmt, precision, height, width)))
            if dynamic and module.DYNAMIC:
                jobs.append(ExportJob(fmt, precision, artifact_filename(name, fmt, precision, height, width, True), True))
    return jobs


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` and prove it writable, or raise one clear :class:`BadInputError`."""
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".edgezoo-write-test-", delete=True)
        probe.close()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise BadInputError(f"cannot write to the output folder {out}: {reason}; pass --out a writable folder") from None
    return out


def _check_folder_is_for(out: Path, name: str) -> None:
    """One folder holds one model's export: refuse to mix another model's in."""
    try:
        previous = load_manifest(out / MANIFEST_FILE) if (out / MANIFEST_FILE).is_file() else None
    except EdgezooError:
        return  # an unreadable manifest is replaced
    if previous is not None and previous.name != name:
        raise BadInputError(
            f"{out} holds an export of {previous.name}; export {name} into another folder (--out), "
            "or delete that one first"
        )


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


def _example(entry: Any, height: int, width: int) -> Any:
    import torch

    generator = torch.Generator().manual_seed(EXPORT_SEED)
    return torch.rand(1, entry.input_spec.channels, height, width, generator=generator)


@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A hidden folder inside ``out`` (same filesystem, so moving out is a rename),
    removed whatever happens."""
    stage = Path(tempfile.mkdtemp(prefix=".edgezoo-staging-", dir=out))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _build_one(
    job: ExportJob, entry: Any, model: Any, example: Any, stage: Path, out: Path,
    weights_sha: str, height: int, width: int,
) -> Artifact:
    """Convert, check parity on the staged file, then move it into ``out``."""
    module = converter(job.format)
    io = io_contract(entry, height, width, dynamic=job.dynamic)
    metadata = artifact_metadata(entry, io, preprocessing(entry), job.format, job.precision, weights_sha)
    staged = stage / job.file
    kwargs = {"dynamic_multiple_of": entry.input_spec.multiple_of} if job.dynamic else {}
    with captured_output() as log, torch_threads(1):
        try:
            tools = module.convert(model, example, staged, metadata, job.precision, **kwargs)
        except EdgezooError:
            raise
        except Exception as exc:  # converters raise anything; keep their log for the user
            raise _conversion_error(job, exc, log.tail(), out) from None
    inputs = inputs_for_artifact(height, width, entry.input_spec.multiple_of, not job.dynamic, EXPORT_SEED)
    try:
        report = measure_parity(staged, job.format, job.precision, model, inputs, name=job.file,
                                expected_io=io.model_dump(mode="json"))
    except EdgezooError:
        raise
    except Exception as exc:  # a runtime that crashes on the artifact fails the gate too
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ParityError(f"{job.file}: running it in its runtime failed: {first}") from None
    if not report.passed:
        raise report.failure()
    promote(staged, out / job.file)
    final = out / job.file
    remove_path(out / f"{job.file}.error.log")  # from an earlier failed attempt
    return Artifact(
        format=job.format, precision=job.precision, file=job.file, sha256=sha256_file(final),
        bytes=size_bytes(final), static_shape=not job.dynamic, input_shape=list(io.inputs[0].shape),
        tool_versions=tools, parity=report.to_parity(),
    )


def promote(staged: Path, final: Path) -> None:
    """Move a checked artifact (file, package directory, or IR pair) into place;
    companions (an IR's ``.bin``) first, so the main file never points at nothing."""
    remove_path(final)
    for companion in companion_files(staged):
        if companion.exists():
            os.replace(companion, final.parent / companion.name)
    os.replace(staged, final)


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


# --- manifest ---------------------------------------------------------------------------


def _config_dict(entry: Any, model: Any) -> dict[str, Any]:
    config = getattr(model, "cfg", None) or getattr(model, "config", None)
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        config = entry.config
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def _weights_info(out: Path, name: str, entry: Any, model: Any, pretrained: bool, sha: str, supplied: bool) -> Weights:
    params = sum(p.numel() for p in model.parameters())
    trained_on, recipe, licence, steps = "untrained: seeded random initialisation", "none", entry.licence, None
    if supplied:
        trained_on, recipe = "supplied by the caller", "unknown"
    elif pretrained:
        from edgezoo.manifests import packaged_manifest

        shipped = packaged_manifest(name).weights
        if shipped is not None:
            trained_on, recipe, licence, steps = shipped.trained_on, shipped.recipe, shipped.licence, shipped.steps
    return Weights(file=WEIGHTS_FILE, sha256=sha, bytes=size_bytes(out / WEIGHTS_FILE), params=params,
                   trained_on=trained_on, recipe=recipe, licence=licence, steps=steps)


def _start_manifest(
    out: Path, entry: Any, model: Any, pretrained: bool, supplied: bool, weights_sha: str, height: int, width: int,
    emit: ProgressFn,
) -> Manifest:
    """The folder's manifest before this run's artifacts: a previous export's artifacts
    are kept if they were made from the same weights and are still intact; stale ones
    (the same model with other weights) are deleted, since nothing could verify them
    any more."""
    quality = []
    if pretrained and not supplied:
        from edgezoo.manifests import packaged_manifest, packaged_names

        if entry.name in packaged_names():
            quality = packaged_manifest(entry.name).quality
    manifest = Manifest(
        name=entry.name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=_config_dict(entry, model),
        params=sum(p.numel() for p in model.parameters()), io=io_contract(entry, height, width),
        preprocessing=preprocessing(entry),
        weights=_weights_info(out, entry.name, entry, model, pretrained, weights_sha, supplied),
        quality=quality,
    )
    previous_path = out / MANIFEST_FILE
    if not previous_path.is_file():
        return manifest
    try:
        previous = load_manifest(previous_path)
    except EdgezooError:
        return manifest  # unreadable: it is replaced
    same = previous.name == entry.name and previous.weights is not None and previous.weights.sha256 == weights_sha
    for artifact in previous.artifacts:
        path = out / artifact.file
        if same and path.exists() and sha256_file(path) == artifact.sha256:
            manifest.artifacts.append(artifact)
        elif path.exists() and not same:
            remove_path(path)
            for companion in companion_files(path):
                remove_path(companion)
            emit(ExportEvent("note", 0, 0, message=f"removed {artifact.file}: exported from other weights"))
    return manifest
