"""The planner's GPU choice for .tflite artifacts follows the delegates LiteRT's analyzer
recorded at export (``Artifact.delegates``); simulated inventories, synthetic manifests."""

from edgezoo.runtimes import Inventory, plan, target
from synthetic import PROFILE, artifact, latency, manifest

LITERT_GPU_AND_CPU = Inventory([target("litert", "gpu", "gpu"), target("litert", "cpu")])


def _tflite(delegates):
    art = artifact("tflite", latency=[latency("litert", "gpu", 256, 5.0), latency("litert", "cpu", 256, 50.0)])
    if delegates is not None:
        art["delegates"] = delegates
    return manifest("m", 30.0, [art])


def test_an_artifact_not_gpu_compatible_is_rejected_for_the_gpu_with_that_reason():
    p = plan([_tflite(["xnnpack"])], 1000, inventory=LITERT_GPU_AND_CPU, profile=PROFILE)
    assert p.chosen.kind == "cpu"
    gpu = [r for r in p.rejected if r.option.kind == "gpu"]
    assert len(gpu) == 1 and "not GPU-delegate compatible" in gpu[0].reason and "xnnpack" in gpu[0].reason


def test_a_gpu_compatible_artifact_and_one_without_a_record_may_go_to_the_gpu():
    for delegates in (["xnnpack", "gpu"], None):  # None: exported before the analyzer ran; nothing to go on
        p = plan([_tflite(delegates)], 1000, inventory=LITERT_GPU_AND_CPU, profile=PROFILE)
        assert p.chosen.kind == "gpu", delegates
        assert not any("GPU-delegate" in r.reason for r in p.rejected)
