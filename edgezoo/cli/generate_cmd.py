"""``edgezoo generate``: samples of a diffusion model through the runtime's plan, written
as one grid picture. Imports only the runtime (no torch, no converters)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click
import numpy as np

from edgezoo.cli.output import echo_json
from edgezoo.errors import BadInputError


def sample_grid(pictures: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """(K, C, H, W) pictures in [0, 1] -> one (rows·H + gaps) x (columns·W + gaps) x C
    picture, row by row, ``gap`` white pixels between them; ``columns`` defaults to
    ceil(sqrt(K))."""
    count, channels, height, width = pictures.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.ones(((height + gap) * rows - gap, (width + gap) * columns - gap, channels), np.float32)
    for i, picture in enumerate(pictures):
        y, x = (i // columns) * (height + gap), (i % columns) * (width + gap)
        grid[y:y + height, x:x + width] = picture.transpose(1, 2, 0)
    return grid


@click.command("generate")
@click.argument("target")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), required=True,
              help="The grid picture to write (.png, .jpg, ...).")
@click.option("--steps", type=click.IntRange(min=1),
              help="Sampling steps [default: the plan's under --budget-ms, else the model's program's].")
@click.option("--budget-ms", type=float, default=None,
              help="p90 milliseconds allowed per sample: the planner picks model size x steps x artifact, the best "
                   "quality (FD-fmnist) that fits, among the step counts each manifest measured.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the starting noise (sample i: seed, i).")
@click.option("-n", "--count", type=click.IntRange(min=1), default=16, show_default=True, help="Number of samples.")
@click.option("--prefer", default="npu,gpu,cpu", show_default=True,
              help="Device kinds in order of preference; kinds left out are not used.")
@click.option("--backend", help="Only this backend (onnxruntime, openvino, litert, coreml).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), help="Only artifacts of this precision.")
@click.option("--artifact", help="Only this artifact (key like onnx-fp32-static, file name, or format).")
@click.option("--search", "search", multiple=True, type=click.Path(file_okay=False),
              help="Folder of export dirs searched before EDGEZOO_ARTIFACTS and the cache (repeatable).")
@click.option("--threads", type=int, help="Intra-op threads (default: the backend's own).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
def generate_cmd(target: str, out: str, steps: int | None, budget_ms: float | None, seed: int, count: int, prefer: str,
                 backend: str | None, precision: str | None, artifact: str | None, search: tuple[str, ...],
                 threads: int | None, as_json: bool) -> None:
    """Generate COUNT samples of a diffusion model with the runtime's choice of artifact
    and backend (its sampler's loop around the exported denoiser step), written as one
    grid to OUT, and print the plan. TARGET is a model, a task (generate) or an export dir.
    The same seed gives the same samples on every backend (up to the artifact's parity)."""
    from edgezoo import runtimes
    from edgezoo.cli.runtime_cmds import _prefer, _print_plan, _ran_on, _resolve
    from edgezoo.imageio import IMAGE_SUFFIXES, write_image

    out_path = Path(out)
    if steps is not None and budget_ms is not None:
        raise BadInputError("--steps and --budget-ms both set the number of steps: give one (with --budget-ms the "
                            "planner picks the steps that fit)")
    if out_path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInputError(f"-o {out}: give an image file (.png, .jpg, ...) for the grid")
    if not out_path.parent.exists():
        raise BadInputError(f"-o {out}: the folder {out_path.parent} does not exist")
    exports = _resolve(target, list(search))
    spec = exports[0].manifest.model_spec()
    if spec.program.kind != "sampler":
        raise BadInputError(f"{target} is not a generative model (its program is '{spec.program.kind}'): "
                            "use `edgezoo run`")
    sides = tuple(int(d) for d in spec.component().inputs[0].shape[-2:])
    session = runtimes.load(target, budget_ms, _prefer(prefer), backend, precision, list(search), sides,
                            threads=threads, artifact=artifact)
    scheduler = session.scheduler(steps)
    started = time.perf_counter()
    pictures = session.generate(count, seed, scheduler.steps)
    total = time.perf_counter() - started
    write_image(out_path, sample_grid(pictures))
    describe = session.describe()
    planned = session.option.steps or (session.spec.program.sampler.get("steps") if session.spec.program.sampler else None)
    per_step = session.option.p90_ms / session.option.calls if session.option.p90_ms is not None else None
    summary = {"output": str(out_path), "samples": count, "seed": seed, "steps": scheduler.steps,
               "sampler": scheduler.kind, "timesteps": scheduler.timesteps.tolist(),
               "ms_per_sample": round(total * 1000 / count, 2), "total_s": round(total, 3),
               "planned_p90_ms_per_step": None if per_step is None else round(per_step, 3)}
    if as_json:
        echo_json({"plan": session.plan.to_dict(), "runtime": describe["runtime"], "serving": describe["tiling"],
                   **summary})
        return
    _print_plan(session.plan)
    if per_step is not None and planned != scheduler.steps:
        click.echo(f"  - with {scheduler.steps} steps instead of the plan's {planned}: "
                   f"p90 {per_step * scheduler.steps:.1f} ms per sample")
    click.echo(f"generated {count} sample(s) with {session.option.label} [{_ran_on(describe['runtime'])}; "
               f"{scheduler.kind}, {scheduler.steps} steps, seed {seed}]: "
               f"{summary['ms_per_sample']:.1f} ms/sample mean, {total:.2f} s total -> {out_path}")
