"""Real measurements on small artifacts: what ``edgezoo bench`` measured for one model
on this device profile tells the planner how each backend ranks for another model
before that one is measured (convolution nets built with onnx.helper, no torch)."""

from pathlib import Path

import numpy as np
import pytest

from edgezoo.manifests import Manifest
from edgezoo.runtimes import plan
from edgezoo.runtimes.inventory import probe_inventory
from edgezoo.runtimes.latency import bench_export
from edgezoo.runtimes.store import open_export_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

SIDE = 128


def conv_net(out: Path, name: str, width: int, depth: int) -> Path:
    """A ``depth``-layer 3x3 convolution net, ``width`` channels, static SIDE x SIDE, as an export dir."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgezoo.files import sha256_file, size_bytes

    rng = np.random.default_rng(width)
    out.mkdir(parents=True)
    channels = [3] + [width] * (depth - 1) + [3]
    nodes, inits, prev = [], [], "image"
    for i, (cin, cout) in enumerate(zip(channels, channels[1:])):
        inits += [numpy_helper.from_array((rng.standard_normal((cout, cin, 3, 3)) * 0.1).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(np.zeros(cout, np.float32), f"b{i}")]
        last = i == len(channels) - 2
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], ["restored" if last else f"c{i}"],
                                      pads=[1, 1, 1, 1]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
            prev = f"r{i}"
    dims = [1, 3, SIDE, SIDE]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("restored", TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(out / "net.onnx"))
    gflops = 2 * 9 * sum(a * b for a, b in zip(channels, channels[1:])) / 1e3  # GFLOP per megapixel
    Manifest.model_validate({
        "name": name, "family": "test", "task": "test-conv", "paper": {"title": "-", "url": "-"}, "config": {},
        "params": 1, "gflops_per_mpix": gflops,
        "io": {"inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "multiple_of": 8}],
               "outputs": [{"name": "restored", "shape": [1, 3, "H", "W"]}]},
        "preprocessing": {"pad_to_multiple_of": 8, "clip_output": [-1000.0, 1000.0]},
        "artifacts": [{"format": "onnx", "precision": "fp32", "file": "net.onnx", "sha256": sha256_file(out / "net.onnx"),
                       "bytes": size_bytes(out / "net.onnx"), "static_shape": True, "input_shape": dims}],
    }).save(out / "manifest.yaml")
    return out


@pytest.mark.slow  # compares timings: meaningful on a quiet host only (under load 20 it measured noise)
def test_the_backend_planned_before_bench_is_the_one_bench_then_measures_fastest(tmp_path):
    inventory = probe_inventory()
    targets = [t for t in inventory.for_format("onnx") if t.kind == "cpu"]
    if len(targets) < 2:
        pytest.skip("needs two CPU backends that read ONNX")
    a = open_export_dir(conv_net(tmp_path / "a", "net-a", width=24, depth=4))
    bench_export(a, runs=15, warmup=3, inventory=inventory)  # the profile's record: model a, every backend
    b_dir = conv_net(tmp_path / "b", "net-b", width=48, depth=5)  # another model: 3.7x the FLOPs
    before = plan([open_export_dir(b_dir)], None, prefer=["cpu"], inventory=inventory,
                  measured_elsewhere=[(open_export_dir(tmp_path / "a").manifest, tmp_path / "a")])
    options = [before.chosen] + [r.option for r in before.rejected if r.option.p90_ms is not None]
    assert all(o.estimated for o in options) and "measured on" in before.chosen.basis
    assert len({round(o.p90_ms, 6) for o in options}) == len(options)  # each backend estimated at its own rate
    rows = bench_export(open_export_dir(b_dir), runs=15, warmup=3, inventory=inventory)
    measured = {r.backend: r.p90_ms for r in rows if r.p90_ms is not None}
    fastest = min(measured, key=measured.get)
    # the estimate's pick is the measured fastest, or as fast within the planner's own tie margin
    assert before.chosen.backend == fastest or measured[before.chosen.backend] <= 1.1 * measured[fastest], (
        before.chosen.backend, measured)
