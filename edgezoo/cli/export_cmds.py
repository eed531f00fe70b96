"""``edgezoo export`` and ``edgezoo verify``. torch and the converters load inside the
commands, never at import, so ``edgezoo --help`` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgezoo.cli.output import echo_json, echo_table

EXPORT_COLUMNS = ["file", "format", "precision", "input_shape", "MB", "psnr_db", "max_abs", "quality",
                  "vs_fp32", "seconds", "status"]
VERIFY_COLUMNS = ["file", "format", "precision", "backend", "MB", "psnr_db", "threshold_db", "quality_db",
                  "vs_fp32_db", "result"]


@click.command("export")
@click.argument("model")
@click.option("--format", "-f", "formats", default="all", show_default=True,
              help="onnx, tflite, coreml, openvino or all; a comma list is fine.")
@click.option("--precision", "-p", "precisions", default="fp32", show_default=True,
              help="fp32, fp16, int8; a comma list is fine. fp16/int8 are made from each format's fp32 artifact.")
@click.option("--int8-mode", default="auto", show_default=True, type=click.Choice(["auto", "static", "dynamic"]),
              help="static: int8 activations calibrated on photos (calibrated remedies if a gate misses); "
                   "dynamic: int8 weights, activations quantized per call (ONNX, TFLite) or float (OpenVINO, "
                   "Core ML); auto: static, then dynamic if no static recipe passes.")
@click.option("--calibration", "calibration_dir", type=click.Path(),
              help="Calibrate int8 on the pictures in this folder, used as given (for a denoiser: noisy photos) "
                   "[default: the bundled calibration photos, degraded as the task's inputs are].")
@click.option("--allow-degraded", is_flag=True,
              help="Keep fp16/int8 artifacts that miss a gate, recording the miss in the manifest, instead of failing.")
@click.option("--height", type=int, help="Input height (default: the model's export size).")
@click.option("--width", type=int, help="Input width (default: the model's export size).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), help="Output folder [default: the runtime's artifact store, $EDGEZOO_ARTIFACTS or ~/.cache/edgezoo/artifacts, /MODEL, where `edgezoo run` finds it].")
@click.option("--untrained", is_flag=True, help="Export a seeded random initialisation (no shipped weights needed).")
@click.option("--no-dynamic", is_flag=True, help="Skip the dynamic H x W ONNX variant.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export_cmd(model: str, formats: str, precisions: str, int8_mode: str, calibration_dir: str | None,
               allow_degraded: bool,
               height: int | None, width: int | None, out_dir: str | None, untrained: bool, no_dynamic: bool,
               as_json: bool) -> None:
    """Export MODEL to ONNX, TFLite, Core ML and OpenVINO, each checked against PyTorch.

    Writes the artifacts, weights.safetensors and manifest.yaml into the output folder.
    Gates: parity against PyTorch (fp32 >= 60 dB, fp16 >= 40 dB, int8 >= 30 dB) and, for
    int8 of trained weights, task quality within the task's tolerance of the fp32 artifact's
    (denoising PSNR 0.3 dB; top-1 0.3 points; a generator's FD-fmnist at most 10% + 0.25
    higher, on 500 samples with the same seeds). An artifact that misses a gate is not kept, and the command exits 1 (unless --allow-degraded).
    """
    from edgezoo.errors import WeightsError
    from edgezoo.export.formats import parse_formats, parse_precisions

    parse_formats(formats)  # bad options fail before torch is imported
    parse_precisions(precisions)
    calibration = _calibration_pictures(calibration_dir) if calibration_dir else None
    from edgezoo.export.folder import remove_if_nothing_kept
    from edgezoo.export.pipeline import export_model
    from edgezoo.runtimes.store import default_artifact_dir

    out = Path(out_dir) if out_dir else default_artifact_dir(model)
    created = not out.exists()  # a folder this export makes is removed again if it ends up holding nothing
    bar = _ExportProgress(enabled=not as_json or sys.stderr.isatty())
    try:
        manifest = export_model(model, formats=formats, precisions=precisions, out_dir=out, height=height,
                                width=width, pretrained=not untrained, progress=bar, dynamic=not no_dynamic,
                                allow_degraded=allow_degraded, int8_mode=int8_mode, calibration_images=calibration)
    except WeightsError as exc:
        bar.close()
        if created:
            remove_if_nothing_kept(out)
        raise type(exc)(f"{exc} (or pass --untrained to export a random initialisation)") from None
    except BaseException:
        bar.close()
        if created:
            remove_if_nothing_kept(out)
        if bar.rows and not as_json:  # what was kept, and why the rest was not; the error line follows
            _print_export_table(bar.rows)
        raise
    bar.close()
    rows = bar.rows
    if as_json:
        echo_json({"model": manifest.name, "out": str(out), "manifest": str(out / "manifest.yaml"),
                   "weights": manifest.weights.model_dump(mode="json") if manifest.weights else None,
                   "artifacts": [{**r["artifact"], "export_seconds": r["seconds"]} for r in rows if "artifact" in r],
                   "skipped": [{"file": r["file"], "reason": r["reason"]} for r in rows if r["status"] == "skipped"],
                   "degraded": [r["file"] for r in rows if r["status"] == "DEGRADED"]})
        return
    _print_export_table(rows)
    click.echo(f"manifest: {out / 'manifest.yaml'}")


@click.command("verify")
@click.argument("directory", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_cmd(directory: str, as_json: bool) -> None:
    """Check every artifact in DIRECTORY against PyTorch: sha256, then every gate again on fresh inputs.

    Parity on new random images and photo crops; for int8 artifacts of trained weights,
    task PSNR on the evaluation photos under new noise, against the fp32 artifact.
    Exits 1 if a file was changed or an artifact misses a gate (artifacts exported with
    --allow-degraded are reported, not failed).
    """
    from edgezoo.errors import ParityError
    from edgezoo.export.verify import verify_dir

    report = verify_dir(directory)
    if as_json:
        echo_json(report.to_dict())
    else:
        rows = [{
            "file": a.file, "format": a.format, "precision": a.precision, "backend": a.backend or "-",
            "MB": round(a.bytes / 1e6, 2), "psnr_db": a.psnr_db, "threshold_db": a.threshold_db,
            "quality_db": a.quality_db, "vs_fp32_db": a.quality_delta_db,
            "result": a.verdict,
        } for a in report.artifacts]
        echo_table(rows, VERIFY_COLUMNS)
        for a in report.artifacts:  # the table has every figure; these lines add the int8 gate's basis and notes
            for line in a.gate_lines()[0 if (not a.executed or not a.parity_passed) else 1:]:
                click.echo(f"  {a.file}: {line}")
    if not report.passed:
        kinds = {"validator" if not a.validators_passed else "parity" if not a.parity_passed else "task-quality"
                 for a in report.failures}
        which = f"the {kinds.pop()} gate" if len(kinds) == 1 else "their gates"
        raise ParityError(f"{len(report.failures)} of {len(report.artifacts)} artifacts miss {which}: "
                          + "; ".join(a.failure_text() for a in report.failures))


def _calibration_pictures(folder: str) -> list[Path]:
    """The pictures of ``--calibration``, or a :class:`BadInputError` saying what to pass."""
    from edgezoo.errors import BadInputError
    from edgezoo.imageio import list_images

    path = Path(folder)
    if not path.is_dir():
        raise BadInputError(f"--calibration {folder} is not a folder; pass a folder of PNG or JPEG pictures")
    pictures = list_images([path])
    if not pictures:
        raise BadInputError(f"--calibration {folder} holds no pictures; pass a folder of PNG or JPEG pictures")
    return pictures


def _sci(value: float | None) -> str | None:
    return None if value is None else f"{value:.2e}"


def _print_export_table(rows: list[dict[str, Any]]) -> None:
    echo_table([{k: r.get(k) for k in EXPORT_COLUMNS} for r in rows], EXPORT_COLUMNS)
    for r in rows:
        if r.get("reason"):
            click.echo(f"  {r['file']}: {r['status']}: {r['reason']}")
        if r.get("recipe"):
            click.echo(f"  {r['file']}: {r['recipe']}")


def _artifact_row(a: Any, seconds: float | None) -> dict[str, Any]:
    """A table row for a kept artifact: parity, task quality (and, for int8, its change
    against fp32), and how a reduced one was made."""
    q = a.quantization or {}
    parity = a.parity
    if q.get("degraded"):
        status, reason = "DEGRADED", "missed a gate, kept with --allow-degraded: " + (parity.note or "") if parity else ""
    elif parity is not None and not parity.executed:
        status, reason = "ok (not run)", parity.note
    else:
        status, reason = "ok", None
    recipe = None
    if a.precision == "int8":
        gate = q.get("quality_gate")
        recipe = f"int8 {q.get('method')}; remedy: {q.get('remedy')}" + (f"; quality gate {gate}" if gate else "")
    return {
        "file": a.file, "format": a.format, "precision": a.precision,
        "input_shape": "x".join(str(d) for d in a.input_shape), "MB": round(a.bytes / 1e6, 2),
        "psnr_db": parity.psnr_db if parity else None, "max_abs": _sci(parity.max_abs) if parity else None,
        "quality_db": a.quality.mean.psnr_db if a.quality and a.quality.mean else None,
        "vs_fp32_db": q.get("quality_delta_db"), **_quality_cells(a, q),
        "seconds": round(seconds or 0.0, 1), "status": status, "reason": reason, "recipe": recipe,
        "artifact": a.model_dump(mode="json"),
    }


def _quality_cells(a: Any, q: dict[str, Any]) -> dict[str, Any]:
    """The task quality and the int8 gate's difference in the task's own unit
    (restoration: PSNR in dB; classification: top-1 in %, the difference in points)."""
    if a.quality is None:
        return {"quality": None, "vs_fp32": None}
    if a.quality.mean is not None:
        delta = q.get("quality_delta_db")
        return {"quality": f"{a.quality.mean.psnr_db:.2f} dB",
                "vs_fp32": None if delta is None else f"{delta:+.2f} dB"}
    name, value = next(iter(a.quality.metrics.items()), (None, None))
    if name == "fd_fmnist":  # a generator: Fréchet distance of its samples, lower is better, no unit
        delta = q.get("quality_delta_fd_fmnist")
        return {"quality": None if value is None else f"FD {value:.2f} ({int(a.quality.metrics.get('samples', 0))} samples)",
                "vs_fp32": None if delta is None else f"{delta:+.2f} FD"}
    delta = q.get("quality_delta_pct")
    return {"quality": None if value is None else f"{name} {value:.2f}%",
            "vs_fp32": None if delta is None else f"{delta:+.2f} points"}


class _ExportProgress:
    """An ``ExportEvent`` sink: a tqdm bar on stderr, and the rows of the final table."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.rows: list[dict[str, Any]] = []

    def __call__(self, event: Any) -> None:
        if event.kind == "note":
            self._write(f"note: {event.message}")
            return
        if self.bar is None and self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total, unit="artifact", file=sys.stderr, leave=False, dynamic_ncols=True)
        job = event.job
        if event.kind == "start":
            if self.bar is not None:
                what = "converting + parity" if job.precision == "fp32" else "quantizing + gates"
                self.bar.set_description(f"{job.label}: {what}")
            return
        if event.kind == "progress":
            if self.bar is not None:
                self.bar.set_description(event.message[:100])
            return
        if self.bar is not None:
            self.bar.update(1)
        if event.kind == "source":
            return
        if event.kind == "done":
            self.rows.append(_artifact_row(event.artifact, event.seconds))
            if self.rows[-1]["status"] == "DEGRADED":
                self._write(f"{job.label}: kept although it missed a gate (--allow-degraded)")
        else:  # skipped or failed
            self.rows.append({"file": job.file, "format": job.format, "precision": job.precision,
                              "status": event.kind, "reason": event.message})
            self._write(f"{job.label}: {event.kind}: {event.message}")

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            click.echo(text, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
