"""fp32 against fp16 against int8, per backend, on this CPU, in one process.

    python benchmarks/bench_precision.py [--export DIR] [--model maxim-tiny-denoise]
        [--size 256] [--repeats 30] [--warmup 5] [--threads N]
        [--formats onnx,openvino,tflite] [--static-int8] [--json-out FILE]

Artifacts come from ``--export DIR`` (a folder written by ``edgezoo export MODEL
--precision fp32,fp16,int8``), or are exported now into a temporary folder by the
same pipeline, gates on, misses kept and recorded (``allow_degraded``). The int8
artifact of each format is whatever passed its gates: static int8 where a calibrated
recipe passed, else int8 weights (activations quantized per call, or float).
``--static-int8`` adds, for each format whose gated int8 is not static, the best
statically calibrated attempt (kept although it missed a gate) as ``int8-static``:
what static int8 would buy in speed, and what it costs.

For each backend (ONNX Runtime, OpenVINO CPU, LiteRT/XNNPACK) the artifacts are
loaded side by side and called round-robin on the same input (a noisy photo crop),
so that background load on a shared host hits all of them alike; the table gives
the median and p90 of ``repeats`` calls after warm-up and the ratio to fp32 of the
same backend, beside parity and task quality (PSNR at sigma 25 on the evaluation
photos, tiled at the artifact's size; the export's own figures). The summary compares
the fastest int8 that passed its gates with the fastest fp32 against the target:
int8 at least 1.5x faster with at most 0.3 dB of task PSNR lost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 1.5
TARGET_LOSS_DB = 0.3
STATIC_METHODS = ("static-qdq", "static", "nncf-ptq")  # int8 activations calibrated ahead of time
ORDER = ("fp32", "fp16", "int8", "int8-static")


def export_artifacts(model: str, size: int, formats: list[str], out: Path, log: Callable[[str], None]) -> None:
    """The pipeline's own export, gates on, misses kept and recorded."""
    from edgezoo.export.pipeline import export_model

    def progress(event: Any) -> None:
        if event.kind in ("done", "failed", "skipped"):
            log(f"{event.kind}: {event.job.label} {event.message}".rstrip())
        elif event.kind == "progress":
            log(f"  {event.message}")

    export_model(model, formats=formats, precisions="fp32,fp16,int8", out_dir=out, height=size, width=size,
                 dynamic=False, allow_degraded=True, progress=progress)


def gated_artifacts(folder: Path, formats: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(format, precision): what the bench needs} for the folder's static artifacts."""
    from edgezoo.manifests.schema import load_manifest

    found = {}
    for a in load_manifest(folder).artifacts:
        if a.format in formats and a.static_shape:
            q = a.quantization or {}
            found[(a.format, a.precision)] = {
                "path": folder / a.file, "method": q.get("method", "fp32"), "remedy": q.get("remedy"),
                "degraded": bool(q.get("degraded")), "parity_db": a.parity.psnr_db if a.parity else None,
                "quality_db": a.quality.mean.psnr_db if a.quality else None,
                "quality_delta_db": q.get("quality_delta_db"), "attempts": q.get("attempts"),
                "input_shape": list(a.input_shape)}
    return found


def static_int8(folder: Path, found: dict, formats: list[str], scratch: Path, log: Callable[[str], None]) -> None:
    """Add ``int8-static`` rows: the best calibrated attempt of each format whose gated
    int8 is not static, built from the folder's fp32 artifact and kept although it
    missed a gate (its figures say by how much)."""
    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
    from edgezoo.export.formats import artifact_filename
    from edgezoo.export.quantize.build import build_reduced, module_for
    from edgezoo.export.quantize.quality import task_quality
    from edgezoo.export.reduced import int8_recipes
    from edgezoo.export.verify import rebuild_reference
    from edgezoo.manifests.schema import load_manifest
    from edgezoo.zoo import get_entry

    manifest = load_manifest(folder)
    model = rebuild_reference(folder, manifest)
    entry = get_entry(manifest.name)
    for fmt in formats:
        gated, fp32 = found.get((fmt, "int8")), found.get((fmt, "fp32"))
        if fp32 is None or (gated is not None and gated["method"] in STATIC_METHODS):
            continue
        height, width = fp32["input_shape"][-2:]
        io = io_contract(entry, height, width)
        path = scratch / artifact_filename(manifest.name, fmt, "int8", height, width).replace("-int8", "-int8static")
        result = build_reduced(fmt, "int8", fp32["path"], path,
                               artifact_metadata(entry, io, preprocessing(entry), fmt, "int8"), model,
                               task=entry.task, expected_io=io.model_dump(mode="json"),
                               recipes=int8_recipes(module_for(fmt).INT8_LADDER, "static"), allow_degraded=True,
                               progress=lambda m: log(f"  {m}"))
        q = result.quantization
        quality = result.quality.mean.psnr_db if result.quality else None
        if quality is None:  # parity missed, so the gate did not measure it: measure it here, for the record
            quality = task_quality(path, fmt, "int8", (height, width), entry.input_spec.multiple_of).mean.psnr_db
            if fp32["quality_db"] is not None:
                q["quality_delta_db"] = round(quality - fp32["quality_db"], 3)
        found[(fmt, "int8-static")] = {
            "path": path, "method": q.get("method"), "remedy": q.get("remedy"), "degraded": result.degraded,
            "parity_db": result.parity.psnr_db, "quality_db": quality,
            "quality_delta_db": q.get("quality_delta_db"), "attempts": q.get("attempts"),
            "input_shape": fp32["input_shape"]}
        log(f"{fmt} int8-static: parity {result.parity.psnr_db} dB, quality {q.get('quality_delta_db')} dB"
            + (" (missed a gate)" if result.degraded else ""))


