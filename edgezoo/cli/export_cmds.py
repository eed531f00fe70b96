"""``edgezoo export`` and ``edgezoo verify``. torch and the converters load inside the
commands, never at import, so ``edgezoo --help`` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgezoo.cli.output import echo_json, echo_table

EXPORT_COLUMNS = ["file", "format", "precision", "input_shape", "MB", "psnr_db", "max_abs", "seconds", "status"]
VERIFY_COLUMNS = ["file", "format", "precision", "backend", "MB", "psnr_db", "max_abs", "threshold_db", "result"]


@click.command("export")
@click.argument("model")
@click.option("--format", "-f", "formats", default="all", show_default=True,
              help="onnx, tflite, coreml, openvino or all; a comma list is fine.")
@click.option("--precision", "-p", "precisions", default="fp32", show_default=True,
              help="fp32 (fp16, int8 where supported); a comma list is fine.")
@click.option("--height", type=int, help="Input height (default: the model's export size).")
@click.option("--width", type=int, help="Input width (default: the model's export size).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), help="Output folder [default: exports/MODEL].")
@click.option("--untrained", is_flag=True, help="Export a seeded random initialisation (no shipped weights needed).")
@click.option("--no-dynamic", is_flag=True, help="Skip the dynamic H x W ONNX variant.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export_cmd(model: str, formats: str, precisions: str, height: int | None, width: int | None,
               out_dir: str | None, untrained: bool, no_dynamic: bool, as_json: bool) -> None:
    """Export MODEL to ONNX, TFLite, Core ML and OpenVINO, each checked against PyTorch.

    Writes the artifacts, weights.safetensors and manifest.yaml into the output folder.
    An artifact that misses its parity gate is not kept, and the command exits 1.
    """
    from edgezoo.errors import WeightsError
    from edgezoo.export.formats import parse_formats, parse_precisions

    parse_formats(formats)  # bad options fail before torch is imported
    parse_precisions(precisions)
    from edgezoo.export.pipeline import export_model

    out = Path(out_dir) if out_dir else Path("exports") / model
    bar = _ExportProgress(enabled=not as_json or sys.stderr.isatty())
    try:
        manifest = export_model(model, formats=formats, precisions=precisions, out_dir=out, height=height,
                                width=width, pretrained=not untrained, progress=bar, dynamic=not no_dynamic)
    except WeightsError as exc:
        bar.close()
        raise WeightsError(f"{exc} (or pass --untrained to export a random initialisation)") from None
    except BaseException:
        bar.close()
        if bar.rows and not as_json:  # what was kept, and why the rest was not; the error line follows
            _print_export_table(bar.rows)
        raise
    bar.close()
    rows = bar.rows
    if as_json:
        echo_json({"model": manifest.name, "out": str(out), "manifest": str(out / "manifest.yaml"),
                   "weights": manifest.weights.model_dump(mode="json") if manifest.weights else None,
                   "artifacts": [{**r["artifact"], "export_seconds": r["seconds"]} for r in rows if "artifact" in r],
                   "skipped": [{"file": r["file"], "reason": r["reason"]} for r in rows if r["status"] == "skipped"]})
        return
    _print_export_table(rows)
    click.echo(f"manifest: {out / 'manifest.yaml'}")


@click.command("verify")
@click.argument("directory", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_cmd(directory: str, as_json: bool) -> None:
    """Check every artifact in DIRECTORY against PyTorch: sha256, then parity on fresh inputs.

    Exits 1 if a file was changed or an artifact misses its parity threshold.
    """
    from edgezoo.errors import ParityError
    from edgezoo.export.verify import verify_dir

    report = verify_dir(directory)
    if as_json:
        echo_json(report.to_dict())
    else:
        rows = [{
            "file": a.file, "format": a.format, "precision": a.precision, "backend": a.backend or "-",
            "MB": round(a.bytes / 1e6, 2), "psnr_db": a.psnr_db, "max_abs": _sci(a.max_abs),
            "threshold_db": a.threshold_db,
            "result": ("pass" if a.passed else "FAIL") + ("" if a.executed else " (not run)"),
        } for a in report.artifacts]
        echo_table(rows, VERIFY_COLUMNS)
        for a in report.artifacts:
            if not a.executed or not a.passed:
                click.echo(f"  {a.file}: {a.note}")
    if not report.passed:
        worst = "; ".join(
            f"{a.file} {a.psnr_db:.1f} dB < {a.threshold_db:.0f} dB" if a.psnr_db is not None else f"{a.file}: {a.note}"
            for a in report.failures
        )
        raise ParityError(f"{len(report.failures)} of {len(report.artifacts)} artifacts miss the parity gate: {worst}")


def _sci(value: float | None) -> str | None:
    return None if value is None else f"{value:.2e}"


def _print_export_table(rows: list[dict[str, Any]]) -> None:
    echo_table([{k: r.get(k) for k in EXPORT_COLUMNS} for r in rows], EXPORT_COLUMNS)
    for r in rows:
        if r.get("reason"):
            click.echo(f"  {r['file']}: {r['status']}: {r['reason']}")


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
                self.bar.set_description(f"{job.label}: converting + parity")
            return
        if self.bar is not None:
            self.bar.update(1)
        if event.kind == "done":
            a = event.artifact
            self.rows.append({
                "file": a.file, "format": a.format, "precision": a.precision,
                "input_shape": "x".join(str(d) for d in a.input_shape), "MB": round(a.bytes / 1e6, 2),
                "psnr_db": a.parity.psnr_db if a.parity else None,
                "max_abs": _sci(a.parity.max_abs) if a.parity else None,
                "seconds": round(event.seconds or 0.0, 1),
                "status": "ok" if a.parity and a.parity.executed else "ok (not run)",
                "reason": None if (a.parity is None or a.parity.executed) else a.parity.note,
                "artifact": a.model_dump(mode="json"),
            })
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
