"""Choose variant, artifact, backend and device for a latency budget, and say why.

Candidates are every artifact of every variant (a model, or all models of a task)
times every target of the inventory that reads its format. Each gets a p90 latency
for one image of ``image_size``: measured on this device profile (``edgezoo bench``),
scaled from a measurement at another size, or estimated from the manifest's FLOPs and
the throughput this profile measured on other artifacts (flagged ``estimated``). A
sampler program whose manifest records quality at several step counts becomes one
option per step count (size x steps: a smaller model with more steps may beat a larger
one with fewer at the same cost). The plan is the best-quality option (by the task's
metric and its direction: PSNR up, a Fréchet distance down) whose p90 fits the budget; among equal quality the
first device kind in ``prefer``, then measured before estimated, then the faster.
With no budget: the fastest option (``prefer`` breaks near-ties). Nothing fits:
:class:`BudgetUnreachableError` naming the fastest option and its latency.

Each option also gets the peak memory of one call at its call shape (measured by
``edgezoo bench`` at that shape, else scaled by pixel count from the nearest measured
shape; a fixed-shape artifact's call is its tile, so its peak does not grow with the
image). Options whose known peak exceeds ``max_memory_mb`` (default: a share of the
host's available memory) are rejected before the budget is looked at: a large photo
goes to tiles rather than to a dynamic graph that swaps. Unknown memory is kept, and said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from edgezoo.errors import BadInputError, BudgetUnreachableError
from edgezoo.manifests import Artifact, Manifest
from edgezoo.runtimes.backends.base import Device
from edgezoo.runtimes.inventory import KINDS, Inventory, Target, probe_inventory
from edgezoo.runtimes.profile import DeviceProfile, device_profile, host_rate_gflops
from edgezoo.runtimes.serving import tile_layout
from edgezoo.runtimes.tiling import round_up, tile_count
from edgezoo.tasks.feeds import IMAGE_ROLES

DEFAULT_PREFER: tuple[str, ...] = ("npu", "gpu", "cpu")
DEFAULT_IMAGE_SIZE = (256, 256)
QUALITY_TOLERANCE_DB = 0.05  # qualities closer than this are equal (evaluation noise)
NEAR_TIE = 0.05  # with no budget, options within 5% of the fastest count as equally fast
# With nothing measured on this profile, a backend is assumed to reach this share of
# the host's measured fp32 matmul rate (conservative for convolutional restoration nets).
FALLBACK_EFFICIENCY = 0.2
# With no --max-memory-mb, an option may use at most this share of the memory the host
# has available when planning: the rest is headroom for the decoded image, the output
# and its tiles' blending buffers, the backend's own arenas (which bench's peak can
# under-count when it was measured at another shape) and whatever else runs here, so
# that a plan that "fits" does not push the host into swap (the 5 GB dynamic graph
# that took 4x its planned time).
DEFAULT_MEMORY_SHARE = 0.5


@dataclass
class Option:
    """One way to run: a variant's artifact on a backend's device, and what it costs."""

    model: str
    task: str
    artifact: Artifact
    target: Target
    export_dir: Path | None = None
    call_shape: list[int] = field(default_factory=list)
    calls: int = 1
    p50_ms: float | None = None
    p90_ms: float | None = None
    estimated: bool = False
    basis: str = ""
    quality: float | None = None
    quality_source: str = ""
    metric: str = "psnr_db"
    unit: str = "dB"
    higher_is_better: bool = True
    steps: int | None = None  # a sampler's number of steps, when the option fixes it
    peak_mb: float | None = None  # peak memory of one call at call_shape (load included)
    memory_basis: str = ""
    # a model of several components: the artifacts of its other components run beside
    # this one (a predictor, a once-per-request text encoder), by component name
    partners: dict[str, Artifact] = field(default_factory=dict)

    def quality_text(self) -> str:
        """``31.40 dB`` (PSNR), ``92.10 % top1`` or ``4.08 fd_fmnist (lower is better)``;
        ``unknown`` when not measured."""
        if self.quality is None:
            return "unknown"
        if self.metric == "psnr_db":
            return f"{self.quality:.2f} dB"
        words = " ".join(w for w in (f"{self.quality:.2f}", self.unit, self.metric) if w)
        return words if self.higher_is_better else f"{words} (lower is better)"

    @property
    def score(self) -> float | None:
        """The quality with higher always better (a distance negated)."""
        if self.quality is None:
            return None
        return self.quality if self.higher_is_better else -self.quality

    @property
    def backend(self) -> str:
        return self.target.backend

    @property
    def device(self) -> str:
        return self.target.device.name

    @property
    def kind(self) -> str:
        return self.target.kind

    @property
    def label(self) -> str:
        if self.partners and self.steps == 0:
            return f"{self.model} {self.partners_key()} alone on {self.target.key}"
        steps = f" x {self.steps} steps" if self.steps is not None else ""
        with_partners = f"{self.partners_key()} + " if self.partners else ""
        return f"{self.model} {with_partners}{self.artifact.key}{steps} on {self.target.key}"

    @property
    def choice(self) -> str:
        """The label without the model's name: what runs, how many steps, where."""
        return self.label[len(self.model) + 1:]

    def partners_key(self) -> str:
        return " + ".join(a.key for a in self.partners.values())

    @property
    def artifact_path(self) -> Path | None:
        return self.export_dir / self.artifact.file if self.export_dir else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "task": self.task, "artifact": self.artifact.key,
            "format": self.artifact.format, "precision": self.artifact.precision,
            "file": str(self.artifact_path) if self.artifact_path else self.artifact.file,
            "backend": self.backend, "device": self.device, "kind": self.kind,
            "call_shape": self.call_shape, "calls_per_image": self.calls,
            "p50_ms": _r(self.p50_ms), "p90_ms": _r(self.p90_ms), "estimated": self.estimated,
            "latency_basis": self.basis, "quality": _r(self.quality), "quality_metric": self.metric,
            "quality_higher_is_better": self.higher_is_better, "quality_source": self.quality_source,
            "steps": self.steps, "peak_mb": _r(self.peak_mb), "memory_basis": self.memory_basis,
            "partners": {name: str(self.export_dir / a.file) if self.export_dir else a.file
                         for name, a in self.partners.items()},
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class Rejected:
    option: Option
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.option.to_dict(), "reason": self.reason}


