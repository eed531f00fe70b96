"""Image restoration (denoise, deblur, derain, dehaze, enhance): an image in, the
restored image of the same size out, served in tiles; quality as PSNR and SSIM.

int8 is judged on task PSNR (denoising at sigma 25, the other tasks on their seeded
degradation): within 0.3 dB of the fp32 artifact, on the bundled selection photos for
the choice and on the evaluation photos for the record. Every task has a degradation
model (:mod:`edgezoo.zoo.degradations`), so calibration uses views of the selection
photos degraded as the task's inputs are (noise of sigma 0-50 for denoising) and
:meth:`RestoreProtocol.measure_quality` scores every task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, QualityResult
from edgezoo.tasks.base import (
    Contract,
    QualitySet,
    QualityTolerance,
    RunFunction,
    TaskProtocol,
    contract_inputs,
    contract_outputs,
    image_input,
    pick_output,
)

INT8_TOLERANCE_DB = 0.3  # int8 may lose at most this much task PSNR against fp32
QUALITY_SIGMA = 25.0  # denoising is gated at sigma 25 (0-255 scale)
GATED_TASKS = ("denoise", "deblur", "derain", "dehaze", "enhance")  # int8 gated on task PSNR


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

    # --- reduced precision ------------------------------------------------------------

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        return QualityTolerance("psnr_db", "dB", INT8_TOLERANCE_DB) if task in GATED_TASKS else None

    def calibration_samples(self, contract: Contract, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """Views of the bundled selection photos at the artifact's size, degraded for the
        task (:func:`edgezoo.export.quantize.calibration.calibration_arrays`)."""
        from edgezoo.export.quantize.calibration import calibration_arrays

        tensor = image_input(contract_inputs(contract))
        height, width = tensor.shape[2], tensor.shape[3]
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError("int8 calibration needs a static-shape artifact")
        return [{tensor.name: a} for a in calibration_arrays(height, width, count, contract["task"], seed)]

    def describe_calibration(self, contract: Contract, count: int) -> str:
        from edgezoo.export.quantize.calibration import describe

        return describe(count, contract["task"])

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        """Photos by name: the caller's ``data``, else the bundled selection photos or
        every evaluation photo."""
        if data is not None:
            return QualitySet(f"the caller's {len(data)} photos", split, len(data), data)
        if split == "selection":
            from edgezoo.zoo.data import selection_images

            data = selection_images()
        else:
            from edgezoo.zoo.data import evaluation_images

            data = evaluation_images()
        return QualitySet(f"the {len(data)} {split} photos", split, len(data), data)

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """PSNR/SSIM on the photos degraded for the artifact's task (denoising: sigma 25;
        the others: :func:`edgezoo.zoo.evaluate.evaluate_restorer`), tiled at ``tile``
        (None: each photo whole, for a dynamic-shape artifact), without the classical
        baselines."""
        from edgezoo.zoo.evaluate import evaluate_denoiser, evaluate_restorer, nchw_restorer

        name = image_input(contract_inputs(contract)).name
        output = contract_outputs(contract)[0].name

        def fn(batch: np.ndarray) -> np.ndarray:
            return pick_output(run({name: np.ascontiguousarray(batch, dtype=np.float32)}), output)

        restorer = nchw_restorer(fn, align, None if tile is None else (int(tile[0]), int(tile[1])))
        if contract["task"] == "denoise":
            return evaluate_denoiser(restorer, sigmas=(QUALITY_SIGMA,), seed=seed, baselines=False, images=data.data)[0]
        return evaluate_restorer(contract["task"], restorer, images=data.data, seed=seed, baselines=False)
