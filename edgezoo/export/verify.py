"""``verify_dir``: check an export folder again, later or elsewhere. Every artifact's
sha256 against the manifest (any mismatch is an :class:`ArtifactIntegrityError` before
anything runs), then the reference is rebuilt from the folder's own
``weights.safetensors`` and each artifact runs through the parity gate on inputs that
the export never saw (another seed)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgezoo.errors import ArtifactIntegrityError, BadInputError, ManifestError
from edgezoo.export.parity import inputs_for_artifact, measure_parity, reference_outputs
from edgezoo.files import companion_files, sha256_file, size_bytes
from edgezoo.manifests.schema import Artifact, Manifest, load_manifest

VERIFY_SEED = 1  # export uses seed 0: verify's inputs are fresh


@dataclass
class ArtifactCheck:
    """The verdict on one artifact."""

    file: str
    format: str
    precision: str
    static_shape: bool
    input_shape: list[Any]
    bytes: int
    executed: bool
    backend: str | None
    psnr_db: float | None
    max_abs: float | None
    threshold_db: float
    passed: bool
    note: str | None = None
    inputs: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    """Everything ``verify_dir`` found; ``passed`` is False if any gate missed."""

    directory: str
    model: str
    weights_sha256: str
    seed: int
    artifacts: list[ArtifactCheck]

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.artifacts)

    @property
    def failures(self) -> list[ArtifactCheck]:
        return [a for a in self.artifacts if not a.passed]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def verify_dir(
    path: str | os.PathLike, seed: int = VERIFY_SEED, progress: Callable[[int, int, str], None] | None = None,
) -> VerifyReport:
    """Verify the export folder ``path`` (or its ``manifest.yaml``).

    Raises :class:`ArtifactIntegrityError` (one line, naming the files) if an artifact or
    the weights are missing, truncated or changed; :class:`ManifestError` if the manifest
    is missing or invalid. Parity misses do not raise: they are ``passed=False`` in the
    returned :class:`VerifyReport`.
    """
    directory = Path(path)
    if directory.is_file() and directory.suffix in (".yaml", ".yml"):
        directory = directory.parent
    if not directory.is_dir():
        raise BadInputError(f"{directory} is not a folder; pass the folder that `edgezoo export` wrote")
    manifest = load_manifest(directory)
    if not manifest.artifacts:
        raise ManifestError(f"{directory / 'manifest.yaml'} lists no artifacts; export some with `edgezoo export`")
    check_integrity(directory, manifest)
    model = rebuild_reference(directory, manifest)
    checks = []
    multiple_of = manifest.io.inputs[0].multiple_of or 1
    height, width = _export_size(manifest)
    cache: dict[tuple[int, int, bool], tuple[list, list]] = {}
    for index, artifact in enumerate(manifest.artifacts):
        if progress:
            progress(index, len(manifest.artifacts), artifact.file)
        h, w = _artifact_size(artifact, height, width)
        key = (h, w, artifact.static_shape)
        if key not in cache:  # the reference runs once per input set, not per artifact
            inputs = inputs_for_artifact(h, w, multiple_of, artifact.static_shape, seed)
            cache[key] = (inputs, reference_outputs(model, inputs))
        inputs, refs = cache[key]
        expected_io = None
        if artifact.static_shape and list(artifact.input_shape) == list(manifest.io.inputs[0].shape):
            expected_io = manifest.io.model_dump(mode="json")
        report = measure_parity(directory / artifact.file, artifact.format, artifact.precision, model, inputs,
                                name=artifact.file, expected_io=expected_io, references=refs)
        checks.append(ArtifactCheck(
            file=artifact.file, format=artifact.format, precision=artifact.precision,
            static_shape=artifact.static_shape, input_shape=list(artifact.input_shape), bytes=artifact.bytes,
            executed=report.executed, backend=report.backend, psnr_db=report.psnr_db, max_abs=report.max_abs,
            threshold_db=report.threshold_db, passed=report.passed, note=report.note, inputs=report.inputs,
        ))
    assert manifest.weights is not None  # checked by check_integrity
    return VerifyReport(directory=str(directory), model=manifest.name, weights_sha256=manifest.weights.sha256,
                        seed=seed, artifacts=checks)


def check_integrity(directory: Path, manifest: Manifest) -> None:
    """Every file the manifest names exists with its recorded size and sha256, or one
    :class:`ArtifactIntegrityError` line naming each bad file and what is wrong."""
    problems = []
    if manifest.weights is None:
        problems.append("the manifest records no weights (verify needs weights.safetensors)")
    else:
        problem = _file_problem(directory / manifest.weights.file, manifest.weights.bytes, manifest.weights.sha256)
        if problem:
            problems.append(f"{manifest.weights.file} {problem}")
    for artifact in manifest.artifacts:
        problem = _file_problem(directory / artifact.file, artifact.bytes, artifact.sha256)
        if problem:
            problems.append(f"{artifact.file} {problem}")
    if problems:
        raise ArtifactIntegrityError(
            f"{directory}: " + "; ".join(problems) + " - re-export with `edgezoo export`"
        )


def _file_problem(path: Path, expected_bytes: int, expected_sha: str) -> str | None:
    if not path.exists():
        return "is missing"
    missing = [c.name for c in companion_files(path) if not c.exists()]
    if missing:
        return f"has lost {', '.join(missing)}"
    actual_bytes = size_bytes(path)
    if actual_bytes < expected_bytes:
        return f"is truncated ({actual_bytes} of {expected_bytes} bytes)"
    actual = sha256_file(path)
    if actual != expected_sha:
        return f"has sha256 {actual[:12]}…, the manifest says {expected_sha[:12]}… (modified or corrupt)"
    return None


def rebuild_reference(directory: Path, manifest: Manifest) -> Any:
    """The PyTorch model of ``manifest`` (its recorded config) with the folder's weights."""
    from edgezoo.zoo import get_entry
    from edgezoo.zoo.weights import load_weights

    entry = get_entry(manifest.name)
    model = entry.builder(_config(entry.config, manifest.config))
    assert manifest.weights is not None
    load_weights(model, directory / manifest.weights.file, manifest.weights.sha256)
    return model.eval()


def _config(default: Any, recorded: dict[str, Any]) -> Any:
    """The entry's config dataclass with the manifest's values (YAML lists back to tuples)."""
    if not recorded or not dataclasses.is_dataclass(default):
        return default
    names = {f.name for f in dataclasses.fields(default)}
    changes = {}
    for key, value in recorded.items():
        if key not in names:
            raise ManifestError(f"the manifest's config has '{key}', which this version of {type(default).__name__} lacks")
        current = getattr(default, key)
        changes[key] = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
    return dataclasses.replace(default, **changes)


def _export_size(manifest: Manifest) -> tuple[int, int]:
    shape = manifest.io.inputs[0].shape
    if all(isinstance(d, int) for d in shape[-2:]):
        return int(shape[-2]), int(shape[-1])
    statics = [a for a in manifest.artifacts if a.static_shape]
    if statics:
        return int(statics[0].input_shape[-2]), int(statics[0].input_shape[-1])
    m = manifest.io.inputs[0].multiple_of or 32
    return 4 * m, 4 * m


def _artifact_size(artifact: Artifact, height: int, width: int) -> tuple[int, int]:
    h, w = artifact.input_shape[-2:]
    return (h if isinstance(h, int) else height), (w if isinstance(w, int) else width)
