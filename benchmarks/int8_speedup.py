"""Does gated int8 pay on this CPU? The fastest int8 artifact that passed its gates
against the fastest fp32 artifact of the same model, in two `edgezoo bench` runs.

    python benchmarks/int8_speedup.py [--model ddpm-unet-fmnist-m] [--export DIR]
        [--runs 200] [--json-out FILE]

The artifacts come from ``--export DIR`` if it holds an export of the model, else the
pipeline exports them there (``--format tflite,openvino,onnx --precision fp32,int8``,
gates on: an int8 artifact exists only if it passed parity and the task gate through
the whole sampling loop, chosen on the selection split). Each run benches every
artifact on every backend that reads it (``edgezoo.runtimes.latency.bench_export``:
one input, ``--runs`` calls after warm-up, re-measured when the host was loaded),
and the summary divides the best fp32 p50 by the best int8 p50 of the same run.
Target (issue 14): >= 1.5x at the task gate (<= 0.3 dB for restoration; for a
generator, FD within 10% + 0.25 of fp32's). Writes JSON with the device profile and
the CPU's int8 instructions beside every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 1.5


def best(rows: list[Any], precision: str) -> Any:
    mine = [r for r in rows if r.precision == precision and r.p50_ms is not None and not r.error]
    return min(mine, key=lambda r: r.p50_ms) if mine else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ddpm-unet-fmnist-m")
    parser.add_argument("--export", default="/tmp/int8-speedup")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks" / "results" / "int8_speedup.json"))
    args = parser.parse_args()

    from edgezoo.files import atomic_write_text
    from edgezoo.manifests import load_manifest
    from edgezoo.runtimes.latency import bench_export
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.runtimes.store import open_export_dir

    out = Path(args.export)
    if not (out / "manifest.yaml").is_file():
        from edgezoo.export.pipeline import export_model

        export_model(args.model, formats="tflite,openvino,onnx", precisions="fp32,int8", out_dir=out, dynamic=False)
    manifest = load_manifest(out)
    if manifest.name != args.model:
        raise SystemExit(f"{out} holds an export of {manifest.name}, not {args.model}")
    profile = device_profile()
    runs = []
    for index in range(2):
        rows = bench_export(open_export_dir(out), runs=args.runs, save=False)
        fp32, int8 = best(rows, "fp32"), best(rows, "int8")
        speedup = round(fp32.p50_ms / int8.p50_ms, 2) if fp32 and int8 else None
        runs.append({
            "run": index + 1,
            "rows": [{"file": r.file, "backend": r.backend, "precision": r.precision, "p50_ms": r.p50_ms,
                      "p90_ms": r.p90_ms, "loaded": r.loaded, "error": r.error} for r in rows],
            "best_fp32": fp32 and {"file": fp32.file, "backend": fp32.backend, "p50_ms": fp32.p50_ms},
            "best_int8": int8 and {"file": int8.file, "backend": int8.backend, "p50_ms": int8.p50_ms},
            "int8_speedup_p50": speedup,
        })
        print(f"run {index + 1}: best fp32 {fp32.file} on {fp32.backend} {fp32.p50_ms:.3f} ms, best int8 "
              f"{int8.file} on {int8.backend} {int8.p50_ms:.3f} ms: {speedup}x" if speedup else
              f"run {index + 1}: no fp32/int8 pair measured")
    gates = []
    for artifact in manifest.artifacts:
        if artifact.precision != "int8":
            continue
        q = artifact.quantization or {}
        gates.append({"file": artifact.file, "method": q.get("method"), "parity_db": artifact.parity.psnr_db,
                      **{k: v for k, v in q.items() if k.startswith(("quality_", "fp32_quality", "selection_"))},
                      "attempts": q.get("attempts")})
    speedups = [r["int8_speedup_p50"] for r in runs]
    result = {
        "what": "fastest gated int8 vs fastest fp32 artifact of one model, p50 of one call, two bench runs",
        "command": f"python benchmarks/int8_speedup.py --model {args.model} --export DIR --runs {args.runs}",
        "device_profile": profile.id,
        "cpu": profile.info,
        "model": args.model,
        "runs": runs,
        "int8_gates": gates,
        "target_speedup": TARGET_SPEEDUP,
        "met_in_both_runs": all(s is not None and s >= TARGET_SPEEDUP for s in speedups),
    }
    atomic_write_text(args.json_out, json.dumps(result, indent=1) + "\n")
    print(f"{'met' if result['met_in_both_runs'] else 'NOT met'}: {speedups} (target {TARGET_SPEEDUP}x); "
          f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
