"""tip-tiny-restore served like any zoo model: exported by the pipeline, benchmarked, planned, run.

    python benchmarks/tip_served.py --out DIR [--precisions fp32,fp16,int8] [--runs 20]
        [--json benchmarks/results/tip_served.json]

1. ``edgezoo export tip-tiny-restore`` (every format, the given precisions, 256 x 256 and
   the dynamic ONNX): each graph's parity against PyTorch, and the task quality of the
   whole program (text encoder once, net per tile) on the nine evaluation photos,
   blurred 1.5 px and noised at sigma 15, told "remove all degradation"; fp16 and int8
   groups gated within 0.3 dB of their format's fp32 program (a group that misses its
   gate is not kept, and the JSON says why);
2. ``edgezoo bench`` of every artifact (text encoders at their 1 x 16 tokens, nets at
   their tile or 256 x 256), saved in the export's manifest for the planner;
3. the plan for a 512 x 512 photo with no budget and with a tight one, and one served
   request through the chosen option: the sample photo, told "remove the noise".
Writes JSON with the device profile beside every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgezoo.errors import EdgezooError  # noqa: E402
from edgezoo.files import atomic_write_text  # noqa: E402
from edgezoo.runtimes import bench_export, load, plan, resolve  # noqa: E402
from edgezoo.runtimes.profile import device_profile  # noqa: E402

NAME = "tip-tiny-restore"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the export folder")
    parser.add_argument("--precisions", default="fp32,fp16,int8")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=str(ROOT / "benchmarks/results/tip_served.json"))
    args = parser.parse_args()

    import torch
    from PIL import Image

    from edgezoo.export.pipeline import export_model
    from edgezoo.metrics import psnr

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    began = time.perf_counter()
    failed = None
    try:
        export_model(NAME, formats="all", precisions=args.precisions, out_dir=out, workers=1)
    except EdgezooError as exc:  # a group that missed a gate is not kept; the manifest lists the others
        failed = str(exc)
    export_s = time.perf_counter() - began
    [export] = resolve(str(out))
    manifest = export.manifest
    rows = bench_export(export, runs=args.runs, threads=args.threads)
    [export] = resolve(str(out))
    artifacts = []
    for art in export.manifest.artifacts:
        artifacts.append({
            "key": art.key, "component": art.component, "format": art.format, "precision": art.precision,
            "file": art.file, "bytes": art.bytes, "input_shape": art.input_shape,
            "parity_db": art.parity.psnr_db if art.parity else None,
            "parity_executed": bool(art.parity and art.parity.executed),
            "quality_psnr_db": art.quality.mean.psnr_db if art.quality and art.quality.mean else None,
            "quality_ssim": art.quality.mean.ssim if art.quality and art.quality.mean else None,
            "quality_delta_db": (art.quantization or {}).get("quality_delta_db"),
            "quantization": {k: v for k, v in (art.quantization or {}).items()
                             if k in ("method", "activations", "remedy", "calibration_set", "attempts")},
        })
    latency = [r.to_dict() for r in rows]
    free = plan([export], image_size=(512, 512))
    fastest = free.chosen.p90_ms or 0.0
    tight = plan([export], budget_ms=fastest * 1.5, image_size=(512, 512))
    clean = np.asarray(Image.open(ROOT / "edgezoo/assets/sample_clean.png"), np.float32) / 255
    noisy = np.asarray(Image.open(ROOT / "edgezoo/assets/sample_noisy.png"))
    session = load(str(out), image_size=noisy.shape[:2], threads=args.threads)
    served = {}
    for instruction, strength in (("remove the noise", 1.0), ("remove the noise", 0.5), (None, None)):
        start = time.perf_counter()
        restored = session(noisy, instruction=instruction, strength=strength)
        served[f"{instruction or 'default'} @ {strength or 1.0:g}"] = {
            "psnr_db": round(float(psnr(clean, restored.astype(np.float32) / 255)), 3),
            "ms": round((time.perf_counter() - start) * 1000, 1)}
    result: dict[str, Any] = {
        "device_profile": device_profile().id, "threads": args.threads, "runs": args.runs,
        "export_seconds": round(export_s, 1), "precisions": args.precisions, "export_failures": failed,
        "manifest_quality": [{"degradation": q.degradation, "told": q.note, "psnr_db": q.mean.psnr_db,
                              "ssim": q.mean.ssim} for q in manifest.quality],
        "artifacts": artifacts, "latency": latency,
        "plan_512": {"label": free.chosen.label, "p90_ms": free.chosen.p90_ms, "basis": free.chosen.basis,
                     "reasons": free.reasons},
        "plan_512_budget": {"budget_ms": round(fastest * 1.5, 1), "label": tight.chosen.label,
                            "p90_ms": tight.chosen.p90_ms},
        "served_sample": {"plan": session.option.label, "noisy_psnr_db": round(float(psnr(clean, noisy / 255.0)), 3),
                          **served},
    }
    atomic_write_text(Path(args.json), json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("artifacts", "latency")}, indent=1))
    for a in artifacts:
        print(a["key"], a["parity_db"], a["quality_psnr_db"], a["quality_delta_db"])


if __name__ == "__main__":
    main()
