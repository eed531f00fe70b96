"""The classifiers (MaxViT; MULLER's resizer + MaxViT as one graph) go through the same
export, verify, runtime and planner as MAXIM, with nothing special-cased: their contract
(fixed grey input, logits, a ``single`` program, top-1 accuracy) is what differs, and
each layer reads it."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edgezoo.export.verify import verify_dir
from edgezoo.runtimes.backends import get_backend
from edgezoo.runtimes.inventory import probe_inventory

FMNIST_LIKE = np.zeros((28, 28), np.uint8)
FMNIST_LIKE[4:24, 8:20] = 200  # a bright upright block, roughly a garment's silhouette


def _torch_logits(model, image: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(image.astype(np.float32)[None, None] / 255.0)).numpy()


def test_every_format_exports_with_logits_parity_near_exact(classifier_export, check_every_format):
    _, manifest, _ = classifier_export
    check_every_format(manifest, min_parity_db=100)
    assert manifest.spec is not None and manifest.spec.protocol == "classify"
    assert manifest.io.outputs[0].role == "logits" and manifest.io.inputs[0].shape == [1, 1, 28, 28]


def test_verify_reruns_the_gates_on_fresh_inputs(classifier_export):
    report = verify_dir(classifier_export[0])
    assert report.passed
    executed = [c for c in report.artifacts if c.executed]
    assert len(executed) == 3 and all(c.psnr_db >= 100 for c in executed)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "litert"])
def test_session_answers_with_the_reference_label_on_every_backend(classifier_export, backend):
    from edgezoo import runtimes

    if not get_backend(backend).available():
        pytest.fail(f"{backend} is not available here: the test venv installs every backend")
    folder, manifest, model = classifier_export
    session = runtimes.load(folder, backend=backend)
    answer = session(FMNIST_LIKE)
    reference = _torch_logits(model, FMNIST_LIKE)[0]
    assert answer["index"] == int(reference.argmax())
    assert answer["label"] == manifest.spec.labels[answer["index"]]
    probs = np.exp(reference - reference.max()) / np.exp(reference - reference.max()).sum()
    assert abs(answer["top"][0]["probability"] - float(probs.max())) < 1e-4
    # any picture is fitted to the contract: RGB, another size
    rgb = np.repeat(np.kron(FMNIST_LIKE, np.ones((2, 2), np.uint8))[..., None], 3, axis=2)
    assert session(rgb)["index"] == answer["index"]


def test_planner_serves_a_classifier_in_one_call_whatever_the_image_size(classifier_export):
    from edgezoo.runtimes import plan, resolve

    result = plan(resolve(str(classifier_export[0])), image_size=(1000, 700), inventory=probe_inventory(),
                  fallback_gflops=lambda: 100.0)
    assert result.chosen.calls == 1 and result.chosen.call_shape == [1, 1, 28, 28]


def test_cli_run_prints_the_label_and_top5(classifier_export, tmp_path, python):
    from PIL import Image

    folder, _, model = classifier_export
    picture = tmp_path / "shirt.png"
    Image.fromarray(FMNIST_LIKE).save(picture)
    text = subprocess.run([python, "-m", "edgezoo", "run", str(folder), str(picture)],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    assert "top-5" in text.stdout and "shirt.png" in text.stdout
    as_json = subprocess.run([python, "-m", "edgezoo", "run", str(folder), str(picture), "--json"],
                             capture_output=True, text=True, timeout=300)
    answer = json.loads(as_json.stdout)["images"][0]
    assert answer["index"] == int(_torch_logits(model, FMNIST_LIKE)[0].argmax()) and len(answer["top"]) == 5
