"""The int8 task-quality gate: an artifact's task score, run in its own runtime, within
the task's tolerance of the fp32 artifact of the same format.

Parity alone does not bound what a user sees: 38 dB of parity against an output whose
own error is 30 dB still costs a few tenths of a dB of PSNR, and logits close to the
reference's can still flip a class near a decision boundary. The gate measures that
cost directly. What is measured, on which data, and how much may be lost (the metric,
its unit, its direction and the tolerance) is the task protocol's (:mod:`edgezoo.tasks`):
restoration scores denoising PSNR (0.3 dB), classification top-1 accuracy (0.3 points),
generation the Fréchet distance of its samples (lower is better: at most 10% + 0.25 above fp32's). This module
loads the artifact in its runtime, asks the protocol that the artifact's own embedded
contract names, and compares the two figures.

A model of several components (a predictor and a denoiser step graph) has no task
figure per component: :func:`program_quality` loads every component artifact of one
(format, precision, shape kind) group in its runtime and measures the whole program, as
the runtime serves it (:func:`edgezoo.runtimes.refine.refine_run`, tiled at the
predictor's static size), at the program's own step count; :func:`task_quality` of one
component's artifact measures its program with the partner artifacts beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import QualityResult
from edgezoo.tasks import protocol_for
from edgezoo.tasks.base import Contract, QualitySet, QualityTolerance, RunFunction, contract_inputs
from edgezoo.tasks.restore import INT8_TOLERANCE_DB as QUALITY_TOLERANCE_DB  # noqa: F401  (restoration's, for callers)
from edgezoo.tasks.restore import QUALITY_SIGMA  # noqa: F401

QUALITY_SEED = 0


@dataclass
class QualityGate:
    """The int8 artifact's score beside its fp32 sibling's, in the task's metric and unit.

    The allowed loss is ``tolerance`` plus ``relative`` times the fp32 figure's magnitude,
    in the metric's own direction: a drop for a ``higher_is_better`` metric (PSNR,
    top-1), a rise for one that is not (the Fréchet distance of a generator)."""

    artifact: str
    metric: str
    value: float
    fp32: float
    tolerance: float
    unit: str = "dB"
    margin: float = 0.0  # the loss's standard error where it is known: the gate takes loss + margin
    higher_is_better: bool = True
    relative: float = 0.0
    precision: str = "int8"  # whose threshold it is (a program's fp16 is gated too)

    @property
    def delta(self) -> float:
        """value - fp32, signed as measured (negative is a loss only when higher is better)."""
        return round(self.value - self.fp32, 3)

    @property
    def gain(self) -> float:
        """How much better than fp32, in the metric's direction (what ranks attempts)."""
        return self.delta if self.higher_is_better else -self.delta

    @property
    def allowed_loss(self) -> float:
        return self.tolerance + self.relative * abs(self.fp32)

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.value - self.margin >= self.fp32 - self.allowed_loss
        return self.value + self.margin <= self.fp32 + self.allowed_loss

    def figure(self, value: float, signed: bool = False) -> str:
        """``value`` in the gate's unit: ``31.20 dB``, ``+0.12 points``, ``91.30%``."""
        if self.unit == "%":
            return f"{value:+.2f} points" if signed else f"{value:.2f}%"
        return f"{value:+.2f} {self.unit}".rstrip() if signed else f"{value:.2f} {self.unit}".rstrip()

    @property
    def allowed(self) -> str:
        absolute = f"{self.tolerance:g} points" if self.unit == "%" else f"{self.tolerance:g} {self.unit}".rstrip()
        if not self.relative:
            return absolute
        return f"{100 * self.relative:g}% of the fp32 figure + {absolute} (here {self.allowed_loss:.2f})"

    def message(self) -> str:
        uncertain = (f" (give or take {self.figure(self.margin, signed=True).lstrip('+')}: the loss plus one "
                     "standard error must stay within it)" if self.margin else "")
        if not self.higher_is_better:
            above = f"{self.delta:.2f} {self.unit}".rstrip()
            return (f"{self.artifact}: task quality {self.figure(self.value)} ({self.metric}, lower is better) is "
                    f"{above} above the fp32 artifact's {self.figure(self.fp32)}{uncertain}; the {self.precision} "
                    f"threshold is {self.allowed}")
        below = f"{-self.delta:.2f} points" if self.unit == "%" else f"{-self.delta:.2f} {self.unit}".rstrip()
        return (
            f"{self.artifact}: task quality {self.figure(self.value)} ({self.metric}) is {below} below "
            f"the fp32 artifact's {self.figure(self.fp32)}{uncertain}; the {self.precision} threshold is {self.allowed}"
        )


