"""The same artifact through every installed backend on the CPU: same numbers, and
describe() says where it ran."""

import numpy as np
import pytest

from edgezoo import runtimes
from edgezoo.metrics import psnr
from edgezoo.runtimes.backends import get_backend
from edgezoo.runtimes.store import open_export_dir


def _sessions(export):
    """Every (artifact, backend) pair an installed backend reads. A pair that should load
    and does not is an error here, not a pair silently left out."""
    manifest = open_export_dir(export).manifest
    found = {}
    for art in manifest.artifacts:
        for backend in ("onnxruntime", "openvino", "litert"):
            engine = get_backend(backend)
            if art.format in engine.formats and engine.available():
                session = runtimes.load(export, backend=backend, artifact=art.key, prefer=["cpu"])
                assert not any(r.startswith("fell back") for r in session.plan.reasons), session.plan.reasons
                found[f"{art.key}@{backend}"] = session
    assert found, "no installed backend reads any artifact of the export"
    return found


def test_onnxruntime_openvino_and_litert_agree_to_100_db(tiny_export):
    sessions = _sessions(tiny_export)
    backends = {key.split("@")[1] for key in sessions}
    assert len(backends) >= 2, f"need two backends to compare, have {sorted(backends)}"
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    outputs = {key: s(x) for key, s in sessions.items()}
    reference_key = next(iter(outputs))
    for key, out in outputs.items():
        assert out.shape == x.shape
        # fp32 in every backend: they agree at 130 dB or so; 100 leaves room and still catches a wrong kernel
        assert psnr(outputs[reference_key], out) >= 100.0, f"{key} vs {reference_key}"


def test_describe_reports_what_executed_where(tiny_export):
    x = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32)
    for key, session in _sessions(tiny_export).items():
        session(x)
        info = session.describe()["runtime"]
        assert info["fallback_to_cpu"] is False, key
        if info["backend"] == "onnxruntime":
            assert set(info["nodes_by_provider"]) == {"CPUExecutionProvider"}
        elif info["backend"] == "openvino":
            assert info["execution_devices"] == ["CPU"] and info["inference_precision"] == "f32"
        elif info["backend"] == "litert":
            assert info["fully_delegated"] is True and info["delegate_partitions"] >= 1


def test_an_onnx_runner_leaves_no_profile_file_whether_it_ran_or_not(conv_dir, tmp_path, monkeypatch):
    """The first run's profile (which nodes ran where) is read and removed; a runner
    loaded and dropped unrun must not leave ONNX Runtime's profile in the temp folder."""
    import gc
    import tempfile

    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    artifact = next(p for p in conv_dir.iterdir() if p.suffix == ".onnx")
    ran = get_backend("onnxruntime").load(artifact, "cpu", 1)
    shape = [d if isinstance(d, int) and d > 0 else 64 for d in ran.inputs[0].shape]
    ran.run(np.zeros(shape, np.float32))
    unrun = get_backend("onnxruntime").load(artifact, "cpu", 1)
    del ran, unrun
    gc.collect()
    assert not list(tmp_path.glob("edgezoo-ort-*")), sorted(p.name for p in tmp_path.iterdir())