@dataclass
class Plan:
    """The choice, the sentences that justify it, and every option not taken with why."""

    chosen: Option
    reasons: list[str]
    rejected: list[Rejected]
    budget_ms: float | None
    prefer: tuple[str, ...]
    image_size: tuple[int, int]
    device_profile: str
    max_memory_mb: float | None = None  # the limit the plan was checked against (None: none)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen.to_dict(), "reasons": list(self.reasons),
            "rejected": [r.to_dict() for r in self.rejected],
            "budget_ms": self.budget_ms, "prefer": list(self.prefer),
            "image_size": list(self.image_size), "device_profile": self.device_profile,
            "max_memory_mb": _r(self.max_memory_mb),
        }

    def summary(self) -> str:
        c = self.chosen
        flag = " (estimated)" if c.estimated else ""
        memory = f", peak {_mb(c.peak_mb)}{' (scaled)' if c.memory_basis.startswith('scaled') else ''}" \
            if c.peak_mb is not None else ""
        return f"{c.label}: p90 {_fmt(c.p90_ms)}{flag}{memory} per {self.image_size[0]}x{self.image_size[1]} image"


# ---------------------------------------------------------------------------------------
# Inputs


def multiple_of(manifest: Manifest) -> int:
    spec = manifest.io.inputs[0] if manifest.io.inputs else None
    return max(1, (spec.multiple_of if spec and spec.multiple_of else 0) or manifest.preprocessing.pad_to_multiple_of)


def is_static(artifact: Artifact) -> bool:
    return artifact.static_shape and all(isinstance(d, int) and d > 0 for d in artifact.input_shape)


def static_layout(artifact: Artifact, manifest: Manifest, height: int, width: int) -> tuple[int, int, int, int]:
    """For a fixed-shape artifact and an image: (padded height, padded width, overlap, align).
    Images larger than a tile are reflect-padded to the model's multiple so tiles align."""
    return tile_layout(height, width, int(artifact.input_shape[-2]), int(artifact.input_shape[-1]), multiple_of(manifest))


def call_plan(artifact: Artifact, manifest: Manifest, image_size: tuple[int, int],
              steps: int | None = None) -> tuple[list[int], int]:
    """(input shape of one artifact call, calls per request) for an image of
    ``image_size``, by the model's program: ``single`` fits the image to one call,
    ``tiled`` tiles it, and a ``sampler`` calls its step graph once per step for each
    tile (a step graph with no picture input, generating from noise, once per step at
    its own shape): a request costs the sum of its calls (tiles x steps). ``steps``
    overrides a sampler program's own number of steps."""
    height, width = image_size
    spec = manifest.model_spec()
    program = spec.program
    if program.kind == "sampler":
        steps = int(steps or (program.sampler or {}).get("steps", 1))
    else:
        steps = 1
    # a request without a picture to fit or tile (a sample generated from noise) is served
    # whole at the component's own shape, like a single program
    whole = program.kind == "single" or not any(t.role in IMAGE_ROLES for t in spec.component().inputs)
    if whole and is_static(artifact):
        return [int(d) for d in artifact.input_shape], steps
    if is_static(artifact):
        shape = [int(d) for d in artifact.input_shape]
        ph, pw, overlap, align = static_layout(artifact, manifest, height, width)
        return shape, tile_count(ph, pw, shape[-2], shape[-1], overlap, align) * steps
    m = multiple_of(manifest)
    channels = next((d for d in artifact.input_shape[1:2] if isinstance(d, int)), 3)
    return [1, channels, round_up(height, m), round_up(width, m)], steps


def refine_program(manifest: Manifest) -> Any:
    """The predict-and-refine loop of a manifest's sampler program
    (:class:`edgezoo.runtimes.refine.RefineProgram`), or None for any other program."""
    from edgezoo.runtimes.refine import RefineProgram

    program = manifest.model_spec().program
    if program.kind != "sampler" or "refine" not in (program.sampler or {}):
        return None
    return RefineProgram.from_sampler(program.sampler or {})


def program_partners(artifact: Artifact, manifest: Manifest) -> dict[str, Artifact] | None:
    """For an artifact of the component a program of several calls (a predict-and-refine
    step graph, or a tiled net fed by once-per-request components): the artifact of each
    other component of the same format, precision and shape kind (exported in the same
    group, run beside it on the same backend); None when one is missing."""
    spec = manifest.model_spec()
    partners: dict[str, Artifact] = {}
    for component in spec.components:
        if component.name == spec.program.component:
            continue
        match = next((a for a in manifest.artifacts if a.component == component.name and a.format == artifact.format
                      and a.precision == artifact.precision and a.static_shape == artifact.static_shape), None)
        if match is None:
            return None
        partners[component.name] = match
    return partners


def refine_call_plan(artifact: Artifact, predictor: Artifact, manifest: Manifest, image_size: tuple[int, int],
                     steps: int) -> tuple[list[int], int, list[int], int]:
    """(predictor call shape, predictor calls, step-graph call shape, step-graph calls) of
    a predict-and-refine request on an image of ``image_size``: a fixed-shape predictor
    tiles the picture, and each tile is refined by ``steps`` calls at the step graph's
    shape (x the program's scale); a dynamic pair runs the padded picture whole."""
    height, width = image_size
    scale = manifest.model_spec().program.scale
    m = max(1, manifest.preprocessing.pad_to_multiple_of)
    if is_static(predictor):
        shape = [int(d) for d in predictor.input_shape]
        ph, pw, overlap, align = tile_layout(height, width, shape[-2], shape[-1], m)
        tiles = tile_count(ph, pw, shape[-2], shape[-1], overlap, align)
        step_shape = [int(d) for d in artifact.input_shape] if is_static(artifact) else \
            [1, shape[1], shape[-2] * scale, shape[-1] * scale]
        return shape, tiles, step_shape, tiles * steps
    channels = next((d for d in predictor.input_shape[1:2] if isinstance(d, int)), 3)
    shape = [1, channels, round_up(height, m), round_up(width, m)]
    return shape, 1, [1, channels, shape[-2] * scale, shape[-1] * scale], steps


