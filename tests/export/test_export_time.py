"""What makes the full export fast without changing what it produces: formats in worker
processes, stage timers, and a re-export that keeps bench's latencies of unchanged files."""

import time

import pytest

from edgezoo.export import timing
from edgezoo.export.pipeline import export_model, export_workers
from edgezoo.manifests.schema import Latency, load_manifest

MODEL = "maxim-tiny-denoise"
FORMATS = "openvino,coreml"  # the two quickest converters: one executed, one spec-checked


def _figures(manifest):
    return {a.file: (a.sha256, a.parity.psnr_db if a.parity else None, a.parity.passed if a.parity else None)
            for a in manifest.artifacts}


def test_stages_book_time_to_the_innermost_stage_only():
    timing.reset()
    with timing.stage("outer"):
        time.sleep(0.05)
        with timing.stage("inner"):
            time.sleep(0.1)
        time.sleep(0.05)
    times = timing.stage_times()
    assert times["inner"]["count"] == 1 and times["outer"]["count"] == 1
    assert 0.09 <= times["inner"]["seconds"] < 0.3
    assert 0.09 <= times["outer"]["seconds"] < 0.3  # 0.1 s of its own, not the inner 0.1 s too
    timing.merge({"inner": {"seconds": 1.0, "count": 2}})
    assert timing.stage_times()["inner"]["count"] == 3
    timing.reset()
    assert timing.stage_times() == {}


def test_worker_count_defaults_to_the_cores_and_never_exceeds_the_formats(monkeypatch):
    monkeypatch.delenv("EDGEZOO_EXPORT_WORKERS", raising=False)
    assert export_workers(8, 4, supplied=False) == 4
    assert export_workers(None, 1, supplied=False) == 1
    assert export_workers(4, 3, supplied=True) == 1  # a caller's module stays in this process
    monkeypatch.setenv("EDGEZOO_EXPORT_WORKERS", "1")
    assert export_workers(None, 4, supplied=False) == 1


@pytest.mark.slow  # two exports; the default run covers workers through every multi-format export fixture
def test_formats_exported_in_workers_match_one_process(tmp_path):
    timing.reset()
    events = []
    parallel = export_model(MODEL, formats=FORMATS, precisions="fp32,fp16", out_dir=tmp_path / "parallel",
                            height=64, width=64, pretrained=False, workers=2, progress=events.append)
    stages = timing.stage_times()
    serial = export_model(MODEL, formats=FORMATS, precisions="fp32,fp16", out_dir=tmp_path / "serial",
                          height=64, width=64, pretrained=False, workers=1)
    assert sorted(_figures(parallel)) == sorted(_figures(serial)) and len(parallel.artifacts) == 4
    for file, (sha, parity, passed) in _figures(parallel).items():
        serial_sha, serial_parity, serial_passed = _figures(serial)[file]
        assert passed and serial_passed
        assert parity == serial_parity  # the same file, gated on the same inputs in the same runtime
        if file.endswith(".xml"):
            assert sha == serial_sha
    # the manifest on disk is the parent's, with every artifact the workers reported
    assert sorted(a.file for a in load_manifest(tmp_path / "parallel").artifacts) == sorted(_figures(parallel))
    assert {e.kind for e in events} >= {"start", "done"}
    # the workers' stage times came back to this process
    assert "convert openvino" in stages and "convert coreml" in stages and stages["parity"]["count"] >= 4


def test_a_reexport_keeps_the_latency_of_an_artifact_whose_bytes_did_not_change(tmp_path):
    # ONNX (like TFLite) converts byte for byte the same from the same weights; OpenVINO's IR did not
    # in one run of this test
    out = tmp_path / "export"
    manifest = export_model(MODEL, formats="onnx", precisions="fp32", out_dir=out, height=64, width=64,
                            pretrained=False, dynamic=False)
    art = manifest.artifacts[0]
    art.latency = [Latency(device_profile="test-profile", backend="onnxruntime", device="cpu",
                           input_shape=[1, 3, 64, 64], p50_ms=1.0, p90_ms=2.0, runs=5)]
    manifest.save(out / "manifest.yaml")
    again = export_model(MODEL, formats="onnx", precisions="fp32", out_dir=out, height=64, width=64,
                         pretrained=False, dynamic=False)
    (new,) = again.artifacts
    assert new.sha256 == art.sha256, "the ONNX conversion is no longer byte-for-byte repeatable"
    assert [e.p90_ms for e in new.latency] == [2.0]
    assert load_manifest(out).artifacts[0].latency[0].device_profile == "test-profile"
