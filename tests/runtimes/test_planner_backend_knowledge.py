"""Plans that know the backend: estimates from what this profile measured on other
models, ties named with the rule that broke them, memory carried across backends of
one file, and bench's check for a busy host (simulated inventories and manifests)."""

import pytest

from edgezoo.runtimes import Inventory, plan, target
from edgezoo.runtimes.profile import HostRate
from synthetic import PROFILE, artifact, latency, manifest

CPU = Inventory([target("onnxruntime", "cpu", "cpu"), target("openvino", "cpu", "CPU"), target("litert", "cpu")])


def measured_model(rates: dict[str, float], gflops: float = 100.0):
    """Model ``a``, measured at 256x256 on each backend at the p90 that gives ``rates`` GFLOP/s."""
    gflop = gflops * 256 * 256 / 1e6
    ms = {b: gflop / r * 1000 for b, r in rates.items()}
    return manifest("a", 30.0, [
        artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, ms["onnxruntime"]),
                                  latency("openvino", "CPU", 256, ms["openvino-onnx"])]),
        artifact("tflite", latency=[latency("litert", "cpu", 256, ms["litert"])]),
        artifact("openvino", latency=[latency("openvino", "CPU", 256, ms["openvino"])]),
    ], gflops=gflops)


def unmeasured_model(gflops: float = 300.0):
    return manifest("b", 31.0, [artifact("onnx"), artifact("tflite"), artifact("openvino")], gflops=gflops)


def ranking(p) -> list[str]:
    options = [p.chosen] + [r.option for r in p.rejected if r.option.p90_ms is not None]
    return [o.target.key + ":" + o.artifact.format for o in sorted(options, key=lambda o: o.p90_ms)]


RATES = {"onnxruntime": 20.0, "openvino-onnx": 60.0, "litert": 45.0, "openvino": 80.0}


def test_an_unmeasured_model_is_estimated_from_what_other_models_measured_on_this_profile():
    a, b = measured_model(RATES), unmeasured_model(gflops=300.0)
    p = plan([b], None, inventory=CPU, profile=PROFILE, fallback_gflops=lambda: 1000.0, measured_elsewhere=[(a, None)])
    assert p.chosen.model == "b" and p.chosen.estimated
    assert (p.chosen.backend, p.chosen.artifact.format) == ("openvino", "openvino")
    gflop = 300.0 * 256 * 256 / 1e6  # scaled by b's own FLOPs and the pixels of its call
    assert p.chosen.p90_ms == pytest.approx(gflop / 80.0 * 1000)
    assert "openvino:CPU openvino fp32" in p.chosen.basis and "80.0 GFLOP/s" in p.chosen.basis
    assert p.to_dict()["chosen"]["estimated"] is True
    assert any("this latency is estimated" in r for r in p.reasons)
    assert "(estimated)" in p.summary()


def test_the_estimated_ranking_of_backends_matches_the_measured_one():
    """Measure a on a profile; rank b's backends by estimate; then 'measure' b at the
    rates each backend really reaches on it (another model: every rate 30% lower) and
    rank again: the order is the same, and so is the choice."""
    a, b = measured_model(RATES), unmeasured_model()
    estimated = plan([b], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[(a, None)])
    slower = {k: v * 0.7 for k, v in RATES.items()}
    gflop = 300.0 * 256 * 256 / 1e6
    ms = {k: gflop / r * 1000 for k, r in slower.items()}
    b_measured = manifest("b", 31.0, [
        artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, ms["onnxruntime"]),
                                  latency("openvino", "CPU", 256, ms["openvino-onnx"])]),
        artifact("tflite", latency=[latency("litert", "cpu", 256, ms["litert"])]),
        artifact("openvino", latency=[latency("openvino", "CPU", 256, ms["openvino"])]),
    ], gflops=300.0)
    measured = plan([b_measured], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[])
    assert not measured.chosen.estimated
    assert ranking(estimated) == ranking(measured)
    assert estimated.chosen.target.key == measured.chosen.target.key