def time_backend(fmt: str, present: list[str], found: dict, batch: np.ndarray, threads: int, warmup: int,
                 repeats: int) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]]]:
    """Milliseconds per call of each precision's artifact, called round-robin (the
    order rotating every round), and what each runner says it ran on."""
    from edgezoo.runtimes.backends import backend_for_format
    from edgezoo.runtimes.latency import time_round_robin

    backend = backend_for_format(fmt)
    runners = {p: backend.load(found[(fmt, p)]["path"], "cpu", threads=threads, precision=p.split("-")[0])
               for p in present}
    times = time_round_robin({p: (lambda r=runners[p]: r.run(batch)) for p in present}, repeats, warmup)
    return times, {p: runners[p].describe() for p in present}


def summary(rows: list[dict[str, Any]], flags: list[str]) -> dict[str, Any]:
    """The fastest fp32 against the fastest int8 that passed its gates, and against the
    fastest int8 of any kind, with the verdict on the target."""
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    gated = [r for r in rows if r["precision"] == "int8" and not r["degraded"]
             and (r["quality_delta_db"] is None or r["quality_delta_db"] >= -TARGET_LOSS_DB)]
    any_int8 = [r for r in rows if r["precision"].startswith("int8")]
    out: dict[str, Any] = {"cpu_int8_flags": [f for f in flags if "vnni" in f or "amx" in f or f == "avx2"]}
    if not fp32 or not any_int8:
        return out
    best32 = min(fp32, key=lambda r: r["p50_ms"])
    out["best_fp32"] = {k: best32[k] for k in ("backend", "file", "p50_ms")}
    for key, pool in (("best_int8_gated", gated), ("best_int8_any", any_int8)):
        if pool:
            best = min(pool, key=lambda r: r["p50_ms"])
            out[key] = {k: best[k] for k in ("backend", "precision", "method", "file", "p50_ms", "parity_db",
                                             "quality_delta_db", "degraded")}
            out[key]["speedup_vs_best_fp32"] = round(best32["p50_ms"] / best["p50_ms"], 3)
    win = out.get("best_int8_gated")
    out["target"] = f">= {TARGET_SPEEDUP}x faster than the best fp32 with <= {TARGET_LOSS_DB} dB task PSNR lost"
    out["target_met"] = bool(win and win["speedup_vs_best_fp32"] >= TARGET_SPEEDUP)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="maxim-tiny-denoise")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--formats", default="onnx,openvino,tflite")
    parser.add_argument("--export", type=Path, help="A folder exported with --precision fp32,fp16,int8.")
    parser.add_argument("--static-int8", action="store_true",
                        help="Also time the best calibrated int8 where the gated int8 is not static.")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_precision.json")
    args = parser.parse_args(argv)

    from edgezoo.files import atomic_write_text, size_bytes
    from edgezoo.runtimes.backends import backend_for_format
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.zoo.data import GaussianNoise, evaluation_images

    progress_stream = os.fdopen(os.dup(2), "w")  # stays the terminal while converter output is captured

    def log(message: str) -> None:
        print(message, file=progress_stream, flush=True)

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    profile_id = device_profile().id
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgezoo-bench-precision-") as scratch:
        folder = args.export
        if folder is None:
            folder = Path(scratch) / "export"
            export_artifacts(args.model, args.size, formats, folder, log)
        found = gated_artifacts(folder, formats)
        if args.static_int8:
            static_int8(folder, found, formats, Path(scratch), log)

        side = found[next(iter(found))]["input_shape"][-1] if found else args.size
        photo = evaluation_images()["astronaut"][:side, :side]
        batch = np.ascontiguousarray(GaussianNoise(25)(photo, np.random.default_rng(0)).transpose(2, 0, 1)[None])
        rows = []
        for fmt in formats:
            present = [p for p in ORDER if (fmt, p) in found]
            if not present:
                continue
            log(f"timing {fmt}: {', '.join(present)}")
            times, described = time_backend(fmt, present, found, batch, args.threads, args.warmup, args.repeats)
            base = float(np.median(times["fp32"])) if "fp32" in times else None
            for p in present:
                info = found[(fmt, p)]
                p50, p90 = float(np.median(times[p])), float(np.percentile(times[p], 90))
                rows.append({
                    "device_profile": profile_id,  # every latency names what it was measured on
                    "backend": backend_for_format(fmt).name, "format": fmt, "precision": p,
                    "file": Path(info["path"]).name, "method": info["method"], "remedy": info["remedy"],
                    "degraded": info["degraded"], "p50_ms": round(p50, 2), "p90_ms": round(p90, 2),
                    "ratio_to_fp32": round(p50 / base, 3) if base else None,
                    "speedup_vs_fp32": round(base / p50, 3) if base else None,
                    "mbytes": round(size_bytes(info["path"]) / 1e6, 3), "parity_db": info["parity_db"],
                    "quality_db": info["quality_db"], "quality_delta_db": info["quality_delta_db"],
                    "attempts": info["attempts"],
                    "runtime": {k: v for k, v in described[p].items() if k in (
                        "inference_precision", "nodes_by_provider", "delegate_partitions", "fully_delegated",
                        "threads")},
                })
        if args.export is None:
            log(f"(artifacts were built in {folder}, removed now)")

    profile = device_profile()
    flags = list(profile.info.get("cpu_flags", []))
    verdict = summary(rows, flags)
    header = (f"{'backend':<12}{'precision':<12}{'method':<14}{'p50 ms':>9}{'p90 ms':>9}{'x fp32':>8}{'speedup':>8}"
              f"{'MB':>7}{'parity':>8}{'PSNR':>8}{'dPSNR':>8}")
    print(f"{args.model}, input {side}x{side}, {args.threads} threads, {args.repeats} round-robin runs; "
          f"device profile {profile.id} ({profile.info.get('cpu_model')} [{' '.join(flags)}])")
    print(header)
    print("-" * len(header))

    def num(value: Any, spec: str) -> str:
        return format(value, spec) if isinstance(value, (int, float)) else "-"

    for r in rows:
        flag = "*" if r["degraded"] else ""
        print(f"{r['backend']:<12}{r['precision'] + flag:<12}{str(r['method'])[:13]:<14}{r['p50_ms']:>9.1f}"
              f"{r['p90_ms']:>9.1f}{num(r['ratio_to_fp32'], '.2f'):>8}{num(r['speedup_vs_fp32'], '.2f'):>8}"
              f"{r['mbytes']:>7.2f}{num(r['parity_db'], '.1f'):>8}{num(r['quality_db'], '.2f'):>8}"
              f"{num(r['quality_delta_db'], '+.2f'):>8}")
    print("* missed a gate (kept for the comparison only)")
    for r in rows:
        if r["precision"].startswith("int8"):
            print(f"{r['backend']} {r['precision']}: {r['method']}; remedy: {r['remedy']}")
    if "best_fp32" in verdict:
        b32 = verdict["best_fp32"]
        print(f"best fp32: {b32['backend']} {b32['p50_ms']:.1f} ms")
        for key, words in (("best_int8_gated", "best int8 that passed its gates"), ("best_int8_any", "best int8 of any kind")):
            if key in verdict:
                v = verdict[key]
                print(f"{words}: {v['backend']} {v['precision']} ({v['method']}) {v['p50_ms']:.1f} ms = "
                      f"{v['speedup_vs_best_fp32']:.2f}x the best fp32, parity {num(v['parity_db'], '.1f')} dB, "
                      f"task PSNR {num(v['quality_delta_db'], '+.2f')} dB")
        print(f"target ({verdict['target']}): {'met' if verdict['target_met'] else 'NOT met'}; "
              f"CPU int8 features: {', '.join(verdict['cpu_int8_flags']) or 'none'}")
    result = {"model": args.model, "size": side, "threads": args.threads, "repeats": args.repeats,
              "device_profile": profile.id, "device": profile.info, "rows": rows, "summary": verdict,
              "seconds": round(time.perf_counter() - started, 1),
              "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    atomic_write_text(args.json_out, json.dumps(result, indent=2, default=str))
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