def tolerance_for(task: str) -> QualityTolerance | None:
    """The int8 quality gate of ``task`` (None: the task has no quality measurement)."""
    return protocol_for(task).int8_tolerance(task)


def task_is_gated(task: str) -> bool:
    return tolerance_for(task) is not None


def quality_skip_reason(task: str) -> str | None:
    """Why task quality is not measured for ``task`` here, or None when it is."""
    if not task_is_gated(task):
        return f"no task-quality protocol for task '{task}'"
    return protocol_for(task).quality_problem(task)


def artifact_contract(path: str | Path, fmt: str) -> Contract:
    """The contract an artifact carries inside itself (task, io, spec)."""
    from edgezoo.export.formats import converter

    return converter(fmt).read_metadata(path)


def artifact_runner(path: str | Path, fmt: str, precision: str) -> RunFunction:
    """Inputs by name -> outputs by name, through the artifact's native runtime on CPU."""
    return load_runner(path, fmt, precision).run


def load_runner(path: str | Path, fmt: str, precision: str) -> Any:
    """The artifact loaded in its native runtime on CPU (a ``Runner``: ``run`` and the
    ``inputs`` it takes)."""
    from edgezoo.export.capture import captured_output
    from edgezoo.runtimes.backends import backend_for_format

    with captured_output():
        from edgezoo.export.timing import runtime_threads

        return backend_for_format(fmt).load(path, "cpu", runtime_threads(), precision=precision)


def program_runner(paths: Mapping[str, str | Path], fmt: str, precision: str, contract: Contract,
                   seed: int = QUALITY_SEED) -> RunFunction:
    """The whole program of a model of several components as one :data:`RunFunction`:
    each component's artifact (``paths`` by component name) loaded in its runtime and
    composed as the runtime's session composes them: a predict-and-refine loop
    (:func:`edgezoo.runtimes.refine.refine_run`, ``{degraded} -> {"prediction",
    "restored"}``) at the program's own step count, one sample from ``seed``; a tiled
    program with once-per-request components (:func:`edgezoo.runtimes.compose.program_run`,
    ``{image, the request's tensors} -> {output}``, one tile per call)."""
    from edgezoo.manifests.schema import ModelSpec
    from edgezoo.runtimes.compose import program_run
    from edgezoo.runtimes.refine import RefineProgram, refine_run
    from edgezoo.runtimes.samplers import scheduler_from_dict

    spec = ModelSpec.model_validate(contract["spec"])
    missing = sorted({c.name for c in spec.components} - set(paths))
    if missing:
        raise BadInputError(f"the whole program of {contract.get('model')} needs its {', '.join(missing)} too")
    runners = {name: load_runner(path, fmt, precision) for name, path in paths.items()}
    if spec.program.once:
        return program_run(spec, runners)
    sampler = spec.program.sampler or {}
    program = RefineProgram.from_sampler(sampler)
    return refine_run(program, spec.component(), runners[program.predictor], runners[spec.program.component],
                      scheduler_from_dict(sampler), seed)


def program_entry(paths: Mapping[str, str | Path], fmt: str) -> tuple[Contract, tuple[int, int] | None, int]:
    """(contract, tile, align) of the component a request's picture enters (the
    predictor of a predict-and-refine loop; the tiled component of a program with
    once-per-request components): its artifact's embedded contract, the static sides the
    runtime tiles a picture at (None for a dynamic-shape artifact: whole pictures, padded)
    and the multiple it pads to."""
    from edgezoo.manifests.schema import ModelSpec
    from edgezoo.runtimes.compose import tiled_input
    from edgezoo.runtimes.refine import RefineProgram

    first = artifact_contract(next(iter(paths.values())), fmt)
    spec = ModelSpec.model_validate(first["spec"])
    if spec.program.once:
        entry, picture = spec.program.component, tiled_input(spec.component())
    else:
        program = RefineProgram.from_sampler(spec.program.sampler or {})
        entry, picture = program.predictor, program.predictor_input
    contract = artifact_contract(paths[entry], fmt)
    tensor = next(t for t in contract_inputs(contract) if t.name == picture)
    sides = tensor.shape[-2:]
    tile = (int(sides[0]), int(sides[1])) if all(isinstance(d, int) for d in sides) else None
    return contract, tile, int(tensor.multiple_of or 1)