def quality_of(
    artifact: Artifact, manifest: Manifest, reference: Manifest | None, key: tuple[str, str] | None = None,
) -> tuple[float | None, str]:
    """The mean of the task's primary metric (PSNR for restoration, top-1 accuracy for a
    classifier): the artifact's own, else its manifest's, else the shipped manifest's.
    ``key`` = (dataset, degradation) picks the matching result, so variants are compared
    on the same images and degradation. An int8 artifact never borrows the model's
    figure: quantization costs quality, so without its own measurement it is unknown."""

    def pick(results: list[Any]) -> Any:
        return next((q for q in results if (q.dataset, q.degradation) == key), results[0] if results else None)

    metric = manifest.model_spec().metric.name
    if artifact.quality is not None and (key is None or (artifact.quality.dataset, artifact.quality.degradation) == key):
        q = artifact.quality
        return q.value(metric), f"this artifact on {q.dataset}, {q.degradation}"
    if artifact.precision == "int8":
        return None, "not measured for this int8 artifact"
    for source, m in (("export manifest", manifest), ("shipped manifest", reference)):
        q = pick(m.quality) if m is not None else None
        if q is not None:
            return q.value(metric), f"{source}: {q.dataset}, {q.degradation}"
    return None, "no quality recorded"


def step_choices(artifact: Artifact, manifest: Manifest, reference: Manifest | None,
                 key: tuple[str, str] | None) -> list[tuple[int | None, float | None, str]]:
    """(steps, quality, source) per step count a sampler's manifest measured (its
    quality entries with a ``steps`` figure), else one entry with no step count and the
    model's quality; an int8 artifact's quality stays unknown, as in :func:`quality_of`."""
    spec = manifest.model_spec()
    metric = spec.metric.name
    if spec.program.kind == "sampler":
        for source, m in (("export manifest", manifest), ("shipped manifest", reference)):
            rows = [q for q in (m.quality if m is not None else []) if "steps" in q.metrics and q.value(metric) is not None]
            # the step counts measured on the images and degradation the variants are compared on, where there are some
            rows = [q for q in rows if (q.dataset, q.degradation) == key] or rows
            if rows:
                if artifact.precision == "int8":
                    return [(int(q.metrics["steps"]), None, "not measured for this int8 artifact") for q in rows]
                return [(int(q.metrics["steps"]), q.value(metric), f"{source}: {q.dataset}, {q.note or q.degradation}")
                        for q in rows]
    quality, source = quality_of(artifact, manifest, reference, key)
    if refine_program(manifest) is not None:  # nothing measured per step count: the predictor alone, or every step
        steps = int((spec.program.sampler or {}).get("steps", 1))
        return [(0, None, "no quality recorded per step count"), (steps, None, "no quality recorded per step count")]
    return [(None, quality, source)]


def quality_key(items: list[tuple[Manifest, Path | None]], references: dict[str, Manifest | None]) -> tuple[str, str] | None:
    """The (dataset, degradation) every variant reports, if there is one, else the first
    seen; keys the artifacts themselves were measured at come first, so that artifacts
    of different precisions are compared on their own figures."""
    keys: list[set[tuple[str, str]]] = []
    measured: list[tuple[str, str]] = []
    for manifest, _ in items:
        own = [(a.quality.dataset, a.quality.degradation) for a in manifest.artifacts if a.quality is not None]
        results = list(manifest.quality) + list((references.get(manifest.name) or manifest).quality)
        keys.append({(q.dataset, q.degradation) for q in results} | set(own))
        measured += [k for k in own if k not in measured]
    common = set.intersection(*keys) if keys else set()
    ordered = measured + [k for ks in keys for k in sorted(ks)]
    return next((k for k in ordered if k in common), ordered[0] if ordered else None)


# ---------------------------------------------------------------------------------------
# Latency


def _pixels(shape: Sequence[Any]) -> int:
    dims = [int(d) for d in shape]
    return dims[0] * dims[-2] * dims[-1] if len(dims) == 4 else max(1, math.prod(dims))


@dataclass
class Throughput:
    """GFLOP/s this profile achieved, by (backend, device, format, precision) (one
    backend runs an ONNX file and its own IR at different speeds), (backend, device,
    precision), (backend, device) and kind."""

    exact: dict[tuple[str, str, str], float] = field(default_factory=dict)
    target: dict[tuple[str, str], float] = field(default_factory=dict)
    kind: dict[str, float] = field(default_factory=dict)
    by_format: dict[tuple[str, str, str, str], float] = field(default_factory=dict)

    def add(self, backend: str, device: str, kind: str, precision: str, gflops_s: float, fmt: str = "") -> None:
        for table, key in ((self.by_format, (backend, device, fmt, precision)), (self.exact, (backend, device, precision)),
                           (self.target, (backend, device)), (self.kind, kind)):
            table[key] = min(table.get(key, gflops_s), gflops_s)  # slowest seen: conservative


def measured_throughput(
    candidates: Iterable[tuple[Manifest, Path | None]], inventory: Inventory, profile_id: str,
    gflops: dict[str, float | None] | None = None,
) -> Throughput:
    """The GFLOP/s each target reached on this profile, from every measured artifact
    whose model's FLOPs are known (``gflops``: model -> GFLOP/Mpix, default the manifests')."""
    kinds = {(t.backend, t.device.name): t.kind for t in inventory.targets}
    tput = Throughput()
    for manifest, _ in candidates:
        rate = (gflops or {}).get(manifest.name) or manifest.gflops_per_mpix
        if not rate and not any(a.gflops_per_mpix for a in manifest.artifacts):
            continue
        for artifact in manifest.artifacts:
            per_mpix = artifact.gflops_per_mpix or rate
            for entry in artifact.latency:
                if not per_mpix or entry.device_profile != profile_id or entry.p90_ms <= 0:
                    continue
                gflop = per_mpix * _pixels(entry.input_shape) / 1e6
                kind = kinds.get((entry.backend, entry.device))
                if kind:
                    tput.add(entry.backend, entry.device, kind, artifact.precision, gflop / (entry.p90_ms / 1000),
                             artifact.format)
    return tput


