"""``edgezoo bundle``: the files an app on one platform needs, with ``contract.json``."""

from __future__ import annotations

import click

from edgezoo.cli.output import echo_json


@click.command("bundle")
@click.argument("model")
@click.option("--platform", "-p", "platform", required=True, type=click.Choice(["android", "ios", "linux"]),
              help="android: TFLite (float + uint8 NHWC, TFLITE_METADATA); ios: Core ML (image I/O for "
                   "image-to-image models); linux: ONNX and OpenVINO.")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="fp32, fp16, int8; a comma list is fine. Missing artifacts are exported into the store.")
@click.option("--out", "-o", "out", required=True, type=click.Path(),
              help="A folder, or FILE.zip for a deterministic zip.")
@click.option("--no-export", is_flag=True, help="Fail instead of exporting missing artifacts.")
@click.option("--bench/--no-bench", default=True, show_default=True,
              help="Measure the latency of artifacts not yet measured on this device profile (saved in the store).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bundle_cmd(model: str, platform: str, precisions: str, out: str, no_export: bool, bench: bool,
               as_json: bool) -> None:
    """Bundle MODEL (or a TASK's first exported model, or an export dir) for an app.

    Writes the platform's artifacts, contract.json (tensors with roles, pre/post-processing,
    tiling, expected degradation, labels, the diffusion sampler as per-step numbers,
    quality, latency with device profile, licences, sha256 of every file), README.md and
    SHA256SUMS into OUT.
    """
    from edgezoo.export.formats import parse_precisions

    parse_precisions(precisions)  # a bad option fails before torch is imported
    from edgezoo.export.bundle import build_bundle

    def say(text: str) -> None:
        if not as_json:
            click.echo(text, err=True)

    result = build_bundle(model, platform, out, precisions.split(","), export_missing=not no_export, say=say,
                          bench=bench)
    if as_json:
        echo_json({"path": str(result.path), "model": result.model, "platform": result.platform,
                   "files": result.files, "zip_sha256": result.sha256, "exported": result.exported,
                   "notes": result.notes})
        return
    click.echo(f"{result.model} for {platform}: {result.path}")
    for name, info in result.files.items():
        click.echo(f"  {info['sha256'][:16]}  {info['bytes']:>10}  {name}")
    if result.sha256:
        click.echo(f"zip sha256 {result.sha256}")
    for note in result.notes:
        click.echo(f"note: {note}")
