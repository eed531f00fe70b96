"""``edgezoo batch``: a model over many pictures, on a local process pool or on Ray,
resumable after a crash. Imports only the runtime (no torch, no converters)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from edgezoo.cli.output import echo_json
from edgezoo.cli.runtime_cmds import (
    _check_can_write_into, _json_option, _output_paths, _planning_options, _prefer, _resolve, _returns_labels, _size,
)
from edgezoo.errors import BadInputError


def _plan_size(images: list[Path]) -> tuple[int, int]:
    """The largest picture whose header reads (a bad file is the batch's to report, not the plan's)."""
    from edgezoo.errors import EdgezooError
    from edgezoo.imageio import image_size
    from edgezoo.runtimes.planner import DEFAULT_IMAGE_SIZE

    sizes = []
    for path in images:
        try:
            sizes.append(image_size(path))
        except (EdgezooError, OSError):
            continue
    return max(sizes, key=lambda hw: hw[0] * hw[1]) if sizes else DEFAULT_IMAGE_SIZE


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@click.command("batch")
@click.argument("target")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, type=click.Path(),
              help="Output folder: each picture keeps its name (as PNG unless PNG, BMP or TIFF); a classifier's "
                   "answer goes to NAME.json.")
@click.option("-r", "--recursive", is_flag=True, help="Also take the pictures in subfolders of an input folder.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool here; ray: actors on Ray Data (a local Ray, or --address).")
@click.option("--address", help="Ray cluster to join (e.g. HOST:6379 from `ray start --head`); --engine ray only.")
@click.option("--instruction", help="What to fix, for an instruction-driven restorer (task restore); every picture "
                                    "gets it (default: 'remove all degradation').")
@click.option("--strength", type=float, help="How strongly to follow the instruction, 0 to 1 (default: 1).")
@click.option("--workers", type=click.IntRange(min=1), help="Processes or actors, one session each "
              "[default: this host's cores, at most 8].")
@_planning_options
@click.option("--threads", type=click.IntRange(min=1),
              help="Intra-op threads per worker [default: this host's cores / workers].")
@_json_option
def batch_cmd(target: str, inputs: tuple[str, ...], out: str, recursive: bool, engine: str, address: str | None,
              instruction: str | None, strength: float | None, workers: int | None, budget_ms: float | None,
              prefer: str, backend: str | None, precision: str | None,
              artifact: str | None, size: str | None, max_memory_mb: float | None, search: tuple[str, ...],
              threads: int | None, as_json: bool) -> None:
    """Run a model over many pictures with the runtime's choice for the budget, on a
    local process pool or on Ray; a rerun skips what is already done.

    TARGET is a model, a task or an export dir; INPUT is image files or folders. OUT is
    a folder. Each output is recorded in OUT/.edgezoo-batch.jsonl with the sha256 of its
    input, of the artifact and options, and of itself; a rerun (after a crash, or with
    more pictures) skips outputs whose record still matches. A picture that cannot be
    read is reported with its reason and the rest are processed; the exit status is 2
    if pictures were bad, 1 if anything else failed."""
    from tqdm import tqdm

    from edgezoo import runtimes
    from edgezoo.imageio import IMAGE_SUFFIXES, list_images
    from edgezoo.runtimes.batch import BatchItem, SessionSpec, run_batch
    from edgezoo.runtimes.batch.engines import load_ray
    from edgezoo.tasks import protocol_named

    if engine == "ray":
        load_ray()  # before any work: say how to install it
    elif address:
        raise BadInputError("--address is for --engine ray; drop it or add --engine ray")
    out_path = Path(out)
    if out_path.suffix.lower() in IMAGE_SUFFIXES and not out_path.is_dir():
        raise BadInputError(f"batch writes a folder: -o {out} looks like an image file; pass a folder name")
    if out_path.exists() and not out_path.is_dir():
        raise BadInputError(f"-o {out} is a file; pass a folder")
    exports = _resolve(target, list(search))  # an unknown name fails here, with advice
    if any(e.manifest.model_spec().program.kind == "sampler" for e in exports):
        raise BadInputError(f"{target} generates from noise and takes no pictures: use `edgezoo generate`")
    images = list_images(list(inputs), recursive=recursive)
    targets = _output_paths(images, inputs, out_path, False)
    if _returns_labels(target, list(search)):
        targets = [t.with_suffix(".json") for t in targets]
    _check_can_write_into(out_path, out)

    plan_size = _size(size) if size else _plan_size(images)
    chosen_plan = runtimes.plan(exports, budget_ms, _prefer(prefer), backend, precision, plan_size,
                                artifact=artifact, max_memory_mb=max_memory_mb)
    option = chosen_plan.chosen
    request = {k: v for k, v in (("instruction", instruction), ("strength", strength)) if v is not None}
    manifest = next(e.manifest for e in exports if e.path == option.export_dir)
    spec_of = manifest.model_spec()
    protocol_named(spec_of.protocol).request_feeds(spec_of, request)  # a bad instruction fails before any work
    workers = min(workers or _default_workers(), len(images))
    assert option.export_dir is not None
    spec = SessionSpec(export_dir=str(option.export_dir.resolve()), artifact=option.artifact.file,
                       backend=option.backend, kind=option.kind, precision=option.artifact.precision,
                       label=option.label, threads=threads or max(1, (os.cpu_count() or 1) // workers),
                       image_size=plan_size, max_memory_mb=max_memory_mb, request=request)
    items = [BatchItem(i, str(p.resolve()), str(t.resolve())) for i, (p, t) in enumerate(zip(images, targets))]
    if not as_json:
        click.echo(f"plan: {chosen_plan.summary()}")
        click.echo(f"{len(items)} picture(s), engine {engine}, {workers} worker(s) x {spec.threads} thread(s)")
    bar = tqdm(total=len(items), desc="batch", unit="image", disable=None, file=sys.stderr)

    def advance(result: dict[str, Any]) -> None:
        bar.update(1)

    try:
        summary = run_batch(items, spec, out_path, option.artifact.sha256, engine=engine, workers=workers,
                            address=address, progress=advance)
    finally:
        bar.close()
    if as_json:
        echo_json({"plan": chosen_plan.to_dict(), **summary.to_dict()})
    else:
        click.echo(f"{summary.images} picture(s): {summary.done} made, {summary.skipped} skipped (already done), "
                   f"{len(summary.failures)} failed; {summary.seconds:.2f} s, {summary.throughput:.2f} img/s "
                   f"({engine}, {workers} worker(s))")
        for failure in summary.failures:
            click.echo(f"  failed: {failure.reason}")
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)
