"""``verify_dir``: check an export folder again, later or elsewhere. Every artifact's
sha256 against the manifest (any mismatch is an :class:`ArtifactIntegrityError` before
anything runs), then each artifact's own format validator runs again (onnx.checker,
LiteRT's analyzer, OpenVINO's compiler, coremltools' spec loader), the reference is
rebuilt from the folder's own ``weights.safetensors`` and every gate runs again on
inputs the export never saw: parity on other random images and photo crops (another
seed), and, for int8 artifacts whose export ran the task-quality gate, PSNR on the
evaluation photos under other noise, against the fp32 artifact of the same format (or
the PyTorch reference, tiled the same way, where the folder holds none)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgezoo.errors import ArtifactIntegrityError, BadInputError, ManifestError
from edgezoo.export.parity import inputs_for_artifact, measure_parity, reference_outputs
from edgezoo.export.validators import validate
from edgezoo.files import companion_files, sha256_file, size_bytes
from edgezoo.manifests.schema import Artifact, Manifest, QualityResult, load_manifest

VERIFY_SEED = 1  # export uses seed 0: verify's inputs are fresh
QUALITY_SEED_OFFSET = 100  # export noises photo i with seed i; verify with 100 + seed + i


@dataclass
class ArtifactCheck:
    """The verdict on one artifact: its parity gate and, for int8, its task-quality gate.
    ``quality_passed`` is None where no quality gate applies (``quality_note`` says why);
    ``degraded`` marks an artifact kept at export despite a miss (--allow-degraded);
    ``validators`` holds its format's own validator verdicts (dicts of
    :class:`~edgezoo.manifests.schema.ValidatorResult`), a rejection failing it whatever
    ``degraded`` says."""

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
    parity_passed: bool
    note: str | None = None
    inputs: list[str] = field(default_factory=list)
    quality_db: float | None = None
    fp32_quality_db: float | None = None
    quality_delta_db: float | None = None
    quality_tolerance_db: float | None = None
    quality_passed: bool | None = None
    quality_unit: str = "dB"  # the task's: dB of PSNR for restoration, % (points) of top-1 for a classifier
    quality_margin: float = 0.0  # the loss's standard error the gate added, where known
    quality_basis: str | None = None
    quality_seed: int | None = None
    quality_note: str | None = None
    degraded: bool = False
    validators: list[dict[str, Any]] = field(default_factory=list)

    @property
    def validators_passed(self) -> bool:
        return all(v["passed"] for v in self.validators)

    @property
    def passed(self) -> bool:
        return self.parity_passed and self.quality_passed is not False and self.validators_passed

    @property
    def accepted(self) -> bool:
        """Passed, or a gate miss the export recorded and allowed (never a validator's rejection)."""
        return self.passed or (self.degraded and self.validators_passed)

    @property
    def verdict(self) -> str:
        word = "pass" if self.passed else ("DEGRADED (allowed at export)" if self.accepted else "FAIL")
        return word + ("" if self.executed else " (not run)")

    def gates(self) -> list[dict[str, Any]]:
        """Each gate with its figure, threshold and verdict."""
        gates = [{"gate": "parity", "precision": self.precision, "psnr_db": self.psnr_db, "max_abs": self.max_abs,
                  "threshold_db": self.threshold_db, "executed": self.executed, "passed": self.parity_passed}]
        if self.quality_passed is not None:
            gates.append({"gate": "task quality", "psnr_db": self.quality_db, "fp32_psnr_db": self.fp32_quality_db,
                          "delta_db": self.quality_delta_db, "tolerance_db": self.quality_tolerance_db,
                          "unit": self.quality_unit, "standard_error": self.quality_margin,
                          "against": self.quality_basis, "noise_seed": self.quality_seed, "passed": self.quality_passed})
        elif self.quality_note:
            gates.append({"gate": "task quality", "skipped": self.quality_note})
        gates += [{"gate": "validator", **v} for v in self.validators]
        return gates

    def gate_lines(self) -> list[str]:
        """One line per gate, for people."""
        if not self.executed:
            lines = [f"parity: not run ({self.note})"]
        elif self.psnr_db is None:
            lines = [f"parity: {'pass' if self.parity_passed else 'FAIL'} ({self.note})"]
        else:
            lines = [f"parity {self.psnr_db:.2f} dB vs PyTorch (worst input), threshold {self.threshold_db:g} dB: "
                     + ("pass" if self.parity_passed else "FAIL")]
        if self.quality_passed is not None:
            unit = " points" if self.quality_unit == "%" else f" {self.quality_unit}"
            level = "%" if self.quality_unit == "%" else f" {self.quality_unit}"
            margin = f" +- {self.quality_margin:.2f}" if self.quality_margin else ""
            lines.append(f"task quality {self.quality_db:.2f}{level} vs {self.fp32_quality_db:.2f}{level} for "
                         f"{self.quality_basis} ({self.quality_delta_db:+.2f}{margin}{unit}, allowed "
                         f"-{self.quality_tolerance_db:g}{unit}): " + ("pass" if self.quality_passed else "FAIL"))
        elif self.quality_note:
            lines.append(f"task quality gate: {self.quality_note}")
        lines += [f"{v['validator']}: {'pass' if v['passed'] else 'FAIL'} ({v['message']})" for v in self.validators]
        if self.degraded:
            lines.append("exported with --allow-degraded: a miss is reported, not failed")
        return lines

    def failure_text(self) -> str:
        if not self.validators_passed:
            return f"{self.file} rejected by " + "; ".join(f"{v['validator']}: {v['message']}"
                                                           for v in self.validators if not v["passed"])
        if not self.parity_passed:
            return (f"{self.file} parity {self.psnr_db:.1f} dB < {self.threshold_db:.0f} dB" if self.psnr_db is not None
                    else f"{self.file}: {self.note}")
        unit = " points" if self.quality_unit == "%" else f" {self.quality_unit}"
        return (f"{self.file} task quality {self.quality_delta_db:+.2f}{unit} against {self.quality_basis}, "
                f"beyond -{self.quality_tolerance_db:g}{unit}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "verdict": self.verdict, "gates": self.gates()}


@dataclass
class VerifyReport:
    """Everything ``verify_dir`` found; ``passed`` is False if any gate missed (on an
    artifact not kept with --allow-degraded)."""

    directory: str
    model: str
    weights_sha256: str
    seed: int
    artifacts: list[ArtifactCheck]

    @property
    def passed(self) -> bool:
        return all(a.accepted for a in self.artifacts)

    @property
    def failures(self) -> list[ArtifactCheck]:
        return [a for a in self.artifacts if not a.accepted]

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "model": self.model, "weights_sha256": self.weights_sha256,
                "seed": self.seed, "artifacts": [a.to_dict() for a in self.artifacts], "passed": self.passed}


def verify_dir(
    path: str | os.PathLike, seed: int = VERIFY_SEED, progress: Callable[[int, int, str], None] | None = None,
    quality_images: dict[str, Any] | None = None,
) -> VerifyReport:
    """Verify the export folder ``path`` (or its ``manifest.yaml``).

    Parameters
    ----------
    path : path
        The folder ``edgezoo export`` wrote.
    seed : int
        Seed of the fresh parity inputs and of the quality gate's noise.
    progress : callable, optional
        Called with (index, total, file) before each artifact.
    quality_images : dict, optional
        Photos for the task-quality gate (default: every evaluation photo).

    Returns
    -------
    VerifyReport

    Raises
    ------
    ArtifactIntegrityError
        One line naming the files, if an artifact or the weights are missing,
        truncated or changed.
    ManifestError
        If the manifest is missing or invalid. Gate misses do not raise: they are
        ``passed=False`` in the returned report.
    """
    directory = Path(path)
    if directory.is_file() and directory.suffix in (".yaml", ".yml"):
        directory = directory.parent
    if not directory.is_dir():
        raise BadInputError(f"{directory} is not a folder; pass the folder that `edgezoo export` wrote")
    from edgezoo.runtimes.store import export_lock

    with export_lock(directory, exclusive=False):  # an export into it finishes first
        return _verify_locked(directory, seed, progress, quality_images)


def _verify_locked(directory: Path, seed: int, progress: Callable[[int, int, str], None] | None,
                   quality_images: dict[str, Any] | None) -> VerifyReport:
    manifest = load_manifest(directory)
    if not manifest.artifacts:
        raise ManifestError(f"{directory / 'manifest.yaml'} lists no artifacts; export some with `edgezoo export`")
    check_integrity(directory, manifest)
    model = rebuild_reference(directory, manifest)
    checks = []
    multiple_of = manifest.io.inputs[0].multiple_of or 1
    spec = manifest.model_spec()
    height, width = _export_size(manifest)
    cache: dict[tuple[str | None, int, int, bool], tuple[list, list]] = {}
    quality = _QualityGates(directory, manifest, model, multiple_of, quality_images, QUALITY_SEED_OFFSET + seed)
    for index, artifact in enumerate(manifest.artifacts):
        if progress:
            progress(index, len(manifest.artifacts), artifact.file)
        # one component of a model of several runs against that component's module
        component = spec.component(artifact.component)
        module = model if artifact.component is None else model.components()[artifact.component]
        outputs = [(t.name, t.role) for t in component.outputs]
        h, w = _artifact_size(artifact, component, height, width)
        key = (artifact.component, h, w, artifact.static_shape)
        if key not in cache:  # the reference runs once per input set, not per artifact
            inputs = inputs_for_artifact(h, w, multiple_of, artifact.static_shape, seed, tensors=component.inputs)
            cache[key] = (inputs, reference_outputs(module, inputs, [name for name, _ in outputs]))
        inputs, refs = cache[key]
        expected_io = None
        if artifact.component is None and artifact.static_shape \
                and list(artifact.input_shape) == list(manifest.io.inputs[0].shape):
            expected_io = manifest.io.model_dump(mode="json")
        report = measure_parity(directory / artifact.file, artifact.format, artifact.precision, module, inputs,
                                name=artifact.file, expected_io=expected_io, references=refs,
                                outputs=outputs)
        q = artifact.quantization or {}
        check = ArtifactCheck(
            file=artifact.file, format=artifact.format, precision=artifact.precision,
            static_shape=artifact.static_shape, input_shape=list(artifact.input_shape), bytes=artifact.bytes,
            executed=report.executed, backend=report.backend, psnr_db=report.psnr_db, max_abs=report.max_abs,
            threshold_db=report.threshold_db, parity_passed=report.passed, note=report.note, inputs=report.inputs,
            degraded=bool(q.get("degraded")),
            validators=[v.model_dump(mode="json") for v in validate(directory / artifact.file, artifact.format)],
        )
        quality.check(artifact, check)
        checks.append(check)
    assert manifest.weights is not None  # checked by check_integrity
    return VerifyReport(directory=str(directory), model=manifest.name, weights_sha256=manifest.weights.sha256,
                        seed=seed, artifacts=checks)


class _QualityGates:
    """The int8 task-quality gate in verify: which artifacts it applies to, and the
    fp32 figure each is compared with (computed once per base)."""

    def __init__(self, directory: Path, manifest: Manifest, model: Any, multiple_of: int,
                 images: dict[str, Any] | None, seed: int) -> None:
        self.directory, self.manifest, self.model = directory, manifest, model
        self.multiple_of, self.images, self.seed = multiple_of, images, seed
        self.bases: dict[str, tuple[QualityResult, str]] = {}

    def check(self, artifact: Artifact, check: ArtifactCheck) -> None:
        """Fill ``check``'s quality fields for an int8 artifact whose export gated it."""
        from edgezoo.export.quantize import quality as qual

        if artifact.precision != "int8":
            return
        if artifact.quality is None or not artifact.static_shape or not check.executed:
            recorded = (artifact.quantization or {}).get("quality_gate")
            check.quality_note = recorded or "not run at export, so not here either"
            return
        tile = (int(artifact.input_shape[-2]), int(artifact.input_shape[-1]))
        base, basis = self.base(artifact, tile)
        result = qual.task_quality(self.directory / artifact.file, artifact.format, artifact.precision, tile,
                                   self.multiple_of, self.images, seed=self.seed)
        gate = qual.gate(artifact.file, result, base)
        check.quality_db, check.fp32_quality_db = gate.value, gate.fp32
        check.quality_delta_db, check.quality_tolerance_db = gate.delta, gate.tolerance
        check.quality_passed, check.quality_basis, check.quality_seed = gate.passed, basis, result.seed
        check.quality_unit, check.quality_margin = gate.unit, gate.margin

    def base(self, artifact: Artifact, tile: tuple[int, int]) -> tuple[QualityResult, str]:
        """The fp32 artifact of the same format and shape if the folder holds one, else
        the PyTorch reference tiled the same way."""
        from edgezoo.export.quantize import quality as qual

        sibling = next((a for a in self.manifest.artifacts if a.format == artifact.format and a.precision == "fp32"
                        and a.static_shape and list(a.input_shape) == list(artifact.input_shape)), None)
        key = sibling.file if sibling else f"pytorch@{tile[0]}x{tile[1]}"
        if key not in self.bases:
            if sibling is not None:
                result = qual.task_quality(self.directory / sibling.file, sibling.format, "fp32", tile,
                                           self.multiple_of, self.images, seed=self.seed)
                self.bases[key] = (result, f"the fp32 artifact {sibling.file}")
            else:
                contract = qual.artifact_contract(self.directory / artifact.file, artifact.format)
                result = qual.model_quality(self.model, tile, self.multiple_of, self.images, seed=self.seed,
                                            contract=contract)
                self.bases[key] = (result, f"the PyTorch reference tiled at {tile[0]}x{tile[1]}")
        return self.bases[key]


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
    model = entry.builder_fn()(_config(entry.config, manifest.config))
    assert manifest.weights is not None
    load_weights(model, directory / manifest.weights.file, manifest.weights.sha256)
    return model.eval()


def _config(default: Any, recorded: dict[str, Any]) -> Any:
    """The entry's config dataclass with the manifest's values (YAML lists back to
    tuples, nested configs back to their dataclasses)."""
    if not recorded or not dataclasses.is_dataclass(default):
        return default
    names = {f.name for f in dataclasses.fields(default)}
    changes = {}
    for key, value in recorded.items():
        if key not in names:
            raise ManifestError(f"the manifest's config has '{key}', which this version of {type(default).__name__} lacks")
        current = getattr(default, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = _config(current, value)
        elif isinstance(current, tuple) and isinstance(value, list):
            changes[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        else:
            changes[key] = value
    return dataclasses.replace(default, **changes)


def _export_size(manifest: Manifest) -> tuple[int, int]:
    """The model's input sides (H, W) at export: from its contract, else from a static artifact."""
    shape = manifest.io.inputs[0].shape
    if all(isinstance(d, int) for d in shape[-2:]):
        return int(shape[-2]), int(shape[-1])
    spec = manifest.model_spec()
    statics = [a for a in manifest.artifacts if a.static_shape]
    if statics:
        return _artifact_size(statics[0], spec.component(statics[0].component), 0, 0)
    m = manifest.io.inputs[0].multiple_of or 32
    return 4 * m, 4 * m


def _artifact_size(artifact: Artifact, component: Any, height: int, width: int) -> tuple[int, int]:
    """The model-input sides (H, W) a static artifact was made for (a x4 step graph's
    128 x 128 sample is H = W = 32), else ``height`` x ``width``."""
    from edgezoo.tasks.feeds import sizes_from_shape

    h, w = artifact.input_shape[-2:]
    if not (isinstance(h, int) and isinstance(w, int)):
        return height, width
    sizes = sizes_from_shape(component.inputs[0], artifact.input_shape)
    return sizes.get("H", h), sizes.get("W", w)
