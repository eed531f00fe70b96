"""Helpers of the reliability tests (imported by name: conftest modules are not)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env_for_subprocess() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def edgezoo_process(*args, timeout: float = 300) -> tuple[int, str, str]:
    """Run the CLI as its own process (bytes names travel as bytes): (status, stdout, stderr),
    the output decoded with surrogates for bytes that are not UTF-8."""
    import subprocess

    result = subprocess.run([sys.executable, "-m", "edgezoo", *[os.fsencode(str(a)) if not isinstance(a, (bytes, os.PathLike)) else os.fsencode(a) for a in args]], capture_output=True,
                            timeout=timeout, env=env_for_subprocess())
    return result.returncode, os.fsdecode(result.stdout), os.fsdecode(result.stderr)


def can_block_reads(tmp_path: Path) -> bool:
    """Whether chmod 000 stops this process reading (not as root)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_text()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o600)


LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def classifier_export(out: Path) -> Path:
    """A linear classifier (28x28 grey to 10 logits) as ONNX, built without torch, with
    a classify contract like maxvit-tiny-fmnist's: the runtime's `single` program path."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgezoo.files import sha256_file, size_bytes
    from edgezoo.manifests import Manifest

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array((rng.standard_normal((784, 10)) * 0.1).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "linear", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(out / "linear.onnx"))
    image = {"name": "image", "role": "image", "shape": [1, 1, 28, 28], "color": "L"}
    logits = {"name": "logits", "role": "logits", "shape": [1, 10], "layout": "NC", "range": None, "color": None,
              "shape_rule": "fixed"}
    Manifest.model_validate({
        "name": "linear-test", "family": "test", "task": "classify", "paper": {"title": "-", "url": "-"},
        "config": {}, "params": 7840, "io": {"inputs": [image], "outputs": [logits]},
        "spec": {"protocol": "classify", "components": [{"name": "net", "inputs": [image], "outputs": [logits]}],
                 "program": {"kind": "single", "component": "net"}, "labels": LABELS,
                 "metrics": [{"name": "top1", "unit": "%", "higher_is_better": True}]},
        "preprocessing": {"color": "L", "pad_to_multiple_of": 1},
        "artifacts": [{"format": "onnx", "precision": "fp32", "file": "linear.onnx",
                       "sha256": sha256_file(out / "linear.onnx"), "bytes": size_bytes(out / "linear.onnx"),
                       "static_shape": True, "input_shape": [1, 1, 28, 28]}],
    }).save(out / "manifest.yaml")
    return out
