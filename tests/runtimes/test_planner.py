"""The planner on simulated inventories and synthetic manifests (no files, no backends run)."""

import math
import sys

import pytest

from edgezoo.errors import BadInputError, BudgetUnreachableError
from edgezoo.manifests import Manifest
from edgezoo.runtimes import Inventory, plan, target
from edgezoo.runtimes.planner import default_memory_limit_mb
from synthetic import PROFILE, artifact, latency, manifest

CPU_ONLY = Inventory([target("onnxruntime", "cpu", "cpu"), target("openvino", "cpu", "CPU"), target("litert", "cpu")])
GPU_AND_CPU = Inventory([target("onnxruntime", "gpu", "cuda"), target("onnxruntime", "cpu", "cpu")])
NPU_ONLY = Inventory([target("openvino", "npu", "NPU")])


def variants():
    """A fast, weaker tiny model and a slow, better small model, measured on CPU and GPU."""
    tiny = manifest("tiny", 29.0, [
        artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 40.0), latency("onnxruntime", "cuda", 256, 4.0)]),
        artifact("tflite", latency=[latency("litert", "cpu", 256, 30.0)]),
    ], gflops=50)
    small = manifest("small", 31.0, [
        artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 300.0), latency("onnxruntime", "cuda", 256, 20.0)]),
        artifact("openvino", latency=[latency("openvino", "CPU", 256, 250.0)]),
    ], gflops=400)
    return [tiny, small]


def run(inventory, budget_ms=None, **kw):
    return plan(variants(), budget_ms, inventory=inventory, profile=PROFILE, fallback_gflops=lambda: 100.0, **kw)


def test_tight_budget_picks_the_fast_variant_and_says_why():
    p = run(CPU_ONLY, budget_ms=100)
    assert (p.chosen.model, p.chosen.backend) == ("tiny", "litert")
    assert not p.chosen.estimated and p.chosen.p90_ms == 30.0
    assert any("best quality" in r and "29.00 dB" in r for r in p.reasons)
    too_slow = [r for r in p.rejected if r.option.model == "small"]
    assert too_slow and all("exceeds the 100 ms budget" in r.reason for r in too_slow)


def test_loose_budget_picks_the_better_variant():
    p = run(CPU_ONLY, budget_ms=1000)
    assert p.chosen.model == "small" and p.chosen.backend == "openvino"  # 250 ms beats 300 ms at equal quality
    lower = [r for r in p.rejected if r.option.model == "tiny"]
    assert lower and all("quality is lower" in r.reason for r in lower)


def test_gpu_is_preferred_at_equal_quality_and_cpu_when_asked():
    p = run(GPU_AND_CPU, budget_ms=100)
    assert (p.chosen.model, p.chosen.kind) == ("small", "gpu")
    p = run(GPU_AND_CPU, budget_ms=100, prefer=["cpu"])
    assert (p.chosen.model, p.chosen.kind) == ("tiny", "cpu")
    assert any("not in prefer=cpu" in r.reason for r in p.rejected)


def test_npu_only_host_runs_onnx_through_openvino_with_estimates():
    p = run(NPU_ONLY, budget_ms=10_000)
    assert p.chosen.target.key == "openvino:NPU"
    assert p.chosen.estimated  # nothing was measured on the NPU
    assert "GFLOP" in p.chosen.basis
    unreadable = [r for r in p.rejected if r.option.artifact.format == "tflite"]
    assert unreadable and "no usable backend on this host reads tflite" in unreadable[0].reason


def test_a_backend_that_fails_on_this_host_is_named_in_the_rejections():
    broken = Inventory([target("onnxruntime", "cpu", "cpu")], failures={"litert": "RuntimeError: bad delegate"})
    p = run(broken, budget_ms=1000)
    tflite = [r for r in p.rejected if r.option.artifact.format == "tflite"]
    assert tflite and "litert failed here: RuntimeError: bad delegate" in tflite[0].reason


