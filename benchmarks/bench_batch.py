"""Throughput of `edgezoo batch` against workers, for the local process pool and Ray.

    python benchmarks/bench_batch.py [--model maxim-tiny-denoise] [--images 24] [--side 256]
        [--workers 1,2] [--engines local,ray] [--rounds 2] [--json-out FILE]

Makes ``--images`` pictures (crops of the bundled sample photo, ``--side`` pixels) and
runs the model's export over them with each engine and worker count, exactly as
`edgezoo batch` does (``edgezoo.runtimes.batch.run_batch``: each worker holds one
session of the planned artifact, threads = cores / workers), into a fresh output folder
each time. Reports the wall time of the run (worker start-up, Ray's included) and of
the images alone (first output to last), images per second and the speed-up over one
worker. Worker counts alternate within an engine for ``--rounds`` rounds and each row is
the median round, so a change in the load of a shared host hits every count alike; the
1-minute load average before each run is recorded. Prints a table and writes JSON with the device profile. Needs an export of the
model in the store (`edgezoo export MODEL --format onnx`); Ray is skipped where it is
not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_pictures(folder: Path, count: int, side: int) -> list[Path]:
    from edgezoo.imageio import read_image, write_image

    photo = read_image(ROOT / "edgezoo" / "assets" / "sample_noisy.png")
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        y = int(rng.integers(0, photo.shape[0] - side + 1))
        x = int(rng.integers(0, photo.shape[1] - side + 1))
        paths.append(write_image(folder / f"crop{i:03d}.png", photo[y:y + side, x:x + side]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="maxim-tiny-denoise")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_batch.json")
    args = parser.parse_args(argv)

    from edgezoo import runtimes
    from edgezoo.runtimes.batch import BatchItem, SessionSpec, run_batch
    from edgezoo.runtimes.profile import device_profile

    exports = runtimes.resolve(args.model)
    cores = os.cpu_count() or 1
    chosen = runtimes.plan(exports, None, image_size=(args.side, args.side)).chosen
    assert chosen.export_dir is not None
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        if "ray" in engines:
            print("ray is not installed: the ray engine is skipped (pip install 'edgezoo[ray]')")
        engines = [e for e in engines if e != "ray"]
        ray = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pictures = make_pictures(Path(tmp) / "in", args.images, args.side)
        for engine in engines:
            if engine == "ray":
                ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
            runs: dict[int, list[dict]] = {}
            for round_ in range(args.rounds):
                for workers in [int(w) for w in args.workers.split(",")]:
                    out = Path(tmp) / f"out-{engine}-{workers}-{round_}"
                    spec = SessionSpec(export_dir=str(chosen.export_dir.resolve()), artifact=chosen.artifact.file,
                                       backend=chosen.backend, kind=chosen.kind, precision=chosen.artifact.precision,
                                       label=chosen.label, threads=max(1, cores // workers),
                                       image_size=(args.side, args.side))
                    items = [BatchItem(i, str(p), str(out / p.name)) for i, p in enumerate(pictures)]
                    stamps: list[float] = []
                    load = os.getloadavg()[0]
                    started = time.perf_counter()
                    summary = run_batch(items, spec, out, chosen.artifact.sha256, engine=engine, workers=workers,
                                        progress=lambda result, stamps=stamps: stamps.append(time.perf_counter()))
                    wall = time.perf_counter() - started
                    assert summary.done == len(items) and not summary.failures, summary.failures
                    # first output to last: the steady state, without worker start-up (n-1 intervals)
                    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
                    runs.setdefault(workers, []).append({"wall_s": wall, "steady": steady, "load": load})
                    print(f"{engine} x{workers} round {round_}: {wall:.1f} s, load {load:.1f}", flush=True)
            for workers, done in runs.items():
                walls = sorted(r["wall_s"] for r in done)
                steadies = sorted(r["steady"] for r in done if r["steady"])
                wall = float(np.median(walls))
                steady = float(np.median(steadies)) if steadies else None
                rows.append({"engine": engine, "workers": workers, "threads_per_worker": max(1, cores // workers),
                             "images": len(pictures), "rounds": len(done), "wall_s": round(wall, 2),
                             "wall_s_rounds": [round(w, 2) for w in walls],
                             "images_per_s": round(len(pictures) / wall, 2),
                             "steady_images_per_s": round(steady, 2) if steady else None,
                             "load_average_1m": [round(r["load"], 2) for r in done]})
            if engine == "ray":
                ray.shutdown()
    for row in rows:
        base = next(r for r in rows if r["engine"] == row["engine"] and r["workers"] == 1)
        row["speedup_vs_1"] = round(base["wall_s"] / row["wall_s"], 2)
    profile = device_profile()
    print(f"\n{args.model}: {chosen.label}; {args.images} pictures of {args.side}x{args.side}; "
          f"device profile {profile.id}")
    print(f"{'engine':<7} {'workers':>7} {'threads':>7} {'wall s':>7} {'img/s':>6} {'steady img/s':>12} {'speed-up':>8}")
    for r in rows:
        print(f"{r['engine']:<7} {r['workers']:>7} {r['threads_per_worker']:>7} {r['wall_s']:>7} "
              f"{r['images_per_s']:>6} {r['steady_images_per_s'] or '-':>12} {r['speedup_vs_1']:>8}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps({
        "model": args.model, "option": chosen.label, "images": args.images, "side": args.side,
        "device_profile": profile.id, "device": profile.info, "load_average": list(os.getloadavg()),
        "note": ("wall_s includes starting the workers (spawned processes, or Ray actors and Ray itself); "
                 "steady_images_per_s is first output to last"),
        "rows": rows,
    }, indent=1) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