def estimate_latency(
    option: Option, gflops_per_mpix: float | None, profile_id: str, tput: Throughput,
    fallback_gflops: Callable[[], float],
) -> None:
    """Fill ``option``'s p50/p90 for one image, with its basis in words (FLOPs: the
    artifact's own, for one component of several, else the model's)."""
    gflops_per_mpix = option.artifact.gflops_per_mpix or gflops_per_mpix
    entries = [e for e in option.artifact.latency
               if e.device_profile == profile_id and e.backend == option.backend and e.device == option.device]
    want = _pixels(option.call_shape)
    calls = option.calls
    per = f"{calls} calls of {option.call_shape[-2]}x{option.call_shape[-1]}" if calls > 1 else \
        f"{option.call_shape[-2]}x{option.call_shape[-1]}"
    exact = [e for e in entries if list(e.input_shape) == option.call_shape]
    if exact:
        e = exact[-1]
        option.p50_ms, option.p90_ms = e.p50_ms * calls, e.p90_ms * calls
        option.basis = f"measured on this device profile ({e.runs} runs, {per})"
        return
    if entries:
        e = min(entries, key=lambda e: abs(_pixels(e.input_shape) - want))
        scale = want / _pixels(e.input_shape)
        option.p50_ms, option.p90_ms = e.p50_ms * scale * calls, e.p90_ms * scale * calls
        option.estimated = True
        shape = "x".join(str(d) for d in e.input_shape[-2:])
        option.basis = f"scaled by pixel count from a {shape} measurement on this device profile ({per})"
        return
    if not gflops_per_mpix:
        option.basis = "not measured here and the manifest has no FLOPs to estimate from"
        return
    gflop = gflops_per_mpix * want / 1e6
    rate, source = None, ""
    for table, key, words in (
        (tput.by_format, (option.backend, option.device, option.artifact.format, option.artifact.precision),
         f"{option.target.key} {option.artifact.format} {option.artifact.precision}"),
        (tput.exact, (option.backend, option.device, option.artifact.precision), f"{option.target.key} {option.artifact.precision}"),
        (tput.target, (option.backend, option.device), option.target.key),
        (tput.kind, option.kind, f"other {option.kind} backends"),
        (tput.kind, "cpu", "this host's CPU"),
    ):
        if key in table:
            rate, source = table[key], f"the slowest rate measured on {words} here ({table[key]:.1f} GFLOP/s)"
            break
    if rate is None:
        peak = fallback_gflops()
        rate = peak * FALLBACK_EFFICIENCY
        source = (f"{FALLBACK_EFFICIENCY:.0%} of this device profile's best measured fp32 matmul rate "
                  f"({peak:.0f} GFLOP/s); run `edgezoo bench` for a measurement")
    ms = gflop / rate * 1000 * calls
    option.p50_ms = option.p90_ms = ms
    option.estimated = True
    option.basis = f"estimated from {gflops_per_mpix:.1f} GFLOP/Mpix at {source} ({per})"


def estimate_refine(
    option: Option, manifest: Manifest, image_size: tuple[int, int], gflops_per_mpix: float | None, profile_id: str,
    tput: Throughput, fallback_gflops: Callable[[], float],
) -> None:
    """A predict-and-refine option's latency and memory: its predictor's calls (one per
    tile) plus ``steps`` calls of the step graph per tile, each costed like any artifact
    (measured, scaled or estimated, flagged if either part is); the peak is the larger
    part's, as the calls run one after another. Zero steps: the predictor alone."""
    (name, predictor), = option.partners.items()
    steps = int(option.steps if option.steps is not None else
                (manifest.model_spec().program.sampler or {}).get("steps", 1))
    p_shape, p_calls, s_shape, s_calls = refine_call_plan(option.artifact, predictor, manifest, image_size, steps)
    first = Option(option.model, option.task, predictor, option.target, option.export_dir, p_shape, p_calls)
    estimate_latency(first, gflops_per_mpix, profile_id, tput, fallback_gflops)
    estimate_memory(first, profile_id)
    option.call_shape, option.calls = s_shape, s_calls
    if steps == 0:
        option.p50_ms, option.p90_ms, option.estimated = first.p50_ms, first.p90_ms, first.estimated
        option.basis = f"the {name} alone: {first.basis}"
        option.peak_mb, option.memory_basis = first.peak_mb, f"the {name}: {first.memory_basis}"
        option.call_shape, option.calls = p_shape, p_calls
        return
    estimate_latency(option, gflops_per_mpix, profile_id, tput, fallback_gflops)
    estimate_memory(option, profile_id)
    option.basis = f"{name} {first.basis}; + {steps} steps: {option.basis}"
    _add_part(option, first, name)


def _add_part(option: Option, part: Option, name: str) -> None:
    """Fold ``part`` (the calls of component ``name``, run one after another with
    ``option``'s) into ``option``: estimated if either is, latency summed (unknown if
    either is), peak the larger one's (unknown if either is)."""
    option.estimated = option.estimated or part.estimated
    if part.p90_ms is None or option.p90_ms is None:
        option.p50_ms = option.p90_ms = None
    else:
        option.p50_ms = (part.p50_ms or 0.0) + (option.p50_ms or 0.0)
        option.p90_ms = part.p90_ms + option.p90_ms
    if part.peak_mb is None or option.peak_mb is None:  # one part unknown: the peak is unknown
        option.peak_mb = None
        option.memory_basis = part.memory_basis if part.peak_mb is None else option.memory_basis
    elif part.peak_mb > option.peak_mb:
        option.peak_mb, option.memory_basis = part.peak_mb, f"the {name}: {part.memory_basis}"


