"""Image classification: an image in (resized to the model's fixed size), class logits
out, one call per image; quality as top-1 accuracy; parity by logits error and top-1
agreement; the user reads the label and the top-k probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, TensorSpec
from edgezoo.tasks.base import TaskProtocol


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class ClassifyProtocol(TaskProtocol):
    name = "classify"
    tasks = ("classify",)
    metrics = (Metric(name="top1", unit="%"),)

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        fixed = entry.input_spec.fixed_size
        sides: list[int | str] = list(fixed) if fixed else (["H", "W"] if height is None else [height, width])
        image = self.image_tensor(entry, "image", sides)
        classes = entry.config.num_classes
        logits = TensorSpec(name="logits", role="logits", shape=[1, classes], dtype="float32", layout="NC",
                            range=None, color=None, shape_rule="fixed")
        return ModelSpec(
            protocol=self.name, components=[Component(name="net", inputs=[image], outputs=[logits])],
            program=Program(kind="single", component="net"), metrics=list(self.metrics),
            labels=list(getattr(entry.config, "labels", ()) or ()),
        )

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        name = spec.component().outputs[0].name
        logits = np.asarray(outputs[name] if name in outputs else next(iter(outputs.values())), dtype=np.float64)
        probs = softmax(logits.reshape(logits.shape[0], -1))[0]
        labels = spec.labels or [str(i) for i in range(probs.size)]
        order = np.argsort(-probs)[:top_k]
        top = [{"index": int(i), "label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]
        return {"label": top[0]["label"], "index": top[0]["index"], "top": top}
