"""The interface every task protocol implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import IOContract, Metric, ModelSpec, QualityResult, TensorSpec

# A loaded artifact as the runtime calls it: inputs by name in, outputs by name out.
RunFunction = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
# What protocols read from an exported artifact's contract: its ``task`` and its ``io``
# (the called component's tensors at the artifact's size), as ``artifact_metadata`` writes them.
Contract = dict[str, Any]


def logits_agreement(reference: np.ndarray, output: np.ndarray) -> float:
    """Share of rows whose arg-max class is the same, in [0, 1]."""
    ref, out = reference.reshape(reference.shape[0], -1), output.reshape(output.shape[0], -1)
    return float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))


@dataclass(frozen=True)
class QualityTolerance:
    """How much task quality a reduced-precision artifact may lose against the fp32
    artifact of its format: ``tolerance`` in ``unit`` of ``metric``, plus ``relative``
    times the fp32 figure's magnitude (0 for an absolute tolerance). A loss is a drop
    of a metric that is ``higher_is_better`` (PSNR, accuracy) and a rise of one that is
    not (a Fréchet distance)."""

    metric: str
    unit: str
    tolerance: float
    higher_is_better: bool = True
    relative: float = 0.0

    def allowed_loss(self, fp32: float) -> float:
        """How much worse than ``fp32`` (in the metric's own direction) may still pass."""
        return self.tolerance + self.relative * abs(fp32)

    @property
    def key_suffix(self) -> str:
        """The unit as manifest keys spell it (``quality_delta_db``, ``quality_delta_pct``)."""
        return {"dB": "db", "%": "pct"}.get(self.unit, self.metric)


@dataclass(frozen=True)
class QualitySet:
    """Data a task's quality is measured on: ``split`` is ``selection`` (calibration
    checks and the int8 choice) or ``evaluation`` (measured after every choice);
    ``dataset`` names it for the manifest, ``count`` says how many examples; ``data``
    is the protocol's own (photos for restoration, (images, labels) for classification)."""

    dataset: str
    split: str
    count: int
    data: Any


class TaskProtocol:
    """One task's contract. Subclasses set ``name``, ``tasks``, ``metrics`` and
    implement :meth:`spec` and :meth:`postprocess`; a task whose reduced-precision
    artifacts are judged on task quality also implements :meth:`int8_tolerance` and the
    calibration and quality methods below (the export pipeline asks them, and has no
    case of its own for any task)."""

    name: str = ""
    tasks: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        """The variant's contract; with ``height``/``width`` the image input's sides are
        those numbers (an exported artifact's), else symbolic."""
        raise NotImplementedError

    def io(self, entry: Any, height: int, width: int, dynamic: bool = False,
           component_name: str | None = None) -> IOContract:
        """The I/O contract of a component (default: the one the program calls), at an export size."""
        component = self.spec(entry, height, width, dynamic).component(component_name)
        return IOContract(inputs=component.inputs, outputs=component.outputs)

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        """What a user reads from one request's outputs (labels for a classifier)."""
        raise NotImplementedError

    # --- a request's parameters beside its picture -------------------------------------

    request_options: tuple[str, ...] = ()  # what a request may say besides its picture ("instruction")

    def request_feeds(self, spec: ModelSpec, request: dict[str, Any]) -> dict[str, np.ndarray]:
        """The inputs of the program's ``once`` components (:class:`Program`) made from a
        request's parameters (``request``: option -> value, None for unset), by input
        name. This protocol's models take none: a set option is refused in one line."""
        given = sorted(k for k, v in request.items() if v is not None)
        if given:
            raise BadInputError(f"a {self.name} model takes no {', '.join(given)}: leave it out, or pick a model "
                                "whose task takes it (`edgezoo list`)")
        return {}

    def describe_request(self, request: dict[str, Any]) -> str:
        """One line on what a request asked besides its picture ("" for none)."""
        return ""

    # --- reduced precision: calibration and the task-quality gate ----------------------

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        """The int8 task-quality gate of ``task``; None where this protocol has no
        quality measurement for it (int8 is then gated on parity alone, and says so)."""
        return None

    def quality_problem(self, task: str) -> str | None:
        """Why task quality cannot be measured on this host (its data are not installed),
        in one line with the fix; None when it can."""
        return None

    def calibration_samples(self, contract: Contract, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """``count`` int8 calibration samples for the artifact with ``contract``, each a
        dict keyed by the component's input names, arrays at the artifact's shapes;
        deterministic for a ``seed``, a larger ``count`` extending a smaller one's."""
        raise NotImplementedError(f"task protocol '{self.name}' has no calibration data")

    def describe_calibration(self, contract: Contract, count: int) -> str:
        """One line for the manifest: what :meth:`calibration_samples` gave."""
        return f"{count} samples"

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        """The ``selection`` or ``evaluation`` data of the task (``data``: the caller's
        own, in the protocol's form)."""
        raise NotImplementedError(f"task protocol '{self.name}' has no quality data")

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """The task quality of ``run`` (an artifact loaded in its runtime) on ``data``,
        served as the runtime serves a request (``tile``: the fixed input size of a
        tiled program; ``align``: its size multiple)."""
        raise NotImplementedError(f"task protocol '{self.name}' measures no quality")

    @staticmethod
    def image_tensor(entry: Any, name: str, sides: list[int | str], role: str = "image") -> TensorSpec:
        spec = entry.input_spec
        return TensorSpec(
            name=name, role=role, shape=[1, spec.channels, *sides], dtype=spec.dtype, layout=spec.layout,
            range=tuple(spec.value_range), color=spec.color,
            multiple_of=spec.multiple_of if not spec.fixed_size else None,
        )


def contract_inputs(contract: Contract) -> list[TensorSpec]:
    """The called component's input tensors from an artifact contract."""
    return [TensorSpec.model_validate(t) for t in contract["io"]["inputs"]]


def contract_outputs(contract: Contract) -> list[TensorSpec]:
    """The called component's output tensors from an artifact contract."""
    return [TensorSpec.model_validate(t) for t in contract["io"]["outputs"]]


def pick_output(outputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Output ``name`` of a run (a converter may rename the only output)."""
    if name in outputs:
        return outputs[name]
    if len(outputs) != 1:
        raise KeyError(f"the artifact returns {sorted(outputs)}; expected an output '{name}'")
    return next(iter(outputs.values()))


def image_input(inputs: Sequence[TensorSpec]) -> TensorSpec:
    """The one image-role input a single-input image protocol feeds."""
    images = [t for t in inputs if t.role == "image"]
    if len(images) != 1 or len(inputs) != 1:
        raise NotImplementedError(
            f"this protocol feeds one image input; the component takes {[(t.name, t.role) for t in inputs]}")
    return images[0]
