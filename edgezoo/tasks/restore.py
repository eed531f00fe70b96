"""Image restoration (denoise, deblur, derain, dehaze, enhance): an image in, the
restored image of the same size out, served in tiles; quality as PSNR and SSIM."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program
from edgezoo.tasks.base import TaskProtocol


class RestoreProtocol(TaskProtocol):
    name = "restore"
    tasks = ("denoise", "deblur", "derain", "dehaze", "enhance")
    metrics = (Metric(name="psnr_db", unit="dB"), Metric(name="ssim"))

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        sides: list[int | str] = ["H", "W"] if dynamic or height is None else [height, width]
        image = self.image_tensor(entry, "image", sides)
        out_channels = getattr(entry.config, "out_channels", entry.input_spec.channels)
        restored = image.model_copy(update={"name": "restored", "shape": [1, out_channels, *sides],
                                            "multiple_of": None, "shape_rule": "same:image"})
        return ModelSpec(
            protocol=self.name, components=[Component(name="net", inputs=[image], outputs=[restored])],
            program=Program(kind="tiled", component="net"), metrics=list(self.metrics),
        )

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        name = spec.component().outputs[0].name
        return {"image": outputs[name] if name in outputs else next(iter(outputs.values()))}
