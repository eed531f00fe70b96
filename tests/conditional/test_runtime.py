"""A predict-and-refine model through the whole product: every component exported and
gated by the one pipeline, restored by the runtime (tiled or whole, x4 included) exactly
as the PyTorch reference restores it, planned over the predictor alone and predictor +
K steps under a budget, and reached by `edgezoo run super-resolve|deblur`."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.manifests import Manifest, load_manifest  # noqa: E402
from edgezoo.runtimes import Inventory, load, plan, target  # noqa: E402
from edgezoo.runtimes.refine import refine  # noqa: E402
from edgezoo.runtimes.samplers import scheduler_from_dict  # noqa: E402
from edgezoo.runtimes.serving import serve  # noqa: E402

SIDE = 16  # the x4 model's input side at export: its step graph samples 64 x 64
PROFILE = "test-host-2c-00000000"


@pytest.fixture(scope="module")
def sr4_export(tmp_path_factory):
    """dvsr-tiny-sr4 (seeded random weights) exported to ONNX, static and dynamic, by the pipeline."""
    from edgezoo.export.pipeline import export_model

    out = tmp_path_factory.mktemp("store") / "dvsr-tiny-sr4"
    export_model("dvsr-tiny-sr4", formats="onnx", precisions="fp32", out_dir=out, height=SIDE, width=SIDE,
                 pretrained=False, workers=1)
    return out


def test_every_component_is_exported_and_gated_with_its_own_contract(sr4_export):
    manifest = load_manifest(sr4_export)
    by_key = {a.key: a for a in manifest.artifacts}
    assert set(by_key) == {f"{c}-onnx-fp32-{s}" for c in ("predictor", "denoiser") for s in ("static", "dynamic")}
    predictor, denoiser = by_key["predictor-onnx-fp32-static"], by_key["denoiser-onnx-fp32-static"]
    assert predictor.file == f"dvsr-tiny-sr4-predictor-{SIDE}x{SIDE}-fp32.onnx"
    assert predictor.input_shape == [1, 3, SIDE, SIDE] and denoiser.input_shape == [1, 3, 4 * SIDE, 4 * SIDE]
    assert by_key["denoiser-onnx-fp32-dynamic"].input_shape == [1, 3, "4H", "4W"]
    for art in manifest.artifacts:
        assert art.parity.executed and art.parity.passed and art.parity.psnr_db >= 100, art.key
        assert art.gflops_per_mpix and art.gflops_per_mpix > 0  # each graph's own FLOPs, for the planner
        assert art.quality is None  # a component alone has no task figure: the whole program has
    sizes = {name.split("@")[1] for name in by_key["denoiser-onnx-fp32-dynamic"].parity.inputs}
    assert len(sizes) == 2  # a dynamic graph is also run at a second, non-square size


@pytest.mark.parametrize("artifact,size", [("onnx-fp32-dynamic", (20, 24)), ("onnx-fp32-static", (20, 40))])
def test_the_runtime_restores_as_the_pytorch_reference_does(sr4_export, artifact, size):
    from edgezoo.zoo.weights import load_weights
    from edgezoo.zoo import create_model
    from edgezoo.zoo.train_conditional import torch_components

    session = load(sr4_export, artifact=f"denoiser-{artifact}")
    session.steps = 2
    rng = np.random.default_rng(3)
    picture = rng.random((1, 3, *size), dtype=np.float32)
    restored = session.run_nchw(picture)
    assert restored.shape == (1, 3, 4 * size[0], 4 * size[1])

    model = create_model("dvsr-tiny-sr4", pretrained=False)
    load_weights(model, sr4_export / "weights.safetensors")
    predict, denoise = torch_components(model)
    manifest = load_manifest(sr4_export)
    sampler = manifest.model_spec().program.sampler
    scheduler = scheduler_from_dict(sampler, 2)
    scale = sampler["refine"]["residual_scale"]

    def one(tile):
        return refine(predict, denoise, scheduler, tile, scale, count=1, seed=0)[1]

    tile = None if "dynamic" in artifact else (SIDE, SIDE)
    expected = serve(one, picture, 1, tile, None, "reflect", 4)
    assert np.abs(restored - expected).max() < 1e-3
    session.steps = 0  # the predictor alone
    alone = session.run_nchw(picture)
    assert np.abs(alone - serve(lambda t: np.clip(predict(t), 0, 1), picture, 1, tile, None, "reflect", 4)).max() < 1e-4
    assert "predict-and-refine" in session.describe()["tiling"]


def _measured(manifest: Manifest, pred_ms: float, step_ms: float, quality: dict[int, float]) -> Manifest:
    """The export's manifest with simulated latencies on the test profile and PSNR per step count."""
    data = manifest.model_dump(mode="json")
    for art in data["artifacts"]:
        ms = pred_ms if art["component"] == "predictor" else step_ms
        art["latency"] = [{"device_profile": PROFILE, "backend": "onnxruntime", "device": "cpu",
                           "input_shape": art["input_shape"], "p50_ms": ms, "p90_ms": ms, "runs": 20}]
    data["artifacts"] = [a for a in data["artifacts"] if a["static_shape"]]
    data["quality"] = [{"dataset": "photos", "degradation": "bicubic x4", "seed": 0, "note": f"{k} steps",
                        "mean": {"psnr_db": v, "ssim": 0.8}, "metrics": {"steps": k, "psnr_db": v}}
                       for k, v in quality.items()]
    return Manifest.model_validate(data)


