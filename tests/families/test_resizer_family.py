"""MULLER's resizer alone goes through the same export, verify, runtime and CLI as every
model: its contract (a fixed grey input, an image output whose size follows the shape
rule ``fixed``, not the input's, a ``single`` program) is what differs, and each layer
reads it."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edgezoo.export.verify import verify_dir
from edgezoo.runtimes.backends import get_backend

GARMENT = np.zeros((28, 28), np.uint8)
GARMENT[4:24, 8:20] = 200


def _reference(resizer, picture: np.ndarray, tensor) -> np.ndarray:
    """The PyTorch resizer on the picture fitted as the runtime fits it, clipped, as uint8."""
    import torch

    from edgezoo.runtimes.preprocess import fit_to_tensor
    from edgezoo.runtimes.session import to_batch

    x = fit_to_tensor(to_batch(picture)[0][:1], tensor)
    with torch.no_grad():
        out = resizer(torch.from_numpy(x)).numpy()[0, 0]
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def test_every_format_exports_with_image_parity_and_a_fixed_output_rule(resizer_export, check_every_format):
    _, manifest, _ = resizer_export
    check_every_format(manifest, min_parity_db=100)
    spec = manifest.spec
    assert spec is not None and spec.protocol == "resize" and spec.program.kind == "single"
    assert spec.metric.name == "downstream_top1" and "muller-maxvit-fmnist-16" in spec.metric.note
    assert manifest.io.inputs[0].shape == [1, 1, 28, 28]
    output = manifest.io.outputs[0]
    assert (output.role, output.shape, output.shape_rule) == ("image", [1, 1, 16, 16], "fixed")
    assert output.output_sides({"image": (28, 28)}) == (16, 16)


def test_verify_rebuilds_the_resizer_from_its_weights_and_passes(resizer_export):
    report = verify_dir(resizer_export[0])
    assert report.passed
    executed = [c for c in report.artifacts if c.executed]
    assert len(executed) == 3 and all(c.psnr_db >= 100 for c in executed)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "litert"])
def test_session_answers_at_the_rules_size_not_the_inputs(resizer_export, backend):
    from edgezoo import runtimes

    if not get_backend(backend).available():
        pytest.fail(f"{backend} is not available here: the test venv installs every backend")
    folder, manifest, resizer = resizer_export
    session = runtimes.load(folder, backend=backend)
    tensor = manifest.spec.component().inputs[0]
    out = session(GARMENT)
    assert out.shape == (16, 16) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - _reference(resizer, GARMENT, tensor).astype(int)).max() <= 1
    # any picture is fitted to the input; the output size is the rule's whatever the input's
    rgb = np.repeat(np.kron(GARMENT, np.ones((3, 2), np.uint8))[..., None], 3, axis=2)  # 84 x 56, RGB
    out_rgb = session(rgb.astype(np.float32) / 255.0)
    assert out_rgb.shape == (16, 16, 1) and out_rgb.dtype == np.float32
    assert "output 16x16 (shape rule fixed)" in session.describe()["tiling"]


def test_planner_serves_the_resizer_in_one_call_whatever_the_image_size(resizer_export):
    from edgezoo.runtimes import plan, resolve
    from edgezoo.runtimes.inventory import probe_inventory

    result = plan(resolve(str(resizer_export[0])), image_size=(1000, 700), inventory=probe_inventory(),
                  fallback_gflops=lambda: 100.0)
    assert result.chosen.calls == 1 and result.chosen.call_shape == [1, 1, 28, 28]
    assert result.chosen.quality is None  # its metric (downstream top-1) is not measured on the resizer alone


def test_cli_run_writes_the_resized_image(resizer_export, tmp_path, python):
    from PIL import Image

    folder, manifest, resizer = resizer_export
    picture, out = tmp_path / "garment.png", tmp_path / "small.png"
    Image.fromarray(GARMENT).save(picture)
    result = subprocess.run([python, "-m", "edgezoo", "run", str(folder), str(picture), "-o", str(out), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"][0]["output"] == str(out)
    written = Image.open(out)
    assert written.size == (16, 16) and written.mode == "L"
    reference = _reference(resizer, GARMENT, manifest.spec.component().inputs[0])
    assert np.abs(np.asarray(written).astype(int) - reference.astype(int)).max() <= 1


def test_list_shows_the_resizer_with_its_task_without_torch(python):
    code = ("import runpy, sys\nsys.modules['torch'] = None  # importing torch now fails\n"
            "sys.argv = ['edgezoo', 'list', '--json']\nrunpy.run_module('edgezoo', run_name='__main__')")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    row = rows["muller-resizer-fmnist-16"]
    assert row["task"] == "resize" and row["metric"] == "downstream_top1" and row["quality"] is None
    assert rows["muller-maxvit-fmnist-16"]["task"] == "classify"


def test_train_says_the_resizer_is_trained_inside_its_classifier():
    from click.testing import CliRunner

    from edgezoo.cli import cli

    from edgezoo.errors import BadInputError

    result = CliRunner().invoke(cli, ["train", "muller-resizer-fmnist-16", "--images", "."])
    assert isinstance(result.exception, BadInputError)  # `python -m edgezoo` maps it to exit 2, one line
    message = str(result.exception)
    assert "no recipe for the resize task" in message and "edgezoo train muller-maxvit-fmnist-16" in message