def estimate_once(
    option: Option, gflops_per_mpix: float | None, profile_id: str, tput: Throughput,
    fallback_gflops: Callable[[], float],
) -> None:
    """An option of a program whose partners run once per request (``Program.once``: a
    text encoder): the program's component at its calls (tiles) like any artifact, plus
    one call of each partner at its own shape, costed the same way (flagged if any part
    is estimated); the peak is the largest part's, as the calls run one after another
    (unknown if any part's is)."""
    estimate_latency(option, gflops_per_mpix, profile_id, tput, fallback_gflops)
    estimate_memory(option, profile_id)
    for name, artifact in option.partners.items():
        part = Option(option.model, option.task, artifact, option.target, option.export_dir,
                      [int(d) for d in artifact.input_shape], 1)
        estimate_latency(part, None, profile_id, tput, fallback_gflops)
        estimate_memory(part, profile_id)
        option.basis = f"{option.basis}; + the {name} once: {part.basis}"
        _add_part(option, part, name)


# ---------------------------------------------------------------------------------------
# Memory


def estimate_memory(option: Option, profile_id: str) -> None:
    """Fill ``option``'s peak memory for one call at its call shape, with its basis:
    ``bench``'s peak at that shape on this device profile, else the nearest measured
    shape's scaled by pixel count (activations grow with pixels; the weights in the
    measured figure are scaled too, so scaling up over-states it a little), else
    unknown. Calls run one after another, so a tiled request peaks at one tile's call."""
    entries = [e for e in option.artifact.latency
               if e.device_profile == profile_id and e.backend == option.backend and e.device == option.device
               and e.peak_mb is not None]
    shape = f"{option.call_shape[-2]}x{option.call_shape[-1]}"
    exact = [e for e in entries if list(e.input_shape) == option.call_shape]
    if exact:
        option.peak_mb = exact[-1].peak_mb
        option.memory_basis = f"measured on this device profile at {shape}"
        return
    if entries:
        want = _pixels(option.call_shape)
        e = min(entries, key=lambda e: abs(_pixels(e.input_shape) - want))
        option.peak_mb = e.peak_mb * want / _pixels(e.input_shape)
        have = "x".join(str(d) for d in e.input_shape[-2:])
        option.memory_basis = f"scaled by pixel count from {_mb(e.peak_mb)} measured at {have} to {shape}"
        return
    others = [e for e in option.artifact.latency
              if e.device_profile == profile_id and e.peak_mb is not None and e.backend != option.backend]
    if others:  # the same file on another backend: its weights and activations are the same size
        want = _pixels(option.call_shape)
        e = min(others, key=lambda e: (abs(_pixels(e.input_shape) - want), -e.peak_mb))
        option.peak_mb = e.peak_mb * want / _pixels(e.input_shape)
        have = "x".join(str(d) for d in e.input_shape[-2:])
        scaled = f", scaled by pixel count to {shape}" if list(e.input_shape) != option.call_shape else ""
        option.memory_basis = (f"estimated from {_mb(e.peak_mb)} measured for the same file on {e.backend} "
                               f"at {have}{scaled} (not measured on {option.backend})")
        return
    option.peak_mb = None
    option.memory_basis = "peak memory unknown: not measured on this device profile"


def default_memory_limit_mb() -> float | None:
    """:data:`DEFAULT_MEMORY_SHARE` of the host's available memory in MB (psutil's
    ``virtual_memory().available``), or None (no limit) where psutil is not installed."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        return float(psutil.virtual_memory().available) / 2**20 * DEFAULT_MEMORY_SHARE
    except Exception:  # a sandbox that hides /proc/meminfo: plan without a limit
        return None


def _mb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} MB"


# ---------------------------------------------------------------------------------------
# The choice

# Which backends read which format, to explain an artifact no usable backend reads.
_FORMAT_READERS = {"onnxruntime": ("onnx",), "openvino": ("openvino", "onnx"), "litert": ("tflite",), "coreml": ("coreml",)}
_NATIVE = {("onnx", "onnxruntime"): 0, ("openvino", "openvino"): 0, ("tflite", "litert"): 0, ("coreml", "coreml"): 0}
_NO_DEVICE = Device("none", "cpu", "none", "no usable backend")


def _as_candidates(candidates: Iterable[Any]) -> list[tuple[Manifest, Path | None]]:
    out = []
    for c in candidates:
        if isinstance(c, Manifest):
            out.append((c, None))
        elif isinstance(c, tuple):
            out.append((c[0], Path(c[1]) if c[1] is not None else None))
        else:  # an ExportDir
            out.append((c.manifest, c.path))
    return out


def _stored_exports() -> list[tuple[Manifest, Path | None]]:
    """Every export in the artifact store (what ``edgezoo bench`` measured there is
    this profile's record of each backend's speed); none when the store cannot be read."""
    from edgezoo.runtimes.store import list_exports

    try:
        return [(e.manifest, e.path) for e in list_exports()]
    except Exception:  # an unreadable store must not break planning
        return []


def _measured_once(measure: Callable[[], float]) -> Callable[[], float]:
    """``measure`` called at most once: every estimate of one plan uses the same host
    rate (a matmul timing moves with load, and options costed at different rates would
    be ranked by the noise)."""
    value: list[float] = []

    def once() -> float:
        if not value:
            value.append(measure())
        return value[0]

    return once


def _reference(manifest: Manifest) -> Manifest | None:
    """The shipped manifest of the same model, whose quality an export may borrow, but
    only when the export was made from the shipped weights: an untrained export, or one
    of the caller's own weights, has no measured quality at all."""
    from edgezoo.manifests import packaged_manifest, packaged_names

    if manifest.name not in packaged_names():
        return None
    try:
        shipped = packaged_manifest(manifest.name)
    except Exception:  # a broken shipped manifest must not break planning
        return None
    mine, theirs = manifest.weights, shipped.weights
    if mine is not None and (theirs is None or (mine.recipe, mine.params) != (theirs.recipe, theirs.params)):
        return None
    return shipped


