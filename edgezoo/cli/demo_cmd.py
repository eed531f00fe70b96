"""``edgezoo demo``: the main job end to end. Export the default model to every format,
verify each artifact against PyTorch, measure its latency here, then restore the bundled
noisy photo through the runtime's own choice and show the result beside the clean one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from edgezoo.cli.output import echo_json, echo_table

DEFAULT_MODEL = "maxim-tiny-denoise"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
TABLE_COLUMNS = ["format", "precision", "file", "MB", "parity_db", "latency_ms", "backend"]


def sample_images() -> tuple[Any, Any, dict[str, Any]]:
    """The bundled sample: (noisy, clean) HxWx3 float32 in [0, 1] and its description."""
    from edgezoo.imageio import read_image

    info = json.loads((ASSETS / "sample.json").read_text(encoding="utf-8"))
    return read_image(ASSETS / "sample_noisy.png"), read_image(ASSETS / "sample_clean.png"), info


def side_by_side(*images: Any, gap: int = 8) -> Any:
    """Images (HxWx3, float in [0, 1] or uint8) of equal height in a row, separated by white gaps."""
    import numpy as np

    from edgezoo.imageio import to_uint8

    images = tuple(i if i.dtype == np.uint8 else to_uint8(i) for i in images)
    height = images[0].shape[0]
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts: list[Any] = []
    for image in images:
        parts += [image, spacer]
    return np.concatenate(parts[:-1], axis=1)


def artifact_rows(manifest: Any, profile_id: str) -> list[dict[str, Any]]:
    """One row per artifact: size, parity and its fastest latency measured on this profile."""
    rows = []
    for a in manifest.artifacts:
        here = [lat for lat in a.latency if lat.device_profile == profile_id]
        best = min(here, key=lambda lat: lat.p50_ms, default=None)
        parity = a.parity
        rows.append({
            "format": a.format, "precision": a.precision, "file": a.file, "MB": round(a.bytes / 1e6, 2),
            "parity_db": (round(parity.psnr_db, 1) if parity and parity.psnr_db is not None
                          else "not run (needs macOS)" if parity and not parity.executed else None),
            "latency_ms": round(best.p50_ms, 1) if best else None,
            "backend": f"{best.backend}/{best.device}" if best else None,
        })
    return rows


@click.command("demo")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="The model to export and run.")
@click.option("--precision", "-p", "precisions", default="fp32", show_default=True,
              help="Precisions to export (fp32, fp16, int8; a comma list is fine).")
@click.option("--artifacts", "artifact_dir", type=click.Path(file_okay=False),
              help="Export folder [default: the runtime's artifact store, so `edgezoo run` finds it].")
@click.option("--out", "-o", "out_dir", default="edgezoo-demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the restored image and the side-by-side go.")
@click.option("--size", type=int, help="Export size (square; default: the model's own). Larger photos are tiled.")
@click.option("--budget-ms", type=float, help="Latency budget for the runtime's choice (default: the fastest).")
@click.option("--runs", type=int, default=10, show_default=True, help="Timed runs per artifact for the latency table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo_cmd(model: str, precisions: str, artifact_dir: str | None, out_dir: str, size: int | None,
             budget_ms: float | None, runs: int, as_json: bool) -> None:
    """Export MODEL to every format, verify, benchmark, and restore the bundled sample photo.

    Writes restored.png and side_by_side.png (noisy | restored | clean) into --out."""
    from edgezoo.cli.export_cmds import _ExportProgress
    from edgezoo.errors import ParityError
    from edgezoo.export.folder import remove_if_nothing_kept
    from edgezoo.export.pipeline import export_model
    from edgezoo.export.verify import verify_dir
    from edgezoo.imageio import write_image
    from edgezoo.metrics import psnr, ssim
    from edgezoo.runtimes import bench_export, default_artifact_dir, device_profile, load
    from edgezoo.runtimes.store import open_export_dir

    say = (lambda text: None) if as_json else (lambda text: click.echo(text, err=True))
    noisy, clean, info = sample_images()
    out = Path(out_dir)
    exports = Path(artifact_dir) if artifact_dir else default_artifact_dir(model)

    say(f"[1/4] exporting {model} to every format in {exports}")
    bar = _ExportProgress(enabled=not as_json or sys.stderr.isatty())
    created = not exports.exists()
    try:
        export_model(model, formats="all", precisions=precisions, out_dir=exports, height=size, width=size,
                     progress=bar)
    except BaseException:
        if created:  # no empty model folder left in the store
            remove_if_nothing_kept(exports)
        raise
    finally:
        bar.close()

    say("[2/4] verifying every artifact against PyTorch on fresh inputs")
    report = verify_dir(exports)
    if not report.passed:
        worst = "; ".join(f"{a.file}: {a.note}" for a in report.failures)
        raise ParityError(f"verification failed: {worst}")

    say(f"[3/4] measuring latency ({runs} runs per artifact and backend)")
    export = open_export_dir(exports)
    bench_export(export, runs=runs, warmup=2, progress=lambda what: say(f"  {what}"))

    say("[4/4] restoring the sample photo with the runtime's choice")
    session = load(exports, budget_ms=budget_ms, image_size=noisy.shape[:2])
    restored = session(noisy)
    write_image(out / "restored.png", restored)
    write_image(out / "side_by_side.png", side_by_side(noisy, restored, clean))

    scores = {
        "noisy": {"psnr_db": round(psnr(clean, noisy), 2), "ssim": round(ssim(clean, noisy), 4)},
        "restored": {"psnr_db": round(psnr(clean, restored), 2), "ssim": round(ssim(clean, restored), 4)},
    }
    rows = artifact_rows(export.manifest, device_profile().id)  # bench_export updated it in place
    if as_json:
        echo_json({"model": model, "artifacts_dir": str(exports), "artifacts": rows, "verify": report.to_dict(),
                   "plan": session.plan.to_dict(), "sample": info, "scores": scores,
                   "restored": str(out / "restored.png"), "side_by_side": str(out / "side_by_side.png")})
        return
    echo_table(rows, TABLE_COLUMNS)
    coreml = [r for r in rows if r["format"] == "coreml"]
    if coreml:
        click.echo("Core ML: converted, spec read back (not compiled) and its I/O and metadata checked; "
                   "prediction needs macOS.")
    click.echo(f"runtime's choice: {session.plan.summary()}")
    for reason in session.plan.reasons:
        click.echo(f"  - {reason}")
    click.echo(f"sample ({info['noise']}): noisy {scores['noisy']['psnr_db']:.2f} dB -> "
               f"restored {scores['restored']['psnr_db']:.2f} dB PSNR (SSIM {scores['noisy']['ssim']:.3f} -> "
               f"{scores['restored']['ssim']:.3f})")
    click.echo(f"wrote {out / 'restored.png'} and {out / 'side_by_side.png'} (noisy | restored | clean)")