def test_unreachable_budget_names_the_fastest_option_and_its_latency():
    with pytest.raises(BudgetUnreachableError) as info:
        run(CPU_ONLY, budget_ms=5)
    message = str(info.value)
    assert "tiny tflite-fp32-static on litert:cpu" in message and "30.0 ms" in message
    assert "\n" not in message
    assert info.value.fastest.p90_ms == 30.0


def test_no_budget_gives_the_fastest():
    p = run(GPU_AND_CPU)
    assert (p.chosen.model, p.chosen.device, p.chosen.p90_ms) == ("tiny", "cuda", 4.0)
    assert any("no budget" in r for r in p.reasons)


def test_measurements_of_other_profiles_are_ignored_and_estimates_are_flagged():
    m = manifest("m", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 1.0, profile="other")])], gflops=10)
    p = plan([m], 1000, inventory=CPU_ONLY, profile=PROFILE, fallback_gflops=lambda: 100.0)
    assert p.chosen.estimated and p.chosen.p90_ms == pytest.approx(10 * 0.065536 / (100 * 0.2) * 1000)
    assert "fp32 matmul rate" in p.chosen.basis
    assert any("estimated" in r for r in p.reasons)


def test_estimates_use_the_throughput_this_profile_measured():
    measured = manifest("a", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 100.0)])], gflops=100)
    unmeasured = manifest("b", 31.0, [artifact("onnx")], gflops=200)  # twice the FLOPs
    p = plan([measured, unmeasured], 1000, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime")
    b = p.chosen
    assert b.model == "b" and b.estimated and b.p90_ms == pytest.approx(200.0)


def test_a_measurement_at_another_size_is_scaled_and_flagged():
    m = manifest("m", 30.0, [artifact("onnx", side=None, latency=[latency("onnxruntime", "cpu", 128, 10.0)])])
    p = plan([m], 100, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime", image_size=(256, 256))
    assert p.chosen.estimated and p.chosen.p90_ms == pytest.approx(40.0)
    assert "scaled" in p.chosen.basis


def test_fixed_shape_artifacts_pay_for_their_tiles():
    m = manifest("m", 30.0, [artifact("onnx", side=64, latency=[latency("onnxruntime", "cpu", 64, 2.0)])])
    p = plan([m], 1000, inventory=CPU_ONLY, profile=PROFILE, image_size=(256, 256))
    assert p.chosen.calls > 1 and p.chosen.p90_ms == pytest.approx(2.0 * p.chosen.calls)


def test_failed_parity_is_never_chosen():
    bad = manifest("bad", 40.0, [artifact("onnx", parity_passed=False, latency=[latency("onnxruntime", "cpu", 256, 1.0)])])
    good = manifest("good", 30.0, [artifact("onnx", parity_passed=True, latency=[latency("onnxruntime", "cpu", 256, 50.0)])])
    p = plan([bad, good], 100, inventory=CPU_ONLY, profile=PROFILE)
    assert p.chosen.model == "good"
    assert any("parity" in r.reason for r in p.rejected if r.option.model == "bad")


def test_filters_and_bad_options():
    p = run(CPU_ONLY, budget_ms=1000, backend="onnxruntime")
    assert p.chosen.backend == "onnxruntime"
    with pytest.raises(BadInputError, match="--prefer"):
        run(CPU_ONLY, prefer=["tpu"])
    with pytest.raises(BadInputError, match="positive"):
        run(CPU_ONLY, budget_ms=-1)
    with pytest.raises(BadInputError, match="no runnable option"):
        run(CPU_ONLY, backend="coreml")


def test_plan_serialises_every_option():
    d = run(CPU_ONLY, budget_ms=100).to_dict()  # 6 options: onnx on ORT and OpenVINO, tflite, IR
    assert d["chosen"]["model"] == "tiny" and d["reasons"]
    assert len(d["rejected"]) == 5 and all(r["reason"] for r in d["rejected"])


def _measured(fmt: str, precision: str, p90: float, psnr: float | None, degradation: str = "gaussian sigma=25") -> dict:
    """An export's artifact with its own latency and (unless None) its own task quality."""
    art = artifact(fmt, precision, latency=[latency("onnxruntime", "cpu", 256, p90)], parity_passed=True)
    art["parity"]["threshold_db"] = {"fp32": 60.0, "fp16": 40.0, "int8": 30.0}[precision]
    if psnr is not None:
        art["quality"] = {"dataset": "photos", "degradation": degradation, "seed": 0,
                          "mean": {"psnr_db": psnr, "ssim": 0.8}}
    return art


def precisions_export(int8_psnr: float | None = 29.8) -> list:
    """One model exported at three precisions: int8 twice as fast, 0.2 dB worse. The
    manifest also reports the PyTorch model at another noise level, listed first."""
    m = manifest("m", 30.1, [_measured("onnx", "fp32", 300.0, 30.0), _measured("onnx", "fp16", 290.0, 30.0),
                             _measured("onnx", "int8", 150.0, int8_psnr)])
    sigma15 = {**m.quality[0].model_dump(), "degradation": "gaussian sigma=15", "mean": {"psnr_db": 34.0, "ssim": 0.9}}
    m.quality.insert(0, type(m.quality[0]).model_validate(sigma15))
    return [m]


ORT_CPU = Inventory([target("onnxruntime", "cpu", "cpu")])


def test_int8_that_fits_the_budget_beats_fp32_that_does_not():
    p = plan(precisions_export(), 200, inventory=ORT_CPU, profile=PROFILE)
    assert p.chosen.artifact.precision == "int8" and p.chosen.quality == 29.8
    assert "this artifact" in p.chosen.quality_source
    by_precision = {r.option.artifact.precision: r.reason for r in p.rejected}
    assert "exceeds the 200 ms budget" in by_precision["fp32"] and "exceeds" in by_precision["fp16"]


def test_within_budget_the_higher_quality_precision_wins_over_faster_int8():
    p = plan(precisions_export(), 1000, inventory=ORT_CPU, profile=PROFILE)
    assert p.chosen.artifact.precision == "fp16"  # fp32's quality, and faster than fp32
    assert p.chosen.quality == 30.0  # the artifacts' own sigma-25 figures, not the model's sigma-15 one
    int8 = next(r for r in p.rejected if r.option.artifact.precision == "int8")
    assert "quality is lower: 29.80 dB vs 30.00 dB" in int8.reason


def test_int8_without_its_own_quality_does_not_borrow_the_models():
    p = plan(precisions_export(int8_psnr=None), 1000, inventory=ORT_CPU, profile=PROFILE)
    assert p.chosen.artifact.precision == "fp16"
    int8 = next(r for r in p.rejected if r.option.artifact.precision == "int8")
    assert "quality is lower: unknown" in int8.reason and int8.option.quality is None


def test_the_shipped_denoisers_make_a_real_choice_for_the_task():
    """The two variants that ship for ``denoise``, with their measured quality and FLOPs,
    given latencies in proportion to their FLOPs: tight budget, tiny; loose, small."""
    from edgezoo.manifests import Artifact, packaged_manifest

    shipped = [packaged_manifest("maxim-tiny-denoise"), packaged_manifest("maxim-small-denoise")]
    tiny, small = shipped
    assert tiny.task == small.task == "denoise" and small.params > 5 * tiny.params
    for sigma in (15, 25, 50):  # the larger variant is better at every noise level measured
        q = [next(r for r in m.quality if f"sigma={sigma}/" in r.degradation).mean.psnr_db for m in shipped]
        assert q[1] > q[0] + 0.1
    variants = [m.model_copy(update={"artifacts": [Artifact.model_validate(
        artifact("tflite", latency=[latency("litert", "cpu", 256, m.gflops_per_mpix * 256 * 256 / 1e6 / 0.09)]))]})
        for m in shipped]  # ~90 GFLOP/s, what LiteRT reaches on this 2-core host
    fast, slow = (variants[i].artifacts[0].latency[0].p90_ms for i in (0, 1))
    tight = plan(variants, budget_ms=(fast + slow) / 2, inventory=CPU_ONLY, profile=PROFILE)
    loose = plan(variants, budget_ms=slow * 1.5, inventory=CPU_ONLY, profile=PROFILE)
    assert tight.chosen.model == "maxim-tiny-denoise" and loose.chosen.model == "maxim-small-denoise"
    assert any("exceeds" in r.reason for r in tight.rejected if r.option.model == "maxim-small-denoise")
    assert any("quality is lower" in r.reason for r in loose.rejected if r.option.model == "maxim-tiny-denoise")


def test_a_request_costs_tiles_times_steps():
    """A sampler program calls its step graph once per step for every tile: the planner
    counts (tiles x steps) calls, so a 4-step and a 16-step variant of the same graph
    differ by 4x in cost, with no diffusion-specific code in the planner."""
    from edgezoo.manifests.schema import Component, ModelSpec, Program
    from edgezoo.runtimes.planner import call_plan

    tiled = manifest("m", 30.0, [artifact("onnx", side=256)])
    shape, tiles = call_plan(tiled.artifacts[0], tiled, (512, 512))
    assert shape == [1, 3, 256, 256] and tiles >= 4
    for steps in (4, 16):
        sampled = tiled.model_copy(update={"spec": ModelSpec(
            protocol="restore", components=[Component(name="net", inputs=tiled.io.inputs, outputs=tiled.io.outputs)],
            program=Program(kind="sampler", sampler={"steps": steps}), metrics=tiled.model_spec().metrics)})
        assert call_plan(sampled.artifacts[0], sampled, (512, 512)) == (shape, tiles * steps)
    dynamic = tiled.model_copy(update={
        "artifacts": [tiled.artifacts[0].model_copy(update={"static_shape": False, "input_shape": [1, 3, "H", "W"]})],
        "spec": ModelSpec(protocol="restore", components=[Component(name="net", inputs=tiled.io.inputs,
                          outputs=tiled.io.outputs)], program=Program(kind="sampler", sampler={"steps": 8}),
                          metrics=tiled.model_spec().metrics)})
    assert call_plan(dynamic.artifacts[0], dynamic, (100, 60)) == ([1, 3, 128, 64], 8)


def _generators(per_step_ms: dict[str, float]) -> list:
    """The shipped diffusion ladder's manifests (their measured FD-versus-steps tables),
    each with one ONNX step graph measured at ``per_step_ms`` per call on PROFILE."""
    from edgezoo.manifests import packaged_manifest

    out = []
    for name, ms in per_step_ms.items():
        m = packaged_manifest(name)
        art = artifact("onnx", side=32, latency=[{**latency("onnxruntime", "cpu", 32, ms), "input_shape": [1, 1, 32, 32]}])
        art["input_shape"] = [1, 1, 32, 32]
        out.append(m.model_copy(update={"artifacts": [Manifest.model_validate(
            {**m.model_dump(), "artifacts": [art]}).artifacts[0]]}))
    return out


@pytest.mark.parametrize("budget_ms", [20.0, 60.0, 150.0, 400.0, 2000.0])
def test_the_planner_picks_size_times_steps_with_the_lowest_fd_that_fits(budget_ms):
    """Every (model, measured step count) is an option costing steps x its per-step
    latency; within the budget the lowest Fréchet distance wins (lower is better), so the
    choice equals the brute-force best over the manifests' own tables."""
    per_step = {"ddpm-unet-fmnist-xs": 0.5, "ddpm-unet-fmnist-s": 1.2, "ddpm-unet-fmnist-m": 4.0,
                "ddpm-unet-fmnist-s-distill4": 1.2}
    gens = _generators(per_step)
    table = [(m.name, int(q.metrics["steps"]), q.metrics["fd_fmnist"]) for m in gens for q in m.quality]
    assert len({name for name, _, _ in table}) == 4 and all(steps >= 2 for _, steps, _ in table)  # 3 sizes + student
    fitting = [row for row in table if row[1] * per_step[row[0]] * 1.0 <= budget_ms]
    p = plan(gens, budget_ms, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime")
    best = min(fd for _, _, fd in fitting)
    assert p.chosen.quality == pytest.approx(best, abs=0.05)  # within the planner's tie tolerance
    assert p.chosen.steps is not None and p.chosen.calls == p.chosen.steps
    assert p.chosen.p90_ms == pytest.approx(p.chosen.steps * per_step[p.chosen.model])
    assert "lower is better" in p.chosen.quality_text() and f"at {p.chosen.steps} steps" in " ".join(p.reasons)
    worse = [r for r in p.rejected if r.option.quality is not None and r.option.p90_ms is not None
             and r.option.p90_ms <= budget_ms
             and r.option.quality > best + 0.05]
    assert worse and all("quality is lower" in r.reason for r in worse)


def test_a_generator_plan_runs_with_the_chosen_steps():
    from edgezoo.runtimes.planner import call_plan

    gens = _generators({"ddpm-unet-fmnist-s": 1.0})
    p = plan(gens, 10.0, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime")
    assert p.chosen.steps <= 10 and p.to_dict()["chosen"]["steps"] == p.chosen.steps
    assert call_plan(p.chosen.artifact, gens[0], (32, 32), p.chosen.steps)[1] == p.chosen.steps
    assert f"x {p.chosen.steps} steps" in p.chosen.label


def test_an_export_of_other_weights_borrows_no_shipped_quality():
    """An untrained export (or the caller's own weights) of a shipped model is not the
    shipped model: its options carry no quality, and no step counts from the shipped table."""
    gen = _generators({"ddpm-unet-fmnist-s": 1.0})[0]
    untrained = gen.model_copy(update={"quality": [], "weights": gen.weights.model_copy(
        update={"recipe": "none", "trained_on": "untrained: seeded random initialisation"})})
    p = plan([untrained], 100.0, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime")
    assert p.chosen.quality is None and p.chosen.steps is None
    assert p.chosen.calls == untrained.model_spec().program.sampler["steps"]
    shipped = plan([gen], 100.0, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime")
    assert shipped.chosen.quality is not None and shipped.chosen.steps is not None


def test_one_plan_measures_the_host_rate_once():
    """Unmeasured options are estimated from one host-rate measurement per plan, so
    their ranking is not the noise of several timings taken under changing load."""
    calls = []

    def noisy_rate() -> float:
        calls.append(1)
        return 100.0 * len(calls)  # every call a different figure

    gens = _generators({"ddpm-unet-fmnist-s": 1.0})
    bare = [m.model_copy(update={"artifacts": [a.model_copy(update={"latency": []}) for a in m.artifacts]}) for m in gens]
    p = plan(bare, 10_000.0, inventory=CPU_ONLY, profile=PROFILE, backend="onnxruntime", fallback_gflops=noisy_rate)
    assert len(calls) == 1
    options = [p.chosen] + [r.option for r in p.rejected if r.option.p90_ms is not None]
    per_step = {round(o.p90_ms / o.calls, 9) for o in options}
    assert len(options) > 3 and len(per_step) == 1  # every step count costed at the same per-call rate


# ---------------------------------------------------------------------------------------
# Peak memory: a large photo goes to tiles when the dynamic graph would not fit

PHOTO = (2000, 1334)  # a dynamic artifact runs it whole, padded to 2016x1344
OV_AND_LITERT = Inventory([target("openvino", "cpu", "CPU"), target("litert", "cpu")])


def photo_variants(dynamic_peak: float | None = 120.0, tile_peak: float | None = 390.0) -> list:
    """One model, two artifacts, as the issue measured them: a dynamic ONNX graph (fast per
    pixel, memory growing with the image: 120 MB at 256x256 scales to ~4.96 GB at
    2016x1344) and a 256x256 tflite run tile by tile (slower, 390 MB whatever the image)."""
    return [manifest("m", 30.0, [
        artifact("onnx", side=None, latency=[latency("openvino", "CPU", 256, 30.0, peak_mb=dynamic_peak)]),
        artifact("tflite", side=256, latency=[latency("litert", "cpu", 256, 40.0, peak_mb=tile_peak)]),
    ])]


def plan_photo(max_memory_mb=None, budget_ms=None, **kw):
    return plan(photo_variants(**kw), budget_ms, inventory=OV_AND_LITERT, profile=PROFILE, image_size=PHOTO,
                max_memory_mb=max_memory_mb)


def test_a_large_photo_goes_to_tiles_when_the_dynamic_peak_exceeds_the_limit():
    p = plan_photo(max_memory_mb=2048)
    assert p.chosen.artifact.format == "tflite" and p.chosen.calls > 1
    assert p.chosen.peak_mb == 390.0 and p.chosen.call_shape == [1, 3, 256, 256]  # a tile's peak, not the photo's
    assert p.chosen.memory_basis.startswith("measured")
    dynamic = next(r for r in p.rejected if r.option.artifact.format == "onnx")
    peak = 120.0 * 2016 * 1344 / (256 * 256)
    assert dynamic.option.peak_mb == pytest.approx(peak) and dynamic.option.memory_basis.startswith("scaled")
    assert dynamic.reason == f"peak {peak:.0f} MB (scaled) at 2016x1344 exceeds the 2048 MB memory limit"
    assert any("1 option(s) need more than the 2048 MB memory limit" in r for r in p.reasons)
    assert any(r.startswith("peak memory 390 MB per call: measured") and "within the 2048 MB" in r for r in p.reasons)
    assert "peak 390 MB" in p.summary()
    d = p.to_dict()
    assert d["max_memory_mb"] == 2048 and d["chosen"]["peak_mb"] == 390.0
    assert d["rejected"][0]["peak_mb"] == pytest.approx(peak, abs=1e-3) and "scaled" in d["rejected"][0]["memory_basis"]


def test_the_dynamic_graph_runs_the_photo_when_the_limit_allows_and_it_is_faster():
    p = plan_photo(max_memory_mb=8192)
    assert p.chosen.artifact.format == "onnx" and p.chosen.backend == "openvino"
    assert p.chosen.peak_mb == pytest.approx(120.0 * 2016 * 1344 / 65536)
    assert "peak 4961 MB (scaled)" in p.summary()
    tiles = next(r for r in p.rejected if r.option.artifact.format == "tflite")
    assert tiles.reason.startswith("slower")
    assert plan_photo(max_memory_mb=math.inf).chosen.artifact.format == "onnx"  # inf: no limit
    assert plan_photo(max_memory_mb=math.inf).max_memory_mb is None


def test_unknown_memory_is_kept_and_said():
    p = plan_photo(max_memory_mb=100, dynamic_peak=None)
    assert p.chosen.artifact.format == "onnx" and p.chosen.peak_mb is None
    assert any("peak memory unknown" in r and "the 100 MB memory limit could not be checked" in r for r in p.reasons)
    tiles = next(r for r in p.rejected if r.option.artifact.format == "tflite")
    assert "exceeds the 100 MB memory limit" in tiles.reason


def test_nothing_within_the_memory_limit_names_the_smallest_peak():
    with pytest.raises(BudgetUnreachableError) as info:
        plan_photo(max_memory_mb=100)
    message = str(info.value)
    assert "nothing fits the 100 MB memory limit for a 2000x1334 image" in message
    assert "m tflite-fp32-static on litert:cpu at 390 MB" in message and "--max-memory-mb 390" in message
    assert info.value.smallest.artifact.format == "tflite"
    with pytest.raises(BadInputError, match="memory limit must be a positive"):
        plan_photo(max_memory_mb=0)


class _FakePsutil:
    class _Memory:
        available = 8 * 2**30  # 8 GiB available

    @staticmethod
    def virtual_memory():
        return _FakePsutil._Memory()


def test_the_default_limit_is_half_the_available_memory_with_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", _FakePsutil)
    assert default_memory_limit_mb() == 4096
    p = plan_photo()  # 4961 MB > 4096 MB: tiles
    assert p.max_memory_mb == 4096 and p.chosen.artifact.format == "tflite"
    assert any("(the default: 50% of this host's available memory)" in r for r in p.reasons)


def test_no_default_limit_without_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    assert default_memory_limit_mb() is None
    p = plan_photo()
    assert p.max_memory_mb is None and p.chosen.artifact.format == "onnx"
    assert not any("memory limit" in r for r in p.reasons)