def test_without_other_measurements_every_backend_gets_the_same_host_estimate():
    """What the issue saw before any bench: no knowledge of the backends, so a flat
    estimate; with another model measured, the backends separate."""
    blind = plan([unmeasured_model()], None, inventory=CPU, profile=PROFILE, fallback_gflops=lambda: 100.0,
                 measured_elsewhere=[])
    assert len({round(o.p90_ms, 6) for o in [blind.chosen] + [r.option for r in blind.rejected]}) == 1
    informed = plan([unmeasured_model()], None, inventory=CPU, profile=PROFILE, fallback_gflops=lambda: 100.0,
                    measured_elsewhere=[(measured_model(RATES), None)])
    assert len({round(o.p90_ms, 6) for o in [informed.chosen] + [r.option for r in informed.rejected]}) == 4


def test_other_profiles_measurements_do_not_inform_estimates():
    a = manifest("a", 30.0, [artifact("tflite", latency=[latency("litert", "cpu", 256, 1.0, profile="elsewhere")])],
                 gflops=100)
    p = plan([unmeasured_model()], None, inventory=CPU, profile=PROFILE, fallback_gflops=lambda: 100.0,
             measured_elsewhere=[(a, None)])
    assert "fp32 matmul rate" in p.chosen.basis


def test_a_tie_is_reported_as_one_with_the_rule_that_broke_it():
    m = manifest("m", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 100.0),
                                                       latency("openvino", "CPU", 256, 102.0)]),
                             artifact("tflite", latency=[latency("litert", "cpu", 256, 300.0)])], gflops=10)
    p = plan([m], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[])
    assert p.chosen.backend == "onnxruntime"
    tie = [r for r in p.reasons if r.startswith("a tie")]
    assert tie and "2 options are within 5%" in tie[0] and "wins on speed: p90 100.0 ms vs 102.0 ms" in tie[0]
    tied = next(r for r in p.rejected if r.option.backend == "openvino")
    assert "tied within 5%" in tied.reason and "the faster p90 (100.0 ms vs 102.0 ms)" in tied.reason
    slower = next(r for r in p.rejected if r.option.backend == "litert")
    assert slower.reason.startswith("slower")


def test_a_tie_between_measured_and_estimated_names_that_rule():
    m = manifest("m", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 100.0)])], gflops=10)
    # openvino reads the same file; its estimate comes from onnxruntime's rate here: a tie
    p = plan([m], None, inventory=Inventory([target("onnxruntime", "cpu", "cpu"), target("openvino", "cpu", "CPU")]),
             profile=PROFILE, measured_elsewhere=[])
    assert p.chosen.backend == "onnxruntime" and not p.chosen.estimated
    tied = next(r for r in p.rejected if r.option.backend == "openvino")
    assert "a measured latency before an estimated one" in tied.reason


def test_memory_of_the_same_file_on_another_backend_is_flagged_and_checked():
    m = manifest("m", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 100.0, peak_mb=300.0)])],
                 gflops=10)
    from edgezoo.errors import BudgetUnreachableError

    with pytest.raises(BudgetUnreachableError) as info:
        plan([m], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[], max_memory_mb=200.0,
             backend="openvino")
    assert "300 MB" in str(info.value)
    p = plan([m], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[], max_memory_mb=1000.0,
             backend="openvino")
    assert p.chosen.backend == "openvino" and p.chosen.peak_mb == pytest.approx(300.0)
    assert "measured for the same file on onnxruntime" in p.chosen.memory_basis
    assert "not measured on openvino" in p.chosen.memory_basis


def test_host_rate_says_when_the_host_is_busy():
    assert HostRate(now_gflops=40.0, best_gflops=100.0).loaded
    assert not HostRate(now_gflops=80.0, best_gflops=100.0).loaded
    assert HostRate(now_gflops=80.0, best_gflops=100.0).share == pytest.approx(0.8)


def test_an_exact_tie_says_nothing_broke_it():
    m = manifest("m", 30.0, [artifact("onnx", latency=[latency("onnxruntime", "cpu", 256, 100.0),
                                                       latency("openvino", "CPU", 256, 100.0)])], gflops=10)
    p = plan([m], None, inventory=CPU, profile=PROFILE, measured_elsewhere=[])
    tie = next(r for r in p.reasons if r.startswith("a tie"))
    assert "wins on nothing: p90 100.0 ms for it and for the next best" in tie and "first option listed" in tie
    [tied] = p.rejected
    assert "the tie was broken by nothing: equal p90" in tied.reason and "faster" not in tied.reason
