"""PyTorch eager against every installed backend, on the same input, in one process.

    python benchmarks/bench_backends.py [--model maxim-tiny-denoise] [--size 256]
        [--repeats 30] [--export DIR] [--weights CKPT.safetensors] [--json-out FILE]

Eager PyTorch and each artifact x backend (CPU) run at every thread count of
``--threads`` (default 1 and all cores). For each it reports the median and p90 of
``repeats`` timed calls after warm-up, the speed-up over eager PyTorch at eager's best
thread count, the overhead of an
``edgezoo.runtimes`` session over a bare call of the same compiled model (calls
interleaved so that background load hits both alike), the achieved GFLOP/s (FLOPs
counted on the PyTorch model) beside this machine's measured fp32 matmul peak
(numpy), and the output's PSNR against eager. Prints a table and writes JSON.
This script may import torch; the runtime it measures does not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_p90(times: list[float]) -> tuple[float, float]:
    return float(np.median(times)), float(np.percentile(times, 90))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="maxim-tiny-denoise")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="Thread counts to try, comma-separated; each engine is credited with its best "
                             "(on a loaded host one thread can beat all of them: OpenMP spin-waits).")
    parser.add_argument("--export", type=Path, help="An export dir to measure (default: export now, fp32).")
    parser.add_argument("--weights", type=Path, help="A safetensors checkpoint to load into the eager model.")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_backends.json")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from edgezoo import runtimes
    from edgezoo.metrics import psnr
    from edgezoo.runtimes.latency import time_round_robin, time_runs
    from edgezoo.runtimes.store import open_export_dir
    from edgezoo.zoo import create_model

    thread_counts = sorted({int(t) for t in str(args.threads).split(",") if t.strip()})
    try:
        model = create_model(args.model, pretrained=args.weights is None)
    except Exception:  # no shipped weights: random weights time the same
        model = create_model(args.model, pretrained=False)
    if args.weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(args.weights)))
    model.eval()

    export_dir = args.export
    if export_dir is None:
        from edgezoo.export.pipeline import export_model

        export_dir = Path(tempfile.mkdtemp(prefix="edgezoo-bench-")) / args.model
        print(f"exporting {args.model} at {args.size}x{args.size} to {export_dir} ...", file=sys.stderr)
        export_model(args.model, formats=["onnx", "tflite", "openvino"], precisions=["fp32"], out_dir=export_dir,
                     height=args.size, width=args.size, pretrained=False, model=model)
    export = open_export_dir(export_dir)
    if args.export is not None and args.weights is None:
        weights = export.path / "weights.safetensors"
        if weights.is_file():  # the exact weights the artifacts were built from
            from edgezoo.zoo.weights import load_weights

            load_weights(model, weights)

    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    xt = torch.from_numpy(x)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(xt)
    gflop = counter.get_total_flops() / 1e9
    peak = runtimes.matmul_peak_gflops(n=1024, repeats=10)

    def eager():
        with torch.inference_mode():
            return model(xt)

    rows = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        med, p90 = median_p90(time_runs(eager, args.repeats, args.warmup))
        rows.append({"name": f"pytorch eager {threads}t", "backend": "torch", "artifact": "-", "threads": threads,
                     "median_ms": med, "p90_ms": p90, "session_median_ms": None, "session_overhead_pct": None,
                     "gflops_per_s": gflop / (med / 1000), "psnr_vs_eager_db": None})
    eager_best = min(rows, key=lambda r: r["median_ms"])
    torch.set_num_threads(eager_best["threads"])
    reference = eager().numpy()

    for art in export.manifest.artifacts:
        if art.static_shape and list(art.input_shape[-2:]) != [args.size, args.size]:
            continue
        for backend in ("onnxruntime", "openvino", "litert"):
            for threads in thread_counts:
                try:
                    session = runtimes.load(export.path, backend=backend, artifact=art.key, prefer=["cpu"], threads=threads)
                except Exception as exc:  # this backend does not read this format, or is absent
                    if "not asked for" not in str(exc) and "no runnable option" not in str(exc):
                        print(f"{art.key} on {backend}: {exc}", file=sys.stderr)
                    break
                runner = session.runner
                timed = time_round_robin({"bare": lambda: runner.run(x), "session": lambda: session(x)}, args.repeats, args.warmup)
                bare_times, session_times = timed["bare"], timed["session"]
                med, p90 = median_p90(bare_times)
                smed, _ = median_p90(session_times)
                out = session(x)
                rows.append({
                    "name": f"{backend} {art.key} {threads}t", "backend": backend, "artifact": art.key, "threads": threads,
                    "median_ms": med, "p90_ms": p90,
                    "session_median_ms": smed, "session_overhead_pct": (smed / med - 1) * 100,
                    "gflops_per_s": gflop / (med / 1000), "psnr_vs_eager_db": psnr(reference, out),
                    "runtime": session.describe()["runtime"],
                })
                del session, runner
    for r in rows:
        r["speedup_vs_eager"] = eager_best["median_ms"] / r["median_ms"]

    best = min((r for r in rows if r["backend"] != "torch"), key=lambda r: r["median_ms"], default=None)
    header = f"{'':36} {'median':>8} {'p90':>8} {'x eager':>8} {'session':>8} {'overhead':>9} {'GFLOP/s':>8} {'PSNR':>7}"
    print(f"{args.model} at {args.size}x{args.size}, {gflop:.2f} GFLOP per image, threads {thread_counts}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(header)
    for r in rows:
        sess = "-" if r["session_median_ms"] is None else f"{r['session_median_ms']:.1f}"
        over = "-" if r["session_overhead_pct"] is None else f"{r['session_overhead_pct']:+.1f}%"
        ps = "-" if r["psnr_vs_eager_db"] is None else f"{min(r['psnr_vs_eager_db'], 999):.1f}"
        print(f"{r['name'][:36]:36} {r['median_ms']:8.1f} {r['p90_ms']:8.1f} {r['speedup_vs_eager']:8.2f} {sess:>8} "
              f"{over:>9} {r['gflops_per_s']:8.1f} {ps:>7}")
    print(f"fp32 matmul peak (numpy, 1024x1024): {peak:.1f} GFLOP/s")
    targets = {}
    if best:
        targets = {
            "best_backend": best["name"],
            "eager_baseline": eager_best["name"],
            "best_speedup_vs_eager": round(best["speedup_vs_eager"], 3),
            "best_speedup_at_least_2x": best["speedup_vs_eager"] >= 2.0,
            "best_session_overhead_pct": round(best["session_overhead_pct"], 2),
            "session_overhead_at_most_5pct": best["session_overhead_pct"] <= 5.0,
            "best_gflops_per_s": round(best["gflops_per_s"], 2),
            "matmul_peak_gflops_per_s": round(peak, 2),
            "best_share_of_matmul_peak": round(best["gflops_per_s"] / peak, 4),
        }
        print(f"best: {best['name']}: {best['speedup_vs_eager']:.2f}x eager at its best ({eager_best['name']}; "
              f"target >= 2x), session overhead "
              f"{best['session_overhead_pct']:+.1f}% (target <= 5%), {best['gflops_per_s']:.1f} GFLOP/s = "
              f"{best['gflops_per_s'] / peak:.0%} of the matmul peak")
    result = {
        "model": args.model, "size": args.size, "repeats": args.repeats, "warmup": args.warmup, "threads": thread_counts,
        "gflop_per_image": gflop, "device_profile": {"id": runtimes.device_profile().id, **runtimes.device_profile().info},
        "python": platform.python_version(), "torch": torch.__version__, "load_average_1min": os.getloadavg()[0],
        "export_dir": str(export.path), "rows": rows, "targets": targets,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
