"""The parity gate: an artifact, run in its own runtime on fresh inputs, against the
PyTorch reference. Fresh means seeded random images and real photos (the evaluation
images, never used for training) cropped to the artifact's size; the figure is the
worst over all inputs. A miss is an error (:class:`ParityError`), never a warning."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgezoo.errors import ParityError
from edgezoo.manifests.schema import Parity, TensorSpec
from edgezoo.metrics import max_abs_error, parity_psnr
from edgezoo.tasks.feeds import IMAGE_ROLES, concrete_shape, example_feeds, symbol_size, symbols, tensor_specs

PARITY_THRESHOLDS_DB: dict[str, float] = {"fp32": 60.0, "fp16": 40.0, "int8": 30.0}
PSNR_CAP_DB = 200.0  # identical outputs have infinite PSNR; reported as this cap
COREML_NOTE = "prediction not run: needs macOS; converted, spec read back (not compiled), I/O and metadata checked"


@dataclass(frozen=True)
class ParityInput:
    """One request's inputs by name (from the contract) and a name saying where they
    came from."""

    name: str
    feeds: dict[str, np.ndarray]


@dataclass
class ParityReport:
    """Worst-case agreement of one artifact with the reference."""

    artifact: str
    format: str
    precision: str
    executed: bool
    threshold_db: float
    passed: bool
    psnr_db: float | None = None
    max_abs: float | None = None
    backend: str | None = None
    inputs: list[str] = field(default_factory=list)
    worst_input: str | None = None
    note: str | None = None

    def to_parity(self) -> Parity:
        """The manifest's form."""
        return Parity(executed=self.executed, psnr_db=self.psnr_db, max_abs=self.max_abs,
                      threshold_db=self.threshold_db, passed=self.passed, backend=self.backend,
                      inputs=list(self.inputs), note=self.note)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failure(self) -> ParityError:
        """The error for a miss: names the artifact, the figure and the threshold."""
        if self.psnr_db is None:
            return ParityError(f"{self.artifact}: parity check failed: {self.note}")
        return ParityError(
            f"{self.artifact}: parity {self.psnr_db:.1f} dB is below the {self.precision} threshold of "
            f"{self.threshold_db:.0f} dB (max abs error {self.max_abs:.3g}, worst on {self.worst_input}); "
            "the artifact does not compute what the PyTorch model computes"
        )


def threshold_db(precision: str) -> float:
    return PARITY_THRESHOLDS_DB[precision]


# --- inputs ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[tuple[str, np.ndarray], ...]:
    from edgezoo.zoo.data import evaluation_images

    return tuple((name, (img * 255.0 + 0.5).astype(np.uint8)) for name, img in evaluation_images(multiple_of=1).items())


