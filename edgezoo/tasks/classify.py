"""Image classification: an image in (resized to the model's fixed size), class logits
out, one call per image; quality as top-1 accuracy; parity by logits error and top-1
agreement; the user reads the label and the top-k probabilities.

int8 is judged on top-1 accuracy: within ``INT8_TOLERANCE_POINTS`` percentage points of
the fp32 artifact of the same format, on the Fashion-MNIST selection split (5,000 of the
official training images, held out from training to choose checkpoints), with each
image fed as the runtime feeds it. Calibration uses images of the training part; the
official test images are only measured, after the choice, and recorded. The data come
from Debian's ``dataset-fashion-mnist`` package (:mod:`edgezoo.zoo.fashion_mnist`); no
subset ships with edgezoo, since a 0.3-point gate cannot be judged on a few hundred
images (one image is already 0.3 points of 333), so without the package int8 fails
with the command that installs it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from edgezoo.manifests.schema import Component, Metric, ModelSpec, Program, QualityResult, TensorSpec
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

INT8_TOLERANCE_POINTS = 0.3  # int8 may lose at most this much top-1 (percentage points) against fp32
TEST_DATASET = "Fashion-MNIST test (10,000 images)"  # the shipped manifests' name for the test split
SELECTION_DATASET = "Fashion-MNIST selection split (5,000 of the official training images)"
CALIBRATION_SEED = 0


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@functools.lru_cache(maxsize=3)
def _split(split: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    from edgezoo.zoo.fashion_mnist import load_split

    return load_split(split)


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 28, 28), labels) of a Fashion-MNIST split, read once per process
    and data folder; :class:`~edgezoo.errors.BadInputError` with the install command
    when the data are not installed."""
    from edgezoo.zoo.fashion_mnist import data_dir

    return _split(split, str(data_dir()))


def to_inputs(images: np.ndarray, tensor: TensorSpec) -> np.ndarray:
    """uint8 grey pictures (N, h, w) as (N, C, H, W) float32 inputs of ``tensor``, as the
    runtime's session makes them (:func:`edgezoo.runtimes.preprocess.fit_to_tensor`)."""
    channels, height, width = (int(d) for d in tensor.shape[1:4])
    if (channels, height, width) == (1, *images.shape[1:]):  # what fit_to_tensor computes, without PIL per image
        low, high = tensor.range or (0.0, 1.0)
        return (low + images.astype(np.float32)[:, None] / 255.0 * (high - low)).astype(np.float32)
    from edgezoo.runtimes.preprocess import fit_to_tensor

    return np.concatenate([fit_to_tensor(img.astype(np.float32)[None, None] / 255.0, tensor) for img in images])


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

    # --- reduced precision ------------------------------------------------------------

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        return QualityTolerance("top1", "%", INT8_TOLERANCE_POINTS)

    def quality_problem(self, task: str) -> str | None:
        from edgezoo.zoo.fashion_mnist import missing_problem

        return missing_problem()

    @staticmethod
    def _check_labels(contract: Contract) -> None:
        from edgezoo.errors import BadInputError
        from edgezoo.zoo.fashion_mnist import LABELS

        labels = tuple((contract.get("spec") or {}).get("labels") or ())
        if labels and labels != tuple(LABELS):
            raise BadInputError(f"{contract.get('model', 'this classifier')} has other classes than Fashion-MNIST, "
                                "the only classification data edgezoo calibrates and measures on; export fp32/fp16")

    def calibration_samples(self, contract: Contract, count: int, seed: int = CALIBRATION_SEED) -> list[dict[str, np.ndarray]]:
        """``count`` training-split images (a seeded draw: a larger ``count`` extends a
        smaller one's), as the image input takes them."""
        self._check_labels(contract)
        tensor = image_input(contract_inputs(contract))
        images, _ = fashion_mnist("train")
        order = np.random.default_rng(seed).permutation(len(images))[:count]
        batch = to_inputs(images[order], tensor)
        return [{tensor.name: np.ascontiguousarray(batch[i:i + 1])} for i in range(len(batch))]

    def describe_calibration(self, contract: Contract, count: int) -> str:
        return f"{count} Fashion-MNIST training-split images (seeded draw; never the selection or test images)"

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        """The selection split (the int8 choice) or the official test split (the record);
        ``data`` may be the caller's (images, labels)."""
        self._check_labels(contract)
        if data is not None:
            images, labels = data
            return QualitySet(f"caller's images ({len(labels)})", split, len(labels), (images, labels))
        images, labels = fashion_mnist("selection" if split == "selection" else "test")
        return QualitySet(SELECTION_DATASET if split == "selection" else TEST_DATASET, split, len(labels),
                          (images, labels))

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """Top-1 accuracy (%) of ``run``, one image per call as the session serves it."""
        tensor = image_input(contract_inputs(contract))
        output = contract_outputs(contract)[0].name
        images, labels = data.data
        inputs = to_inputs(np.asarray(images), tensor)
        predicted = np.empty(len(labels), np.int64)
        for i in range(len(labels)):
            logits = pick_output(run({tensor.name: inputs[i:i + 1]}), output)
            predicted[i] = int(np.argmax(logits.reshape(-1)))
        correct = predicted == np.asarray(labels)
        result = QualityResult(dataset=data.dataset, degradation="none", seed=0,
                               metrics={"top1": round(100.0 * float(np.mean(correct)), 2)})
        result._outcomes = correct.tolist()  # for the paired int8 gate (edgezoo.export.quantize.quality.gate)
        return result
