"""Where an ONNX Runtime call spends its time, per op type, fp32 beside int8 (issue 14, item 2).

For each model: the zoo's fp32 ONNX export at one size, and two static QDQ int8 versions of it
made by the export's own quantizer (every op ORT quantizes; convolutions and linears only),
calibrated on the selection photos. Each is run ``--runs`` times in ONNX Runtime (CPU, 2
threads) with ORT's profiler on; the table sums node time per op type, and the speed-up
int8 could buy at most if its convolutions and matmuls became free (Amdahl: 1 / (1 - their
share of the fp32 call)). The latency columns are medians of the same runs, interleaved.
Not gated figures: these int8 files skip the quality ladder; they show where time goes.

    python benchmarks/profile_ops.py [--model maxim-tiny-denoise --size 256] [--runs 20]

writes ``benchmarks/results/profile_ops.json`` (with the device profile) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COMPUTE_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger", "FusedConv", "FusedMatMul", "QGemm"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def export_fp32(model: str, size: int, out: Path) -> Path:
    from edgezoo.export.pipeline import export_model

    manifest = export_model(model, formats="onnx", precisions="fp32", out_dir=out, height=size, width=size,
                            dynamic=False, measure_quality=False)
    artifact = next(a for a in manifest.artifacts if a.format == "onnx" and a.static_shape)
    return out / artifact.file


def quantize(fp32: Path, out: Path, ops: str | None, size: int, task: str) -> Path:
    from edgezoo.export.quantize.calibration import calibration_arrays
    from edgezoo.export.quantize.onnx import to_int8
    from edgezoo.export.quantize.recipe import Int8Recipe

    import onnx

    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    calibration = [{name: a} for a in calibration_arrays(size, size, count=8, task=task)]
    recipe = Int8Recipe("static-qdq", "minmax", 8, options=(("ops", ops),) if ops else ())
    to_int8(fp32, out, {"task": task}, calibration, recipe, work=out.parent / f"work-{ops or 'all'}")
    return out


def profile(path: Path, x: np.ndarray, runs: int, threads: int) -> tuple[dict[str, float], list[float]]:
    """Per-op-type total microseconds per call, and the wall ms of each call."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    for _ in range(3):
        session.run(None, feed)
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        walls.append((time.perf_counter() - start) * 1e3)
    trace = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    for event in trace:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"].get("op_name", "?")] += event["dur"]
    calls = runs + 3
    return {op: us / calls for op, us in per_op.items()}, walls


def summarise(per_op: dict[str, float]) -> dict[str, float]:
    total = sum(per_op.values())
    compute = sum(v for k, v in per_op.items() if k in COMPUTE_OPS)
    qdq = sum(v for k, v in per_op.items() if k in QDQ_OPS)
    return {"node_ms": round(total / 1e3, 3), "compute_share": round(compute / total, 4),
            "qdq_share": round(qdq / total, 4), "other_share": round((total - compute - qdq) / total, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="zoo model (repeatable)")
    parser.add_argument("--size", type=int, action="append", help="square input side per --model")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "profile_ops.json"))
    args = parser.parse_args()
    models = args.model or ["maxim-tiny-denoise"]
    sizes = args.size or [256] * len(models)
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.zoo import get_entry

    profile_info = device_profile()
    report = {"device_profile": profile_info.id, "device_profile_info": profile_info.info, "runs": args.runs, "threads": args.threads,
              "command": "python benchmarks/profile_ops.py " + " ".join(sys.argv[1:]), "models": []}
    for model, size in zip(models, sizes):
        entry = get_entry(model)
        channels = entry.input_spec.channels
        with tempfile.TemporaryDirectory(prefix="edgezoo-profile-") as tmp:
            work = Path(tmp)
            fp32 = export_fp32(model, size, work / "export")
            files = {"fp32": fp32,
                     "int8 (every op)": quantize(fp32, work / "int8-all.onnx", None, size, entry.task),
                     "int8 (conv and linear)": quantize(fp32, work / "int8-conv.onnx", "conv-linear", size, entry.task)}
            x = np.random.default_rng(0).random((1, channels, size, size), dtype=np.float32)
            rows = {}
            for label, path in files.items():
                per_op, walls = profile(path, x, args.runs, args.threads)
                rows[label] = {"p50_ms": round(statistics.median(walls), 3), **summarise(per_op),
                               "per_op_ms": {k: round(v / 1e3, 3) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])}}
        fp32_row = rows["fp32"]
        bound = 1 / (1 - fp32_row["compute_share"]) if fp32_row["compute_share"] < 1 else float("inf")
        report["models"].append({"model": model, "size": size, "rows": rows,
                                 "amdahl_bound_if_compute_were_free": round(bound, 2),
                                 "speedup_vs_fp32": {k: round(fp32_row["p50_ms"] / r["p50_ms"], 2) for k, r in rows.items()}})
        print(f"\n{model} {size}x{size} on {profile_info.id} ({args.threads} threads, median of {args.runs})")
        print(f"{'artifact':<24} {'p50 ms':>8} {'x fp32':>7} {'conv+matmul':>12} {'Q/DQ':>6} {'other':>6}  top ops")
        for label, r in rows.items():
            top = ", ".join(f"{k} {v:.1f}" for k, v in list(r["per_op_ms"].items())[:5])
            print(f"{label:<24} {r['p50_ms']:>8.1f} {fp32_row['p50_ms'] / r['p50_ms']:>7.2f} "
                  f"{r['compute_share']:>12.0%} {r['qdq_share']:>6.0%} {r['other_share']:>6.0%}  {top}")
        print(f"at most {bound:.2f}x if fp32's convolutions and matmuls cost nothing")
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
