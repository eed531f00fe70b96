"""CoDi's trade on this CPU: the distilled student at 1, 2 and 4 steps against its
teacher at 25 and 50 steps and the deterministic predictor alone, quality beside
sampling time through the runtime (issue 11, item 4).

    edgezoo export dvsr-tiny-deblur -f onnx,tflite --no-dynamic -o T
    edgezoo export codi-tiny-deblur -f onnx,tflite --no-dynamic -o S
    python scripts/device_conditional.py --phases evaluate --models dvsr-tiny-deblur,codi-tiny-deblur \\
        --eval-steps 1,2,4,25,50 --eval-samples 4 --eval-side 256 --out Q
    python benchmarks/codi_speed.py --teacher T --student S --quality Q/quality.json [--side 256] [--repeats 3]

Latency: one ``--side`` x ``--side`` picture restored end to end by the runtime
(``edgezoo.runtimes.load`` on each backend, the fp32 static artifacts, tiles at the
artifact's size, the predictor once then K step-graph calls per tile), the median of
``--repeats`` timed calls after one warm-up, every configuration of a backend timed
in the same run on the same picture. Quality: the PyTorch reference's PSNR/SSIM from
the ``--quality`` JSON (one sample and the mean of 4, in and out of the blur family the
models trained on). The summary divides the teacher's 50-step time by the student's
4-step time per backend (target: >= 10x) and compares their PSNR (target: the student
within 0.5 dB of the teacher). Writes JSON with the device profile beside every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEACHER_STEPS = (0, 25, 50)  # 0: the predictor alone
STUDENT_STEPS = (1, 2, 4)
TARGET_SPEEDUP = 10.0
TARGET_GAP_DB = 0.5


def time_session(session: Any, picture: np.ndarray, steps: int, repeats: int) -> dict[str, float]:
    """Median and spread (ms) of ``repeats`` end-to-end restorations at ``steps``."""
    session.steps = steps
    session.run_nchw(picture)  # warm-up: first-call allocations and lazy compilation
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        session.run_nchw(picture)
        times.append((time.perf_counter() - began) * 1000.0)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2)}


def quality_rows(quality: dict[str, Any], model: str, steps: tuple[int, ...]) -> dict[str, Any]:
    """PSNR/SSIM per blur family and step count from a device_conditional quality JSON."""
    rows: dict[str, Any] = {}
    for family, result in quality["models"][model].items():
        mean = result["mean"]
        for k in steps:
            one, avg = ("predictor", None) if k == 0 else (f"sample@{k}", f"mean{result['samples']}@{k}")
            rows.setdefault(str(k), {})[family] = {"sample": mean[one], "mean_of_samples": mean.get(avg) if avg else None}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", required=True, help="export folder of the teacher (dvsr-tiny-deblur)")
    parser.add_argument("--student", required=True, help="export folder of the student (codi-tiny-deblur)")
    parser.add_argument("--quality", required=True, help="quality.json of scripts/device_conditional.py --phases evaluate")
    parser.add_argument("--backends", default="onnxruntime,litert")
    parser.add_argument("--side", type=int, default=256, help="the restored picture's side (a x4 model's input is a quarter)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks" / "results" / "codi_deblur.json"))
    args = parser.parse_args()

    from edgezoo.files import atomic_write_text
    from edgezoo.manifests import load_manifest
    from edgezoo.runtimes import load
    from edgezoo.runtimes.profile import device_profile, host_rate

    teacher_manifest = load_manifest(args.teacher)
    teacher_name, student_name = teacher_manifest.name, load_manifest(args.student).name
    scale = int(teacher_manifest.model_spec().program.scale)
    if args.side % scale:
        raise SystemExit(f"--side {args.side} is not a multiple of the models' scale x{scale}")
    quality = json.loads(Path(args.quality).read_text())
    rng = np.random.default_rng(0)
    picture = rng.random((1, 3, args.side // scale, args.side // scale), dtype=np.float32)
    profile = device_profile()
    latency: dict[str, Any] = {}
    for backend in args.backends.split(","):
        row: dict[str, Any] = {}
        for role, folder, steps in (("teacher", args.teacher, TEACHER_STEPS), ("student", args.student, STUDENT_STEPS)):
            session = load(folder, backend=backend, precision="fp32", threads=args.threads)
            row[role] = {"artifact": session.artifact.file, "partners": sorted(a.file for a in session.option.partners.values()),
                         "steps": {str(k): time_session(session, picture, k, args.repeats) for k in steps}}
            for k, figure in row[role]["steps"].items():
                print(f"{backend:12s} {role:7s} {k:>2s} steps  {figure['median_ms']:9.1f} ms")
        t50, s4 = row["teacher"]["steps"]["50"]["median_ms"], row["student"]["steps"]["4"]["median_ms"]
        row["teacher50_over_student4"] = round(t50 / s4, 2)
        latency[backend] = row
    teacher_q = quality_rows(quality, teacher_name, TEACHER_STEPS)
    student_q = quality_rows(quality, student_name, STUDENT_STEPS)
    gaps = {family: round(student_q["4"][family]["sample"]["psnr_db"] - teacher_q["50"][family]["sample"]["psnr_db"], 3)
            for family in student_q["4"]}
    speedups = [row["teacher50_over_student4"] for row in latency.values()]
    result = {
        "what": (f"{student_name} (CoDi student) at {STUDENT_STEPS} steps vs its teacher {teacher_name} at "
                 f"{TEACHER_STEPS[1:]} steps and the predictor alone: quality (PyTorch reference) and end-to-end "
                 f"latency of one {args.side}x{args.side} picture through the runtime"
                 + (f" (restored from a {args.side // scale}x{args.side // scale} input, x{scale})" if scale > 1 else "")),
        "command": (f"python benchmarks/codi_speed.py --teacher T --student S --quality Q --side {args.side} "
                    f"--repeats {args.repeats} --backends {args.backends}"),
        "device_profile": profile.id, "cpu": profile.info, "host_rate_share": round(host_rate(profile.id).share, 2),
        "quality_note": quality.get("note"), "quality_device": quality.get("device"),
        "quality": {"teacher": teacher_q, "student": student_q},
        "latency": latency,
        "student4_minus_teacher50_psnr_db": gaps,
        "targets": {"speedup": TARGET_SPEEDUP, "gap_db": TARGET_GAP_DB},
        "speedup_met": all(s >= TARGET_SPEEDUP for s in speedups),
        "gap_met": {family: gap >= -TARGET_GAP_DB for family, gap in gaps.items()},
    }
    atomic_write_text(args.json_out, json.dumps(result, indent=1) + "\n")
    print(f"teacher@50 / student@4 time: {speedups} (target >= {TARGET_SPEEDUP}x); student@4 - teacher@50 PSNR: "
          f"{gaps} dB (target >= -{TARGET_GAP_DB}); wrote {args.json_out}")


if __name__ == "__main__":
    main()