def _photo_crop(photo: np.ndarray, height: int, width: int, rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    """A random region of ``photo`` with the aspect of height x width, between half and
    all of the largest such region, resized to height x width: (C, H, W) float32, grey
    (ITU-R 601 luma, as PIL converts) for one channel."""
    from PIL import Image

    ph, pw = photo.shape[:2]
    scale = min(ph / height, pw / width) * rng.uniform(0.5, 1.0)
    ch, cw = max(1, min(ph, round(height * scale))), max(1, min(pw, round(width * scale)))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = Image.fromarray(photo[y: y + ch, x: x + cw])
    if (ch, cw) != (height, width):
        crop = crop.resize((width, height), Image.Resampling.BILINEAR)
    if channels == 1:
        return np.asarray(crop.convert("L"), dtype=np.float32)[None] / 255.0
    return np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / 255.0


def default_inputs(channels: int = 3) -> list[TensorSpec]:
    """The contract of a one-image model, for callers that give no tensors."""
    return [TensorSpec(name="image", role="image", shape=[1, channels, "H", "W"])]


def parity_inputs(
    height: int, width: int, seed: int, n_random: int = 2, n_photos: int = 3, photos: bool = True, channels: int = 3,
    tensors: Sequence[Any] | None = None,
) -> list[ParityInput]:
    """Seeded random requests and requests whose image-role inputs are random crops of
    the evaluation photos, at ``height`` x ``width`` (the sizes of the symbolic dims
    ``H`` and ``W``). ``tensors`` are the component's inputs (default: one image of
    ``channels``); inputs other than pictures are drawn by role. A different ``seed``
    gives different inputs."""
    specs = tensor_specs(tensors) if tensors is not None else default_inputs(channels)
    sizes = _sizes(specs, height, width)
    tag = f"{height}x{width}"
    rng = np.random.default_rng(seed)
    inputs = [ParityInput(f"random{i}@{tag}", example_feeds(specs, sizes, rng)) for i in range(n_random)]
    pictured = [t for t in specs if t.role in IMAGE_ROLES]
    if photos and n_photos and pictured:
        pool = _photos()
        for index in rng.choice(len(pool), size=min(n_photos, len(pool)), replace=False):
            name, photo = pool[int(index)]
            pictures = {}
            for tensor in pictured:
                shape = concrete_shape(tensor, sizes)
                pictures[tensor.name] = _photo_crop(photo, shape[-2], shape[-1], rng, shape[1])[None]
            inputs.append(ParityInput(f"photo:{name}@{tag}", example_feeds(specs, sizes, rng, pictures)))
    return inputs


def _sizes(specs: Sequence[TensorSpec], height: int, width: int) -> dict[str, int]:
    """Sizes of the symbolic dims: ``H`` and ``W`` are the picture's sides (a multiple
    such as ``4H``, a x4 output's side, follows from them)."""
    named = {"H": height, "W": width}
    unknown = [s for s in symbols(specs) if symbol_size(s, named) is None]
    if unknown:
        raise ParityError(f"parity inputs need sizes for the symbolic dims {unknown}")
    return named


def inputs_for_artifact(
    height: int, width: int, multiple_of: int, static_shape: bool, seed: int, channels: int = 3,
    tensors: Sequence[Any] | None = None,
) -> list[ParityInput]:
    """The inputs for one artifact: at its size; a dynamic-shape artifact is also run at
    a second, non-square size so that its dynamism is really tested."""
    inputs = parity_inputs(height, width, seed, channels=channels, tensors=tensors)
    if not static_shape:
        inputs += parity_inputs(height + multiple_of, width + 2 * multiple_of, seed + 1000, n_random=1, n_photos=1,
                                channels=channels, tensors=tensors)
    return inputs


def compare_output(role: str, reference: np.ndarray, output: np.ndarray) -> tuple[float, float, float | None]:
    """(parity dB, max abs error, top-1 agreement or None) of one output, judged by its
    role: images by PSNR against the reference's peak; logits by PSNR against the
    reference's spread (so that an offset added to every logit does not hide an error)
    and by the share of inputs whose top-1 class agrees."""
    abs_err = max_abs_error(reference, output)
    if role == "logits":
        from edgezoo.metrics import psnr
        from edgezoo.tasks.base import logits_agreement

        spread = float(np.max(reference) - np.min(reference)) or 1.0
        return float(psnr(reference, output, data_range=spread)), abs_err, logits_agreement(reference, output)
    return float(parity_psnr(reference, output)), abs_err, None


# --- running ----------------------------------------------------------------------------


def reference_outputs(
    model: Any, inputs: Sequence[ParityInput], outputs: Sequence[str] = ("restored",),
) -> list[dict[str, np.ndarray]]:
    """The PyTorch model's outputs by name (float32, CPU, eval mode, no autograd) for
    each request, its inputs passed in the contract's order. ``outputs`` names what the
    model returns (a tensor, a tuple in that order, or a dict). Computed on one thread:
    the sums then come out the same on every machine, and a few small images do not
    need more (on a busy host, OpenMP threads that wait on each other made this 100
    times slower)."""
    import torch

    from edgezoo.export.capture import torch_threads

    from edgezoo.export.timing import stage

    results = []
    with torch_threads(1), torch.inference_mode(), stage("reference outputs"):
        for item in inputs:
            returned = model(*(torch.from_numpy(np.ascontiguousarray(a)) for a in item.feeds.values()))
            results.append(named_outputs(returned, outputs))
    return results


def named_outputs(returned: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A model's return value (tensor, tuple or dict) as float32 arrays by output name."""
    if isinstance(returned, dict):
        missing = [n for n in names if n not in returned]
        if missing:
            raise ParityError(f"the model returns {sorted(returned)}; the contract also names {missing}")
        values = [returned[n] for n in names]
    else:
        values = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        if len(values) != len(names):
            raise ParityError(f"the model returns {len(values)} tensors; the contract names {list(names)}")
    return {n: v.detach().cpu().numpy().astype(np.float32) for n, v in zip(names, values)}


def _output(outputs: dict[str, np.ndarray], name: str, count: int) -> np.ndarray:
    if name in outputs:
        return outputs[name]
    if len(outputs) == count == 1:  # converters rename single outputs (Identity, output_0, ...)
        return next(iter(outputs.values()))
    raise ParityError(f"the artifact returns {sorted(outputs)}; the contract names '{name}'")


def measure_parity(
    path: str | Path, fmt: str, precision: str, model: Any, inputs: Sequence[ParityInput],
    name: str | None = None, expected_io: dict[str, Any] | None = None,
    references: Sequence[dict[str, np.ndarray]] | None = None, outputs: Sequence[tuple[str, str]] | None = None,
) -> ParityReport:
    """Run the artifact at ``path`` in its native runtime on ``inputs`` and compare every
    output with ``model``'s (or precomputed ``references``), each by its role; the
    figure is the worst over inputs and outputs. ``outputs`` are (name, role) pairs,
    by default the contract's (``expected_io``). Core ML off macOS is not executed: its
    spec is read back and checked against ``expected_io`` instead. Does not raise on a
    miss; see :meth:`ParityReport.failure`."""
    from edgezoo.export.capture import captured_output
    from edgezoo.runtimes.backends import backend_for_format

    path = Path(path)
    name = name or path.name
    threshold = threshold_db(precision)
    backend = backend_for_format(fmt)
    if fmt == "coreml" and not backend.available():
        from edgezoo.export.timing import stage

        with stage("parity"):
            problems = coreml_spec_problems(path, expected_io, precision)
        return ParityReport(
            artifact=name, format=fmt, precision=precision, executed=False, threshold_db=threshold,
            passed=not problems, note="; ".join(problems) if problems else COREML_NOTE,
        )
    if outputs is None:
        declared = (expected_io or {}).get("outputs") or [{"name": "restored", "role": "image"}]
        outputs = [(t["name"], t.get("role", "image")) for t in declared]
    out_names = [n for n, _ in outputs]
    device = "CPU_ONLY" if fmt == "coreml" else "cpu"
    refs = list(references) if references is not None else reference_outputs(model, inputs, out_names)
    from edgezoo.export.timing import stage

    with captured_output(), stage("parity"):  # runtimes log delegate choices on stderr
        from edgezoo.export.timing import runtime_threads

        runner = backend.load(path, device, runtime_threads(), precision=precision)
        results = [runner.run(item.feeds) for item in inputs]
    names = [i.name for i in inputs]

    def report(passed: bool, worst: str | None, note: str | None, **figures: Any) -> ParityReport:
        return ParityReport(artifact=name, format=fmt, precision=precision, executed=True, threshold_db=threshold,
                            passed=passed, backend=backend.name, inputs=names, worst_input=worst, note=note, **figures)

    worst_psnr, worst_abs, worst_input = float("inf"), 0.0, None
    for item, ref, result in zip(inputs, refs, results):
        for out_name, role in outputs:
            where = item.name if len(outputs) == 1 else f"{item.name} ({out_name})"
            try:
                out = _output(result, out_name, len(outputs))
            except ParityError as exc:
                return report(False, where, str(exc))
            expected = ref[out_name]
            problem = None
            if out.shape != expected.shape:
                problem = f"output shape {list(out.shape)} differs from the reference's {list(expected.shape)}"
            elif not np.all(np.isfinite(out)):
                problem = "the output holds NaN or infinite values"
            if problem:
                return report(False, where, f"{problem} on {where}")
            value, abs_err, agreement = compare_output(role, expected, out)
            if agreement is not None and agreement < 1.0 and precision != "int8":
                return report(False, where, f"top-1 class differs from the reference's on {where}")
            if value <= worst_psnr:
                worst_psnr, worst_input = value, where
            worst_abs = max(worst_abs, abs_err)
    return report(
        bool(worst_psnr >= threshold),  # the unrounded figure decides
        worst_input, f"worst on {worst_input}" if worst_input else None,
        psnr_db=round(min(worst_psnr, PSNR_CAP_DB), 2), max_abs=float(f"{worst_abs:.4g}"),
    )


def coreml_spec_problems(path: Path, expected_io: dict[str, Any] | None, precision: str) -> list[str]:
    """What is wrong with a ``.mlpackage`` read back without running it: names and
    shapes of inputs and outputs, and the embedded contract. Empty when all is well."""
    from edgezoo.errors import EdgezooError
    from edgezoo.export.coreml_export import inspect_package

    try:
        found = inspect_package(path)
    except EdgezooError as exc:
        return [str(exc)]
    problems = []
    meta = found["metadata"]
    if meta.get("precision") != precision:
        problems.append(f"embedded precision {meta.get('precision')!r}, expected {precision!r}")
    io = expected_io or meta.get("io", {})
    for kind in ("inputs", "outputs"):
        want = [(t["name"], [int(d) for d in t["shape"]]) for t in io.get(kind, [])]
        got = [(n, s) for n, s in found[kind]]
        if kind == "outputs":  # coremltools may leave an output's shape unset
            got = [(n, s if s else w[1]) for (n, s), w in zip(got, want)] if len(got) == len(want) else got
        if got != want:
            problems.append(f"{kind} {got} differ from the contract's {want}")
    if meta.get("io") and expected_io and meta["io"] != expected_io:
        problems.append("the embedded I/O contract differs from the manifest's")
    return problems