def _decider(chosen: Option, others: list[Option], rank: dict[str, int], prefer: Sequence[str]) -> str:
    """Which tie-break separated ``chosen`` from the runner-up, in words."""
    runner_up = min(others, key=lambda o: (rank[o.kind], o.estimated, o.p90_ms))
    if rank[runner_up.kind] != rank[chosen.kind]:
        return f"device preference: {chosen.kind} before {runner_up.kind} in prefer={','.join(prefer)}"
    if runner_up.estimated != chosen.estimated:
        return f"a measured latency, where {runner_up.target.key}'s is only estimated"
    if _fmt(chosen.p90_ms) == _fmt(runner_up.p90_ms):
        return (f"nothing: p90 {_fmt(chosen.p90_ms)} for it and for the next best ({runner_up.choice}), "
                f"so the first option listed is kept; `edgezoo bench` would measure them")
    return (f"speed: p90 {_fmt(chosen.p90_ms)} vs {_fmt(runner_up.p90_ms)} for the next best "
            f"({runner_up.choice})")


def _tie_rule(chosen: Option, other: Option, rank: dict[str, int], prefer: Sequence[str]) -> str:
    """The rule that put ``chosen`` before ``other``, an option tied with it, in words."""
    if rank[other.kind] != rank[chosen.kind]:
        return f"device preference ({chosen.kind} before {other.kind} in prefer={','.join(prefer)})"
    if other.estimated != chosen.estimated:
        return "a measured latency before an estimated one"
    if _fmt(chosen.p90_ms) == _fmt(other.p90_ms):
        return "nothing: equal p90, so the first option listed is kept"
    return f"the faster p90 ({_fmt(chosen.p90_ms)} vs {_fmt(other.p90_ms)})"


def gpu_refusal(art: Artifact) -> str | None:
    """Why a .tflite artifact may not go to a GPU: the delegates recorded at export
    (LiteRT's analyzer) leave out ``gpu``. None when they include it or were not recorded."""
    if art.format != "tflite" or art.delegates is None or "gpu" in art.delegates:
        return None
    return (f"not GPU-delegate compatible: its export's LiteRT analysis records delegates "
            f"{', '.join(art.delegates) or 'none'} only")


def _fmt(ms: float | None) -> str:
    return "unknown" if ms is None else f"{ms:.1f} ms"


