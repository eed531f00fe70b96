"""Learned resizing: an image in (fitted to the resizer's fixed input size), the image at
the resizer's target size out, one call per image. The output's size follows its
shape rule (``fixed``: the target size, whatever the input), which the runtime reads.

A learned resizer (MULLER) has no quality of its own: it is trained to help the task
model behind it, so its metric is that model's top-1 accuracy with it, measured on the
resizer + classifier variant it was trained in (``trained_with``), never on the resizer
alone. Exports of the resizer alone are checked by parity only (images: PSNR)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program
from edgezoo.tasks.base import TaskProtocol

DOWNSTREAM_TOP1 = Metric(name="downstream_top1", unit="%")


class ResizeProtocol(TaskProtocol):
    name = "resize"
    tasks = ("resize",)
    metrics = (DOWNSTREAM_TOP1,)

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        fixed = entry.input_spec.fixed_size
        sides: list[int | str] = list(fixed) if fixed else (["H", "W"] if height is None else [height, width])
        image = self.image_tensor(entry, "image", sides)
        target_h, target_w = entry.config.target_size
        resized = image.model_copy(update={"name": "resized", "shape": [1, image.shape[1], target_h, target_w],
                                           "multiple_of": None, "shape_rule": "fixed"})
        paired = getattr(entry.config, "trained_with", "") or "the model it was trained with"
        metric = DOWNSTREAM_TOP1.model_copy(update={
            "note": f"top-1 of {paired} with this resizer in front; not measured on the resizer alone, "
                    "whose exports are checked by parity only"})
        return ModelSpec(
            protocol=self.name, components=[Component(name="net", inputs=[image], outputs=[resized])],
            program=Program(kind="single", component="net"), metrics=[metric],
        )

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        name = spec.component().outputs[0].name
        return {"image": outputs[name] if name in outputs else next(iter(outputs.values()))}