def program_quality(
    paths: Mapping[str, str | Path], fmt: str, precision: str, images: Any = None, seed: int = QUALITY_SEED,
    *, split: str = "evaluation",
) -> QualityResult:
    """The task quality of the whole program of one group of component artifacts
    (``paths`` by component name, one format, precision and shape kind), measured by the
    task protocol through :func:`program_runner`, tiled at the predictor's static size
    (whole photos for dynamic-shape artifacts). An fp32 group's figure is computed once
    per file contents and data (every reduced group compares against it)."""
    from edgezoo.export.timing import stage
    from edgezoo.files import sha256_file

    contract, tile, align = program_entry(paths, fmt)
    data = quality_set(contract, split, images)
    key = None
    if precision == "fp32":
        digests = tuple(sorted((name, sha256_file(path)) for name, path in paths.items()))
        key = _fp32_key(digests, fmt, tile, align, data, seed)
        if key in _FP32_QUALITY:
            return _FP32_QUALITY[key]
    with stage("program quality"):
        run = program_runner(paths, fmt, precision, contract, seed)
        result = protocol_for(contract["task"]).measure_quality(contract, run, data, tile=tile, align=align,
                                                                seed=seed)
    if key is not None:
        _FP32_QUALITY[key] = result
    return result


def program_partners(path: str | Path, contract: Contract) -> dict[str, Path]:
    """The artifact at ``path`` (one component of a program of several) with its partner
    artifacts beside it: the same format, precision and shape, one per other component
    (named as the export names them). BadInputError names a missing one."""
    path = Path(path)
    own = contract["component"]
    paths = {own: path}
    for component in contract["spec"]["components"]:
        name = component["name"]
        if name != own:
            partner = path.with_name(path.name.replace(f"-{own}-", f"-{name}-", 1))
            if partner == path or not partner.exists():
                raise BadInputError(f"{path.name} is the {own} of {contract.get('model')}'s program, whose task quality "
                                    f"is measured through the whole program: its {name} ({partner.name}) is not "
                                    "beside it")
            paths[name] = partner
    return paths


def quality_set(contract: Contract, split: str, images: Any = None) -> QualitySet:
    """The protocol's ``split`` data (``images``: the caller's, or a ready QualitySet)."""
    if isinstance(images, QualitySet):
        return images
    return protocol_for(contract["task"]).quality_set(contract, split, images)


def task_quality(
    path: str | Path, fmt: str, precision: str, tile: tuple[int, int] | None, align: int,
    images: Any = None, seed: int = QUALITY_SEED, *, contract: Contract | None = None, split: str = "evaluation",
) -> QualityResult:
    """The artifact's task quality, measured by the protocol its contract names, on
    ``images`` (a :class:`QualitySet`, or the protocol's data in its own form; default:
    the ``split`` of the task's data). ``tile`` None runs whole inputs (a dynamic-shape
    restoration artifact). One component of a program of several is measured through
    the whole program, with its partner artifacts beside it (:func:`program_quality`,
    which takes the tile and alignment from the artifacts)."""
    from edgezoo.export.timing import stage

    contract = contract or artifact_contract(path, fmt)
    if contract.get("component"):
        return program_quality(program_partners(path, contract), fmt, precision, images, seed, split=split)
    with stage("task quality"):
        data = quality_set(contract, split, images)
        run = artifact_runner(path, fmt, precision)
        return protocol_for(contract["task"]).measure_quality(contract, run, data, tile=tile, align=align, seed=seed)


_FP32_QUALITY: dict[tuple, QualityResult] = {}  # by file content and data; small, per process


def _data_key(data: Any) -> Any:
    if isinstance(data, dict):
        return tuple(sorted((n, np.shape(v), float(np.sum(v))) for n, v in data.items()))
    if isinstance(data, (tuple, list)):
        digest = hashlib.sha256()
        for array in data:
            array = np.ascontiguousarray(array)
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()
    return data


def _fp32_key(files: Any, fmt: str, tile: tuple[int, int] | None, align: int, data: QualitySet, seed: int) -> tuple:
    """What an fp32 figure depends on: the files' contents, the serving and the data."""
    return (files, fmt, tile and tuple(tile), align, data.dataset, data.split, _data_key(data.data), seed)


def reference_quality(
    path: str | Path, fmt: str, tile: tuple[int, int] | None, align: int,
    images: Any = None, seed: int = QUALITY_SEED, *, contract: Contract | None = None, split: str = "evaluation",
) -> QualityResult:
    """The fp32 artifact's score, computed once per file content and data (every int8
    attempt of an export compares against it)."""
    from edgezoo.files import sha256_file

    contract = contract or artifact_contract(path, fmt)
    if contract.get("component"):
        return program_quality(program_partners(path, contract), fmt, "fp32", images, seed, split=split)
    data = quality_set(contract, split, images)
    key = _fp32_key(sha256_file(path), fmt, tile, align, data, seed)
    if key not in _FP32_QUALITY:
        _FP32_QUALITY[key] = task_quality(path, fmt, "fp32", tile, align, data, seed, contract=contract)
    return _FP32_QUALITY[key]