def plan(
    candidates: Iterable[Any],
    budget_ms: float | None = None,
    prefer: Sequence[str] = DEFAULT_PREFER,
    backend: str | None = None,
    precision: str | None = None,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    inventory: Inventory | None = None,
    profile: DeviceProfile | str | None = None,
    fallback_gflops: Callable[[], float] | None = None,
    exclude: dict[str, str] | None = None,
    artifact: str | None = None,
    max_memory_mb: float | None = None,
    measured_elsewhere: Iterable[tuple[Manifest, Path | None]] | None = None,
) -> Plan:
    """Choose how to run.

    Parameters
    ----------
    candidates : ExportDir, Manifest or (Manifest, folder) items
        The variants to choose among (one model's export, or all of a task's).
    budget_ms : float, optional
        p90 latency allowed for one image of ``image_size``; None picks the fastest.
    prefer : device kinds in order of preference ("npu", "gpu", "cpu"); kinds left out
        are not used.
    backend, precision : restrict to one backend / one artifact precision.
    image_size : (height, width) the latency is for (fixed-shape artifacts need tiles).
    inventory, profile : injected for tests and apps; default: probed on this host.
    fallback_gflops : the host's fp32 rate used when nothing was measured (default:
        a numpy matmul measurement).
    exclude : option label -> reason, for options that already failed to load.
    artifact : restrict to artifacts whose key (``onnx-fp32-static``), file name or
        format matches.
    max_memory_mb : peak memory (MB) one call may use; options whose known peak is
        above it are rejected (unknown peaks are kept, and said). None: the default,
        :data:`DEFAULT_MEMORY_SHARE` of the host's available memory where psutil is
        installed, else no limit; ``math.inf``: no limit.
    measured_elsewhere : (Manifest, folder) items, optional
        Other exports whose latencies measured on this device profile give each
        backend's throughput for estimates (default: every export in the artifact
        store), so an unmeasured model is costed by what the same backend and precision
        achieved on other models here, scaled by FLOPs and pixels.

    Returns
    -------
    Plan. Raises BudgetUnreachableError when nothing fits, BadInputError for bad options.
    """
    prefer = tuple(p.strip().lower() for p in prefer if p.strip())
    unknown = [p for p in prefer if p not in KINDS]
    if unknown or not prefer:
        raise BadInputError(f"--prefer takes device kinds from {', '.join(KINDS)}; got {', '.join(unknown) or 'none'}")
    if budget_ms is not None and budget_ms <= 0:
        raise BadInputError(f"the budget must be a positive number of milliseconds, got {budget_ms}")
    height, width = image_size
    if height < 1 or width < 1:
        raise BadInputError(f"image size must be positive, got {height}x{width}")
    if max_memory_mb is not None and not max_memory_mb > 0:
        raise BadInputError(f"the memory limit must be a positive number of MB, got {max_memory_mb}")
    default_limit = max_memory_mb is None
    limit = default_memory_limit_mb() if default_limit else max_memory_mb
    if limit is not None and math.isinf(limit):
        limit = None
    limit_words = "" if limit is None else f"the {limit:.0f} MB memory limit"
    limit_source = (f" (the default: {DEFAULT_MEMORY_SHARE:.0%} of this host's available memory)"
                    if default_limit else "")
    inventory = inventory if inventory is not None else probe_inventory()
    profile_id = profile if isinstance(profile, str) else (profile or device_profile()).id
    items = _as_candidates(candidates)
    if not items:
        raise BadInputError("nothing to plan: no variants given")
    references = {m.name: _reference(m) for m, _ in items}
    gflops = {m.name: m.gflops_per_mpix or (references[m.name].gflops_per_mpix if references[m.name] else None)
              for m, _ in items}
    elsewhere = [(m, f) for m, f in (_stored_exports() if measured_elsewhere is None else measured_elsewhere)
                 if not any(f is not None and folder is not None and Path(f) == Path(folder) for _, folder in items)]
    tput = measured_throughput(items + elsewhere, inventory, profile_id,
                               {**{m.name: m.gflops_per_mpix for m, _ in elsewhere}, **gflops})
    fallback = _measured_once(fallback_gflops or (lambda: host_rate_gflops(profile_id)))
    exclude = exclude or {}

    options: list[Option] = []
    rejected: list[Rejected] = []
    too_big: list[Option] = []  # runnable, but over the memory limit
    key = quality_key(items, references)
    for manifest, folder in items:
        reference = references[manifest.name]
        refine = refine_program(manifest) is not None
        several = len(manifest.model_spec().components) > 1
        program_component = manifest.model_spec().program.component
        # a model of several components has options of the artifacts of the one its program
        # calls, each with its partners (the predictor, or the once-per-request text
        # encoder, of the same format and precision) costed beside it
        own = [a for a in manifest.artifacts if not several or a.component in (None, program_component)]
        for art, (steps, quality, source) in ((a, c) for a in own for c in step_choices(a, manifest, reference, key)):
            metric = manifest.model_spec().metric
            partners = program_partners(art, manifest) if several else {}
            shape, calls = call_plan(art, manifest, image_size, steps)
            targets = inventory.for_format(art.format)

            def make(t: Target) -> Option:
                return Option(manifest.name, manifest.task, art, t, folder, shape, calls, quality=quality,
                              quality_source=source, metric=metric.name, unit=metric.unit,
                              higher_is_better=metric.higher_is_better, steps=steps, partners=partners or {})

            if not targets:
                readers = [b for b, fmts in _FORMAT_READERS.items() if art.format in fmts]
                why = "; ".join(
                    f"{b} {'failed here: ' + inventory.failures[b] if b in inventory.failures else 'is not installed'}"
                    for b in readers
                ) or "no backend reads it"
                placeholder = Target(readers[0] if readers else "none", _NO_DEVICE, (art.format,))
                rejected.append(Rejected(make(placeholder), f"no usable backend on this host reads {art.format} ({why})"))
                continue
            for t in targets:
                option = make(t)
                if partners is None:
                    others = [c.name for c in manifest.model_spec().components if c.name != program_component]
                    rejected.append(Rejected(option, f"no {' and '.join(others)} artifact of the same format, "
                                                     f"precision and shape kind beside it: re-export with "
                                                     f"`edgezoo export {manifest.name} --format {art.format}`"))
                elif artifact and artifact not in (art.key, art.file, Path(art.file).name, art.format):
                    rejected.append(Rejected(option, f"artifact {art.key} was not asked for (artifact={artifact})"))
                elif option.label in exclude:
                    rejected.append(Rejected(option, exclude[option.label]))
                elif backend and t.backend != backend:
                    rejected.append(Rejected(option, f"backend {t.backend} was not asked for (backend={backend})"))
                elif precision and art.precision != precision:
                    rejected.append(Rejected(option, f"precision {art.precision} was not asked for (precision={precision})"))
                elif t.kind not in prefer:
                    rejected.append(Rejected(option, f"device kind {t.kind} is not in prefer={','.join(prefer)}"))
                elif art.parity is not None and art.parity.executed and not art.parity.passed:
                    rejected.append(Rejected(option, f"failed its parity check ({art.parity.psnr_db} dB < "
                                                     f"{art.parity.threshold_db} dB vs PyTorch)"))
                elif t.kind == "gpu" and (why_not_gpu := gpu_refusal(art)):
                    rejected.append(Rejected(option, why_not_gpu))
                elif folder is not None and (lost := next((folder / a.file for a in [art, *option.partners.values()]
                                                           if not (folder / a.file).exists()), None)):
                    rejected.append(Rejected(option, f"artifact file {lost} is missing; re-export it"))
                else:
                    if option.partners and refine:
                        estimate_refine(option, manifest, image_size, gflops[manifest.name], profile_id, tput,
                                        fallback)
                    elif option.partners:
                        estimate_once(option, gflops[manifest.name], profile_id, tput, fallback)
                    else:
                        estimate_latency(option, gflops[manifest.name], profile_id, tput, fallback)
                        estimate_memory(option, profile_id)
                    if limit is not None and option.peak_mb is not None and option.peak_mb > limit:
                        scaled = " (scaled)" if option.memory_basis.startswith("scaled") else ""
                        rejected.append(Rejected(option, f"peak {_mb(option.peak_mb)}{scaled} at "
                                                         f"{shape[-2]}x{shape[-1]} exceeds {limit_words}"))
                        too_big.append(option)
                    else:
                        options.append(option)

    size = f"{height}x{width}"
    if not options and too_big:
        smallest = min(too_big, key=lambda o: o.peak_mb)
        err = BudgetUnreachableError(
            f"nothing fits {limit_words}{limit_source} for a {size} image: the smallest peak is {smallest.label} "
            f"at {_mb(smallest.peak_mb)} ({smallest.memory_basis}); pass --max-memory-mb {math.ceil(smallest.peak_mb)} "
            f"or more (max_memory_mb= in Python) to allow it"
        )
        err.smallest = smallest  # type: ignore[attr-defined]
        raise err
    if not options:
        reasons = "; ".join(sorted({r.reason for r in rejected})) or "no artifacts in the manifests"
        names = ", ".join(sorted({m.name for m, _ in items}))
        raise BadInputError(f"no runnable option for {names} on this host: {reasons}")

    rank = {k: i for i, k in enumerate(prefer)}
    unknown = [o for o in options if o.p90_ms is None]
    options = [o for o in options if o.p90_ms is not None]
    reasons: list[str] = []
    if too_big:
        reasons.append(f"{len(too_big)} option(s) need more than {limit_words}{limit_source} for one {size} image "
                       f"(see rejected)")
    if budget_ms is not None:
        for o in unknown:
            rejected.append(Rejected(o, f"cannot check the budget: {o.basis}; run `edgezoo bench {o.model}`"))
        if not options:
            raise BudgetUnreachableError(
                f"cannot check a {budget_ms:g} ms budget: no option has a measured or estimable latency "
                f"({unknown[0].basis}); run `edgezoo bench {unknown[0].model}` first"
            )
        fastest = min(options, key=lambda o: (o.p90_ms, rank[o.kind]))
        fits = [o for o in options if o.p90_ms <= budget_ms]
        if not fits:
            err = BudgetUnreachableError(
                f"nothing fits {budget_ms:g} ms for a {size} image: the fastest option is {fastest.label} "
                f"at p90 {_fmt(fastest.p90_ms)}{' (estimated)' if fastest.estimated else ''}; "
                f"raise the budget or plan for a smaller image"
            )
            err.fastest = fastest  # type: ignore[attr-defined]
            err.options = options  # type: ignore[attr-defined]
            raise err
        best_q = max((o.score for o in fits if o.score is not None), default=None)

        def good(o: Option) -> bool:
            if best_q is None:
                return True
            return o.score is not None and o.score >= best_q - QUALITY_TOLERANCE_DB

        top = [o for o in fits if good(o)]
        chosen = min(top, key=lambda o: (rank[o.kind], o.estimated, o.p90_ms))
        reasons.append(f"{len(fits)} of {len(options) + len(unknown)} runnable options fit the {budget_ms:g} ms budget "
                       f"(p90, one {size} image)")
        if best_q is not None:
            at = f" at {chosen.steps} steps" if chosen.steps is not None else ""
            reasons.append(f"{chosen.model} {chosen.artifact.precision}{at} has the best quality among them: "
                           f"{chosen.quality_text()}{' PSNR' if chosen.metric == 'psnr_db' else ''} ({chosen.quality_source})")
        else:
            reasons.append("no option records its quality, so the choice goes by device preference and speed")
        if len(top) > 1:
            reasons.append(f"among the {len(top)} options of equal quality it wins on "
                           f"{_decider(chosen, [o for o in top if o is not chosen], rank, prefer)}")
        for o in options:
            if o is chosen:
                continue
            if o.p90_ms > budget_ms:
                why = f"p90 {_fmt(o.p90_ms)}{' (estimated)' if o.estimated else ''} exceeds the {budget_ms:g} ms budget"
            elif not good(o):
                why = (f"fits ({_fmt(o.p90_ms)}) but its quality is lower: "
                       f"{o.quality_text()} vs {chosen.quality_text()}")
            elif rank[o.kind] > rank[chosen.kind]:
                why = f"fits at equal quality, but {o.kind} ranks after {chosen.kind} in prefer"
            elif o.estimated and not chosen.estimated:
                why = f"fits at equal quality, but its latency is only estimated ({_fmt(o.p90_ms)})"
            else:
                why = f"fits at equal quality, but slower: p90 {_fmt(o.p90_ms)} vs {_fmt(chosen.p90_ms)}"
            rejected.append(Rejected(o, why))
    elif options:
        fastest = min(options, key=lambda o: (o.p90_ms, rank[o.kind]))
        near = [o for o in options if o.p90_ms <= fastest.p90_ms * (1 + NEAR_TIE)]
        chosen = min(near, key=lambda o: (rank[o.kind], o.estimated, o.p90_ms))
        reasons.append(f"no budget: the fastest of {len(options)} options with a known latency for one {size} image")
        if len(near) > 1:
            reasons.append(f"a tie: {len(near)} options are within {NEAR_TIE:.0%} of the fastest "
                           f"(p90 {_fmt(fastest.p90_ms)}); {chosen.target.key} wins on "
                           f"{_decider(chosen, [o for o in near if o is not chosen], rank, prefer)}")
        for o in options:
            if o is not chosen:
                why = (f"slower: p90 {_fmt(o.p90_ms)} vs {_fmt(chosen.p90_ms)}" if o not in near else
                       f"tied within {NEAR_TIE:.0%} (p90 {_fmt(o.p90_ms)} vs {_fmt(chosen.p90_ms)}); "
                       f"the tie was broken by {_tie_rule(chosen, o, rank, prefer)}")
                rejected.append(Rejected(o, why))
        for o in unknown:
            rejected.append(Rejected(o, f"latency unknown ({o.basis})"))
    else:  # nothing measured or estimable, and no budget to check: go by preference alone
        chosen = min(unknown, key=lambda o: (rank[o.kind], _NATIVE.get((o.artifact.format, o.backend), 1)))
        reasons.append(f"no budget and no latency known for any option ({chosen.basis}): chosen by "
                       f"prefer={','.join(prefer)} and each format's native backend")
        for o in unknown:
            if o is not chosen:
                rejected.append(Rejected(o, f"latency unknown; ranks after {chosen.target.key} by preference"))
    reasons.append(f"runs on {chosen.target.key} ({chosen.kind}"
                   f"{', ' + chosen.target.device.detail if chosen.target.device.detail else ''})")
    if chosen.p90_ms is not None:
        reasons.append(f"p90 {_fmt(chosen.p90_ms)}: {chosen.basis}")
    if chosen.estimated:
        reasons.append(f"this latency is estimated; `edgezoo bench {chosen.model}` measures it on this host")
    if chosen.peak_mb is not None:
        within = f", within {limit_words}{limit_source}" if limit is not None else ""
        reasons.append(f"peak memory {_mb(chosen.peak_mb)} per call: {chosen.memory_basis}{within}")
    elif limit is not None:
        reasons.append(f"{chosen.memory_basis}, so {limit_words}{limit_source} could not be checked; "
                       f"`edgezoo bench {chosen.model}` measures it")
    return Plan(chosen, reasons, rejected, budget_ms, prefer, (height, width), profile_id, limit)