def test_the_plan_buys_refinement_steps_as_the_budget_allows(sr4_export):
    manifest = _measured(load_manifest(sr4_export), pred_ms=10.0, step_ms=20.0, quality={0: 25.0, 2: 26.0, 25: 27.0})
    inventory = Inventory([target("onnxruntime", "cpu", "cpu")])

    def chosen(budget):
        return plan([manifest], budget, inventory=inventory, profile=PROFILE, image_size=(SIDE, SIDE),
                    max_memory_mb=float("inf"), measured_elsewhere=[]).chosen

    tight, medium, loose = chosen(20), chosen(100), chosen(1000)
    assert (tight.steps, tight.p90_ms) == (0, 10.0) and "predictor-onnx-fp32-static alone" in tight.label
    assert (medium.steps, medium.p90_ms) == (2, 50.0)  # predictor + 2 step-graph calls
    assert (loose.steps, loose.p90_ms) == (25, 510.0)
    assert loose.partners["predictor"].component == "predictor"
    with pytest.raises(Exception, match="nothing fits 5 ms"):
        chosen(5)
    # a picture of several tiles costs every part once per tile (the overlap makes them 3 x 3 here)
    from edgezoo.runtimes.serving import tile_layout
    from edgezoo.runtimes.tiling import tile_count

    ph, pw, overlap, align = tile_layout(2 * SIDE, 2 * SIDE, SIDE, SIDE, 1)
    tiles = tile_count(ph, pw, SIDE, SIDE, overlap, align)
    tiled = plan([manifest], 1000, inventory=inventory, profile=PROFILE, image_size=(2 * SIDE, 2 * SIDE),
                 max_memory_mb=float("inf"), measured_elsewhere=[]).chosen
    assert tiles > 1 and tiled.steps == 2 and tiled.p90_ms == pytest.approx(tiles * 10.0 + tiles * 2 * 20.0)


def test_a_step_graph_without_its_predictor_is_not_an_option(sr4_export):
    manifest = load_manifest(sr4_export)
    alone = manifest.model_copy(update={"artifacts": [a for a in manifest.artifacts if a.component == "denoiser"]})
    with pytest.raises(Exception, match="no predictor artifact of the same format, precision and shape kind"):
        plan([alone], None, inventory=Inventory([target("onnxruntime", "cpu", "cpu")]), profile=PROFILE,
             measured_elsewhere=[])


def test_run_super_resolve_plans_and_writes_the_x4_picture(sr4_export, tmp_path):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((18, 22, 3)) * 255).astype(np.uint8)).save(tmp_path / "small.png")
    env = {**__import__("os").environ, "EDGEZOO_ARTIFACTS": str(sr4_export.parent)}
    done = subprocess.run([sys.executable, "-m", "edgezoo", "run", "super-resolve", str(tmp_path / "small.png"),
                           "-o", str(tmp_path / "big.png"), "--budget-ms", "100000"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "plan: dvsr-tiny-sr4" in done.stdout and "predict-and-refine" in done.stdout
    assert Image.open(tmp_path / "big.png").size == (88, 72)


def test_the_task_a_user_names_reaches_the_predict_and_refine_models(sr4_export):
    from edgezoo.runtimes.store import resolve
    from edgezoo.tasks import served_task

    assert served_task("conditional-sr4") == "super-resolve" and served_task("conditional-deblur") == "deblur"
    assert served_task("denoise") == "denoise"
    for name in ("super-resolve", "conditional-sr4"):
        assert [e.name for e in resolve(name, [sr4_export.parent])] == ["dvsr-tiny-sr4"]


def test_int8_calibration_feeds_each_component_what_it_sees_in_service():
    from edgezoo.export.contract import io_contract
    from edgezoo.tasks import protocol_for
    from edgezoo.zoo import get_entry

    entry = get_entry("dvsr-tiny-sr4")
    protocol = protocol_for(entry.task)
    for component, names in (("predictor", {"degraded"}), ("denoiser", {"sample", "timestep", "condition"})):
        io = io_contract(entry, SIDE, SIDE, component=component)
        contract = {"model": entry.name, "task": entry.task, "spec": entry.spec(SIDE, SIDE).model_dump(mode="json"),
                    "io": io.model_dump(mode="json"), "component": component}
        few, more = protocol.calibration_samples(contract, 2), protocol.calibration_samples(contract, 4)
        assert len(more) == 4 and all(set(s) == names for s in more)
        for a, b in zip(few, more[:2]):  # a larger count extends a smaller one's
            assert all(np.array_equal(a[k], b[k]) for k in a)
        for tensor in io.inputs:
            assert more[0][tensor.name].shape == tuple(tensor.shape), (component, tensor.name)
    denoiser = protocol.calibration_samples(contract, 6)
    assert len({float(s["timestep"][0]) for s in denoiser}) > 1  # the program's timesteps in turn


def test_a_bundle_of_a_two_graph_model_is_refused_before_any_export(tmp_path):
    done = subprocess.run([sys.executable, "-m", "edgezoo", "bundle", "dvsr-tiny-deblur", "--platform", "android",
                           "-o", str(tmp_path / "b.zip")], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "EDGEZOO_ARTIFACTS": str(tmp_path / "store")})
    assert done.returncode == 2 and "runs 2 graphs (predictor, denoiser)" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())
