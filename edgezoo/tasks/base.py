"""The interface every task protocol implements."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import IOContract, Metric, ModelSpec, TensorSpec


def logits_agreement(reference: np.ndarray, output: np.ndarray) -> float:
    """Share of rows whose arg-max class is the same, in [0, 1]."""
    ref, out = reference.reshape(reference.shape[0], -1), output.reshape(output.shape[0], -1)
    return float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))


class TaskProtocol:
    """One task's contract. Subclasses set ``name``, ``tasks``, ``metrics`` and
    implement :meth:`spec` and :meth:`postprocess`."""

    name: str = ""
    tasks: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        """The variant's contract; with ``height``/``width`` the image input's sides are
        those numbers (an exported artifact's), else symbolic."""
        raise NotImplementedError

    def io(self, entry: Any, height: int, width: int, dynamic: bool = False) -> IOContract:
        """The I/O contract of the component the program calls, at an export size."""
        component = self.spec(entry, height, width, dynamic).component()
        return IOContract(inputs=component.inputs, outputs=component.outputs)

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        """What a user reads from one request's outputs (labels for a classifier)."""
        raise NotImplementedError

    @staticmethod
    def image_tensor(entry: Any, name: str, sides: list[int | str], role: str = "image") -> TensorSpec:
        spec = entry.input_spec
        return TensorSpec(
            name=name, role=role, shape=[1, spec.channels, *sides], dtype=spec.dtype, layout=spec.layout,
            range=tuple(spec.value_range), color=spec.color,
            multiple_of=spec.multiple_of if not spec.fixed_size else None,
        )