def _tolerance_of(result: QualityResult) -> tuple[str, QualityTolerance]:
    """(task, tolerance) whose metric ``result`` carries."""
    from edgezoo.tasks import _PROTOCOLS

    for task, protocol in _PROTOCOLS.items():
        tolerance = protocol.int8_tolerance(task)
        if tolerance is not None and result.value(tolerance.metric) is not None:
            return task, tolerance
    raise ValueError(f"no int8 quality gate reads a metric of {result.dataset} ({sorted(result.metrics)})")


def gate(name: str, candidate: QualityResult, fp32: QualityResult, tolerance: QualityTolerance | None = None,
         precision: str = "int8") -> QualityGate:
    """The ``precision`` (int8) ``candidate``'s figure beside ``fp32``'s, under
    ``tolerance`` (default: the gate of the task whose metric the results carry)."""
    tolerance = tolerance or _tolerance_of(candidate)[1]
    value, base = candidate.value(tolerance.metric), fp32.value(tolerance.metric)
    assert value is not None and base is not None, (tolerance.metric, candidate.dataset)
    metric = (f"PSNR, {candidate.degradation}" if tolerance.metric == "psnr_db"
              else f"{tolerance.metric} on {candidate.dataset}")
    return QualityGate(artifact=name, metric=metric, value=value, fp32=base, tolerance=tolerance.tolerance,
                       unit=tolerance.unit, margin=paired_standard_error(candidate, fp32),
                       higher_is_better=tolerance.higher_is_better, relative=tolerance.relative, precision=precision)


def paired_standard_error(candidate: QualityResult, fp32: QualityResult) -> float:
    """Standard error (in points) of the accuracy difference of two artifacts scored on
    the same examples: sqrt(discordant pairs) / n. Only the examples on which they
    disagree carry information; with 98 changed predictions in 5,000, a measured loss of
    0.12 points is 0.12 +- 0.20, and a gate on the bare difference passed an ONNX int8
    MaxViT that then lost 0.54 points on the test split. 0 when outcomes are unknown."""
    a, b = candidate._outcomes, fp32._outcomes
    if a is None or b is None or len(a) != len(b) or not a:
        return 0.0
    discordant = int(np.sum(np.asarray(a) != np.asarray(b)))
    return round(100.0 * float(np.sqrt(discordant)) / len(a), 3)


def whole_restorer(run: Any, align: int) -> Any:
    """An HxWx3 -> HxWx3 restorer from a dynamic-shape NCHW function: the whole image in
    one call, reflect-padded to ``align`` and cropped back, as the runtime serves it."""
    from edgezoo.zoo.evaluate import nchw_restorer

    return nchw_restorer(run, align)


def torch_runner(model: Any, contract: Contract) -> RunFunction:
    """A PyTorch module as a :data:`RunFunction` over the contract's names (one input)."""
    import torch

    from edgezoo.export.capture import torch_threads

    names = [t["name"] for t in contract["io"]["inputs"]]
    output = contract["io"]["outputs"][0]["name"]

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch_threads(1), torch.inference_mode():
            return {output: model(*(torch.from_numpy(inputs[n]) for n in names)).numpy()}

    return run


def restoration_contract(tile: tuple[int, int] | None, channels: int = 3, task: str = "denoise") -> Contract:
    """The contract of a one-image restoration network (what callers without an
    artifact, such as :func:`model_quality`, measure by default)."""
    sides = list(tile) if tile is not None else ["H", "W"]
    return {"task": task, "io": {"inputs": [{"name": "image", "role": "image", "shape": [1, channels, *sides]}],
                                 "outputs": [{"name": "restored", "role": "image", "shape": [1, channels, *sides]}]}}


def model_quality(
    model: Any, tile: tuple[int, int], align: int, images: Any = None, seed: int = QUALITY_SEED,
    *, contract: Contract | None = None, split: str = "evaluation",
) -> QualityResult:
    """The PyTorch reference's score, served exactly as an artifact of ``contract``
    (default: a restoration network tiled at ``tile``) is: the base of the int8 gate
    where the folder holds no fp32 sibling."""
    contract = contract or restoration_contract(tile)
    data = quality_set(contract, split, images)
    return protocol_for(contract["task"]).measure_quality(contract, torch_runner(model, contract), data,
                                                          tile=tile, align=align, seed=seed)
