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
from edgezoo.manifests.schema import Parity
from edgezoo.metrics import max_abs_error, parity_psnr

PARITY_THRESHOLDS_DB: dict[str, float] = {"fp32": 60.0, "fp16": 40.0, "int8": 30.0}
PSNR_CAP_DB = 200.0  # identical outputs have infinite PSNR; reported as this cap
COREML_NOTE = "prediction not run: needs macOS; converted, loaded back, I/O and metadata checked"


@dataclass(frozen=True)
class ParityInput:
    """One (1, C, H, W) float32 image in [0, 1] and a name saying where it came from."""

    name: str
    array: np.ndarray


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


def parity_inputs(
    height: int, width: int, seed: int, n_random: int = 2, n_photos: int = 3, photos: bool = True, channels: int = 3,
) -> list[ParityInput]:
    """Seeded uniform-noise images and random crops of the evaluation photos, each
    (1, channels, height, width) float32 in [0, 1]. A different ``seed`` gives different inputs."""
    rng = np.random.default_rng(seed)
    inputs = [
        ParityInput(f"random{i}@{height}x{width}", rng.random((1, channels, height, width), dtype=np.float32))
        for i in range(n_random)
    ]
    if photos and n_photos:
        pool = _photos()
        for index in rng.choice(len(pool), size=min(n_photos, len(pool)), replace=False):
            name, photo = pool[int(index)]
            crop = _photo_crop(photo, height, width, rng, channels)
            inputs.append(ParityInput(f"photo:{name}@{height}x{width}", crop[None]))
    return inputs


def inputs_for_artifact(
    height: int, width: int, multiple_of: int, static_shape: bool, seed: int, channels: int = 3,
) -> list[ParityInput]:
    """The inputs for one artifact: at its size; a dynamic-shape artifact is also run at
    a second, non-square size so that its dynamism is really tested."""
    inputs = parity_inputs(height, width, seed, channels=channels)
    if not static_shape:
        inputs += parity_inputs(height + multiple_of, width + 2 * multiple_of, seed + 1000, n_random=1, n_photos=1,
                                channels=channels)
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


def reference_outputs(model: Any, inputs: Sequence[ParityInput]) -> list[np.ndarray]:
    """The PyTorch model's outputs (float32, CPU, eval mode, no autograd), computed on
    one thread: the sums then come out the same on every machine, and a few small
    images do not need more (on a busy host, OpenMP threads that wait on each other
    made this 100 times slower)."""
    import torch

    from edgezoo.export.capture import torch_threads

    outputs = []
    with torch_threads(1), torch.inference_mode():
        for item in inputs:
            outputs.append(model(torch.from_numpy(item.array)).detach().cpu().numpy().astype(np.float32))
    return outputs


def _single_output(outputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name in outputs:
        return outputs[name]
    if len(outputs) != 1:
        raise ParityError(f"the artifact returns {sorted(outputs)}; expected one output '{name}'")
    return next(iter(outputs.values()))


def measure_parity(
    path: str | Path, fmt: str, precision: str, model: Any, inputs: Sequence[ParityInput],
    name: str | None = None, expected_io: dict[str, Any] | None = None,
    references: Sequence[np.ndarray] | None = None, output: tuple[str, str] | None = None,
) -> ParityReport:
    """Run the artifact at ``path`` in its native runtime on ``inputs`` and compare with
    ``model`` (or precomputed ``references``). Core ML off macOS is not executed: its
    spec is read back and checked against ``expected_io`` instead. Does not raise on a
    miss; see :meth:`ParityReport.failure`."""
    from edgezoo.export.capture import captured_output
    from edgezoo.runtimes.backends import backend_for_format

    path = Path(path)
    name = name or path.name
    threshold = threshold_db(precision)
    backend = backend_for_format(fmt)
    if fmt == "coreml" and not backend.available():
        problems = coreml_spec_problems(path, expected_io, precision)
        return ParityReport(
            artifact=name, format=fmt, precision=precision, executed=False, threshold_db=threshold,
            passed=not problems, note="; ".join(problems) if problems else COREML_NOTE,
        )
    device = "CPU_ONLY" if fmt == "coreml" else "cpu"
    refs = list(references) if references is not None else reference_outputs(model, inputs)
    if output is None:  # (name, role) of the output to compare, from the contract
        first = ((expected_io or {}).get("outputs") or [{"name": "restored", "role": "image"}])[0]
        output = (first["name"], first.get("role", "image"))
    out_name, role = output
    with captured_output():  # runtimes log delegate choices on stderr
        runner = backend.load(path, device, precision=precision)
        outputs = [_single_output(runner.run(item.array), out_name) for item in inputs]
    names = [i.name for i in inputs]
    worst_psnr, worst_abs, worst_input = float("inf"), 0.0, None
    for item, ref, out in zip(inputs, refs, outputs):
        problem = None
        if out.shape != ref.shape:
            problem = f"output shape {list(out.shape)} differs from the reference's {list(ref.shape)}"
        elif not np.all(np.isfinite(out)):
            problem = "the output holds NaN or infinite values"
        if problem:
            return ParityReport(
                artifact=name, format=fmt, precision=precision, executed=True, threshold_db=threshold,
                passed=False, backend=backend.name, inputs=names, worst_input=item.name, note=f"{problem} on {item.name}",
            )
        value, abs_err, agreement = compare_output(role, ref, out)
        if agreement is not None and agreement < 1.0 and precision != "int8":
            return ParityReport(
                artifact=name, format=fmt, precision=precision, executed=True, threshold_db=threshold,
                passed=False, backend=backend.name, inputs=names, worst_input=item.name,
                note=f"top-1 class differs from the reference's on {item.name}",
            )
        if value <= worst_psnr:
            worst_psnr, worst_input = value, item.name
        worst_abs = max(worst_abs, abs_err)
    return ParityReport(
        artifact=name, format=fmt, precision=precision, executed=True, threshold_db=threshold,
        passed=bool(worst_psnr >= threshold),  # the unrounded figure decides
        psnr_db=round(min(worst_psnr, PSNR_CAP_DB), 2), max_abs=float(f"{worst_abs:.4g}"),
        backend=backend.name, inputs=names, worst_input=worst_input,
        note=f"worst on {worst_input}" if worst_input else None,
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
