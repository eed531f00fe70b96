"""``edgezoo devices | bench | plan | run``: the runtime side of the CLI. Imports only
the runtime (no torch, no converters)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from edgezoo.cli.output import echo_json, echo_table
from edgezoo.errors import BadInputError

_search_option = click.option(
    "--search", "search", multiple=True, type=click.Path(file_okay=False),
    help="Folder of export dirs searched before EDGEZOO_ARTIFACTS and the cache (repeatable).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")


def _prefer(value: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in value.split(",") if p.strip())


def _size(value: str | None) -> tuple[int, int]:
    from edgezoo.runtimes.planner import DEFAULT_IMAGE_SIZE

    if not value:
        return DEFAULT_IMAGE_SIZE
    try:
        parts = [int(p) for p in value.lower().replace("x", " ").split()]
        if len(parts) == 1:
            parts *= 2
        height, width = parts
        if height > 0 and width > 0:
            return height, width
    except ValueError:
        pass
    raise BadInputError(f"--size takes HxW in pixels (e.g. 256x256), got '{value}'")


def _planning_options(func: Any) -> Any:
    for option in reversed([
        click.option("--budget-ms", type=float, help="p90 latency allowed per image (of --size); omit for the fastest."),
        click.option("--prefer", default="npu,gpu,cpu", show_default=True,
                     help="Device kinds in order of preference; kinds left out are not used."),
        click.option("--backend", help="Only this backend (onnxruntime, openvino, litert, coreml)."),
        click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), help="Only artifacts of this precision."),
        click.option("--artifact", help="Only this artifact (key like onnx-fp32-static, file name, or format)."),
        click.option("--size", help="Image size the budget is for, HxW [default: 256x256; for `run`, the largest input]."),
        click.option("--max-memory-mb", type=click.FloatRange(min=0, min_open=True), metavar="MB",
                     help="Peak memory one call may use; options measured (or scaled) above it are rejected "
                          "[default: half of this host's available memory, with psutil installed]."),
        _search_option,
    ]):
        func = option(func)
    return func


# ---------------------------------------------------------------------------------------


@click.command("devices")
@_json_option
def devices_cmd(as_json: bool) -> None:
    """Show the backends and devices this host can run, and its device profile."""
    from edgezoo.runtimes import device_profile, probe_inventory

    inventory = probe_inventory()
    profile = device_profile()
    if as_json:
        echo_json({"device_profile": {"id": profile.id, **profile.info}, **inventory.to_dict()})
        return
    click.echo(f"device profile {profile.id}: {profile.info['cpu_model']}, {profile.info['cores']} cores, "
               f"flags {' '.join(profile.info['cpu_flags']) or '-'}")
    rows = inventory.to_dict()["targets"]
    for row in rows:
        row["formats"] = ",".join(row["formats"])
    echo_table(rows, ["backend", "version", "device", "kind", "formats", "detail"])
    for name, why in inventory.failures.items():
        click.echo(f"{name}: installed but unusable here: {why}")
    for name, hint in inventory.absent.items():
        click.echo(f"{name}: not available ({hint})")


# ---------------------------------------------------------------------------------------


@click.command("bench")
@click.argument("target")
@click.option("--backend", help="Only this backend.")
@click.option("--device", help="Only this device (a name like CPU or a kind like gpu).")
@click.option("--runs", type=int, default=20, show_default=True, help="Timed runs per artifact and device.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed runs first.")
@click.option("--size", type=int, default=256, show_default=True, help="Side of the input for dynamic-shape artifacts.")
@click.option("--threads", type=int, help="Intra-op threads (default: each backend's own).")
@click.option("--no-save", is_flag=True, help="Do not write the results into the manifest.")
@_search_option
@_json_option
def bench_cmd(target: str, backend: str | None, device: str | None, runs: int, warmup: int, size: int,
              threads: int | None, no_save: bool, search: tuple[str, ...], as_json: bool) -> None:
    """Measure latency (p50/p90) and peak memory of a model's artifacts here.

    TARGET is a model, a task or an export dir. Results go into the export dir's
    manifest.yaml under this host's device profile, which the planner reads."""
    from edgezoo.runtimes import bench_export, device_profile
    from edgezoo.runtimes.latency import peak_method

    exports = _resolve(target, list(search))
    rows = []
    for export in exports:
        def say(what: str, name: str = export.name) -> None:
            if not as_json:
                click.echo(f"measuring {name} {what} ...", err=True)

        rows += bench_export(export, backend, device, runs, warmup, size, threads=threads, save=not no_save,
                             progress=say)
    profile = device_profile()
    if as_json:
        echo_json({"device_profile": profile.id, "peak_memory": peak_method(), "saved": not no_save,
                   "manifests": [str(e.path / "manifest.yaml") for e in exports], "rows": [r.to_dict() for r in rows]})
    else:
        table = [{**r.to_dict(), "input": "x".join(map(str, r.input_shape[-2:])),
                  "ran_on": _ran_on(r.runtime), "error": (r.error or "")[:80] or None} for r in rows]
        echo_table(table, ["model", "artifact", "backend", "device", "input", "p50_ms", "p90_ms", "peak_mb", "ran_on", "error"])
        click.echo(f"device profile {profile.id}; peak memory: {peak_method()}")
        if not no_save:
            for e in exports:
                click.echo(f"latency written to {e.path / 'manifest.yaml'}")
    if rows and all(r.error for r in rows):
        raise click.exceptions.Exit(1)


def _ran_on(runtime: dict[str, Any]) -> str | None:
    """A few words from describe(): where the work really ran."""
    if not runtime:
        return None
    if "nodes_by_provider" in runtime and isinstance(runtime["nodes_by_provider"], dict):
        return ",".join(f"{p.replace('ExecutionProvider', '')}:{n}" for p, n in runtime["nodes_by_provider"].items())
    if "execution_devices" in runtime:
        return ",".join(runtime["execution_devices"]) + f" {runtime.get('inference_precision', '')}".rstrip()
    if "fully_delegated" in runtime:
        return "XNNPACK (all)" if runtime["fully_delegated"] else f"XNNPACK ({runtime.get('delegate_partitions')} partitions)"
    return runtime.get("device")


# ---------------------------------------------------------------------------------------


def _print_plan(plan: Any) -> None:
    chosen = plan.chosen
    click.echo(f"plan: {plan.summary()}")
    for reason in plan.reasons:
        click.echo(f"  - {reason}")
    if plan.rejected:
        click.echo("rejected:")
        for r in plan.rejected:
            click.echo(f"  - {r.option.label}: {r.reason}")
    if chosen.estimated:
        click.echo(f"note: latency is estimated; run `edgezoo bench {chosen.model}` to measure it here")


@click.command("plan")
@click.argument("target")
@_planning_options
@_json_option
def plan_cmd(target: str, budget_ms: float | None, prefer: str, backend: str | None, precision: str | None,
             artifact: str | None, size: str | None, max_memory_mb: float | None, search: tuple[str, ...],
             as_json: bool) -> None:
    """Choose variant, artifact, backend and device for a latency budget, and say why.

    TARGET is a model (maxim-tiny-denoise), a task (denoise) or an export dir."""
    from edgezoo.runtimes import plan

    exports = _resolve(target, list(search))
    result = plan(exports, budget_ms, _prefer(prefer), backend, precision, _size(size), artifact=artifact,
                  max_memory_mb=max_memory_mb)
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_plan(result)


# ---------------------------------------------------------------------------------------


def _returns_labels(target: str, search: list[str]) -> bool:
    """Whether TARGET's models answer with labels (their program's output is not an
    image, as a classifier's logits) rather than images (restored, or resized); unknown
    targets fall through to the image path's errors."""
    from edgezoo.runtimes import resolve

    try:
        exports = resolve(target, search)
    except Exception:  # the image path reports it with its own message
        return False

    from edgezoo.runtimes.planner import refine_program

    def answers_with_image(manifest: Any) -> bool:
        if refine_program(manifest) is not None:  # predict-and-refine: a picture, whatever the step graph outputs
            return True
        outputs = manifest.model_spec().component().outputs
        return bool(outputs) and outputs[0].role == "image"

    return bool(exports) and not any(answers_with_image(e.manifest) for e in exports)


def _print_labels(session: Any, images: list[Path], as_json: bool) -> None:
    from edgezoo.imageio import read_image

    results = []
    bad: dict[Path, str] = {}
    for path in images:
        try:
            picture = read_image(path)  # upright, one error for an unreadable file, as the image path reads
        except BadInputError as exc:
            if len(images) == 1:
                raise
            bad[path] = str(exc)  # reported below; the other pictures are still classified
            continue
        start = time.perf_counter()
        answer = session(picture)
        results.append({"input": str(path), **answer, "ms": round((time.perf_counter() - start) * 1000, 2)})
    if as_json:
        echo_json({"plan": session.plan.to_dict(), "images": results,
                   "failed": [{"input": str(p), "reason": why} for p, why in bad.items()]})
    else:
        _print_plan(session.plan)
        for r in results:
            top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in r["top"])
            click.echo(f"{r['input']}: {r['label']}  (top-{len(r['top'])}: {top}; {r['ms']:.1f} ms)")
        for why in bad.values():
            click.echo(f"edgezoo: error: {why}", err=True)
    if bad:
        raise click.exceptions.Exit(2)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _check_can_write_into(folder: Path, out: str) -> None:
    """Fail now, not after inference, if ``folder`` cannot be created or written: the
    nearest existing part of it must be a folder a file can be created in."""
    import tempfile

    base = _nearest_existing(folder)
    if not base.is_dir():
        raise BadInputError(f"cannot write {out}: {base} is a file, not a folder; pass -o a path in a writable folder")
    try:
        tempfile.NamedTemporaryFile(dir=base, prefix=".edgezoo-write-test-").close()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise BadInputError(f"cannot write {out}: {base} is not writable ({reason}); pass -o a path in a writable folder") from None


def _output_is_file(out_path: Path) -> bool:
    """The -o rule: an existing folder, or a name without a suffix, is a folder; a name
    with an image suffix is a file; any other suffix is refused (a typo such as
    ``x.jpgg`` must not quietly become a folder)."""
    from edgezoo.imageio import IMAGE_SUFFIXES

    if out_path.is_dir():
        return False
    suffix = out_path.suffix.lower()
    if not suffix:
        return False
    if suffix in IMAGE_SUFFIXES:
        return True
    raise BadInputError(
        f"-o {out_path}: '{out_path.suffix}' is not an image suffix ({', '.join(IMAGE_SUFFIXES)}); give an image "
        "file name, or a folder name without a suffix"
    )


def _output_paths(images: list[Path], inputs: tuple[str, ...], out_path: Path, out_is_file: bool) -> list[Path]:
    """Where each restored image goes; refuses two inputs that would land on one file
    and an output that would replace its own input."""
    if out_is_file:
        targets = [out_path]
    else:
        folders = [Path(i) for i in inputs if Path(i).is_dir()]
        targets = []
        for path in images:
            # a folder's images keep their place below it (--recursive), others go to the top
            root = next((f for f in folders if path.is_relative_to(f)), path.parent)
            rel = path.relative_to(root)
            keep = path.suffix.lower() in (".png", ".bmp", ".tif", ".tiff")  # lossless: keep; else PNG
            targets.append(out_path / rel.parent / (path.stem + (path.suffix if keep else ".png")))
    seen: dict[Path, Path] = {}
    for path, target in zip(images, targets):
        if target.resolve() == path.resolve():
            raise BadInputError(f"{target} would overwrite its own input; pass -o another file or folder")
        if target in seen:
            raise BadInputError(f"{seen[target]} and {path} would both be written to {target}; restore them in separate runs")
        seen[target] = path
    return targets


def _zoo_hint(name: str, exported: set[str]) -> str | None:
    """What to do about a name the artifact store does not know, from the zoo's
    registry (torch-free data: it knows every model and task, trained or not); runs only
    on that error path. ``exported``: the models and tasks the store has exports of."""
    import difflib
    import importlib.util

    from edgezoo.manifests import packaged_manifest, packaged_names
    from edgezoo.zoo import get_entry, list_models

    DEGRADATIONS: tuple[str, ...] = ()  # the tasks `edgezoo train` has a recipe for (known where torch is)
    if importlib.util.find_spec("torch") is not None:
        try:
            from edgezoo.zoo.train import DEGRADATIONS
        except Exception:  # a broken torch install: advise without training
            pass
    models = list_models()
    trained = {m for m in packaged_names() if packaged_manifest(m).weights is not None}
    tasks = sorted({get_entry(m).task for m in models})

    def advice(known: str) -> str:
        if known in trained:
            return f"run `edgezoo export {known} --format all`"
        if known in models:
            return (f"no trained weights ship for it: `edgezoo export {known} --untrained` exports a random "
                    "initialisation (restores nothing) to try the runtime with")
        task_models = list_models(task=known)
        with_weights = [m for m in task_models if m in trained]
        if with_weights:
            return f"run `edgezoo export {with_weights[0]} --format all` (`edgezoo list --task {known}` shows all)"
        edge = next((m for m in task_models if "tiny" in m), task_models[0])  # the quickest to try
        train = f"`edgezoo train {edge} --images FOLDER` trains one, or " if known in DEGRADATIONS else ""
        return (f"no {known} model has shipped weights yet ({', '.join(task_models)}): {train}"
                f"`edgezoo export {edge} --untrained` exports a random initialisation (restores nothing) "
                "to try the runtime with")

    if name in models:
        return f"no exported artifacts for {name}: {advice(name)}"
    if name in tasks:
        return f"no exported model for task {name}: {advice(name)}"
    close = difflib.get_close_matches(name, sorted(set(models + tasks) | exported), n=1, cutoff=0.75)
    if close and close[0] in exported:
        return f"unknown model or task '{name}': did you mean {close[0]}?"
    if close:
        return f"unknown model or task '{name}': did you mean {close[0]}? It has no exports yet: {advice(close[0])}"
    return f"unknown model or task '{name}': `edgezoo list` shows the zoo's models and their tasks"


def _resolve(target: str, search: list[str]) -> list[Any]:
    """The store's export dirs for TARGET; a name the store does not know gets the
    zoo's advice (a real command) where the zoo is installed."""
    from edgezoo.errors import ManifestError, UnknownModelError
    from edgezoo.runtimes import resolve
    from edgezoo.runtimes.store import list_exports

    try:
        return resolve(target, search)
    except UnknownModelError:
        # the store knows only shipped and exported models, so its guess can miss a zoo
        # model (maxim-m1-denoise is no typo of maxim-small-denoise): the zoo decides
        exports = list_exports(search)
        hint = _zoo_hint(target, {e.name for e in exports} | {e.manifest.task for e in exports})
        if hint is None:
            raise
        raise (UnknownModelError if hint.startswith("unknown") else ManifestError)(hint) from None


@click.command("run")
@click.argument("target")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out", type=click.Path(),
              help="Output: a file with an image suffix (one input), else a folder (no suffix, or an existing "
                   "folder). Needed by models that return images, not by classifiers.")
@click.option("-r", "--recursive", is_flag=True, help="Also run on the images in subfolders of an input folder.")
@click.option("--instruction", help="What to fix, for an instruction-driven restorer (task restore): 'remove the "
                                    "noise', 'denoise, sigma 25', 'remove blur of 2 px' (default: 'remove all "
                                    "degradation').")
@click.option("--strength", type=float, help="How strongly to follow the instruction, 0 to 1 (default: 1).")
@_planning_options
@click.option("--threads", type=int, help="Intra-op threads (default: the backend's own).")
@_json_option
def run_cmd(target: str, inputs: tuple[str, ...], out: str | None, recursive: bool, instruction: str | None,
            strength: float | None, budget_ms: float | None, prefer: str,
            backend: str | None, precision: str | None, artifact: str | None, size: str | None,
            max_memory_mb: float | None, search: tuple[str, ...], threads: int | None, as_json: bool) -> None:
    """Run a model on images with the runtime's choice for the budget: write the images
    it returns (restored, or resized to its output's size), or print a classifier's labels.

    TARGET is a model, a task or an export dir; INPUT is image files or folders (with
    --recursive, their subfolders too). OUT is a file if it has an image suffix (.png,
    .jpg, ...; one input only), a folder if it has no suffix or is an existing folder;
    any other suffix is refused. In a folder, each image keeps its name (and its
    subfolder), as PNG unless it was PNG, BMP or TIFF. Grey pictures come back grey,
    transparency is kept, and JPEG orientation tags are applied. An instruction-driven
    restorer (``edgezoo run restore``) follows --instruction at --strength; other models
    refuse them."""
    from tqdm import tqdm

    from edgezoo import runtimes
    from edgezoo.imageio import NO_ALPHA_SUFFIXES, has_alpha, image_size, list_images, read_image, write_image

    skipped: list[Path] = []
    images = list_images(list(inputs), recursive=recursive, skipped=skipped)
    request = {"instruction": instruction, "strength": strength}
    if _returns_labels(target, list(search)):
        session = runtimes.load(target, budget_ms, _prefer(prefer), backend, precision, list(search),
                                threads=threads, artifact=artifact, max_memory_mb=max_memory_mb)
        session.request_outputs(request)  # refuses an instruction before any picture
        _print_labels(session, images, as_json)
        return
    if out is None:
        raise BadInputError(f"{target} returns images: give -o OUT (an image file for one input, else a folder)")
    out_path = Path(out)
    single = _output_is_file(out_path)
    if single and len(images) != 1:
        raise BadInputError(f"{len(images)} inputs need an output folder, not the file {out}")
    # every output problem is found before any inference
    targets = _output_paths(images, inputs, out_path, single)
    _check_can_write_into(out_path.parent if single else out_path, out)
    # a picture whose header does not read is reported and left out; the others still run
    bad: dict[Path, str] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    for path in images:
        try:
            sizes[path] = image_size(path)
        except BadInputError as exc:
            if len(images) == 1:
                raise
            bad[path] = str(exc)
    if not sizes:
        raise BadInputError(f"none of the {len(images)} inputs is a readable image: {next(iter(bad.values()))}")
    if single and out_path.suffix.lower() in NO_ALPHA_SUFFIXES and has_alpha(images[0]):
        raise BadInputError(f"{images[0]} has transparency, which {out_path.suffix} cannot store; write a .png")
    if skipped:
        names = ", ".join(p.name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        click.echo(f"note: skipped {len(skipped)} subfolder(s) ({names}); add --recursive to restore their images too",
                   err=True)
    # the budget is per image the user gives: plan for the largest one unless told a size
    plan_size = _size(size) if size else max(sizes.values(), key=lambda hw: hw[0] * hw[1])
    _resolve(target, list(search))  # an unknown name fails here, with advice
    session = runtimes.load(target, budget_ms, _prefer(prefer), backend, precision, list(search), plan_size,
                            threads=threads, artifact=artifact, max_memory_mb=max_memory_mb)
    session.request_outputs(request)  # a bad or unwanted instruction fails before any picture is written
    results = []
    started = time.perf_counter()
    for path, target_path in tqdm([(p, t) for p, t in zip(images, targets) if p not in bad], desc="restoring",
                                  unit="image", disable=None, file=click.get_text_stream("stderr")):
        try:
            image = read_image(path, keep_channels=True)
        except BadInputError as exc:
            if single:
                raise
            bad[path] = str(exc)
            continue
        start = time.perf_counter()
        restored = session(image, **request)
        ms = (time.perf_counter() - start) * 1000
        write_image(target_path, restored)
        results.append({"input": str(path), "output": str(target_path), "height": image.shape[0],
                        "width": image.shape[1], "ms": round(ms, 2)})
    total = time.perf_counter() - started
    describe = session.describe()
    if as_json:
        echo_json({"plan": session.plan.to_dict(), "runtime": describe["runtime"], "tiling": describe["tiling"],
                   **({"request": request} if session.protocol.request_options else {}), "images": results,
                   "skipped_subfolders": [str(p) for p in skipped], "total_s": round(total, 3),
                   "failed": [{"input": str(p), "reason": why} for p, why in bad.items()]})
        if bad:
            raise click.exceptions.Exit(2)
        return
    _print_plan(session.plan)
    runtime = describe["runtime"]
    if told := session.protocol.describe_request(request):
        click.echo(told)
    click.echo(f"ran {len(results)} image(s) with {session.option.label} "
               f"[{_ran_on(runtime)}; {describe['tiling']}]: "
               f"{sum(r['ms'] for r in results) / max(len(results), 1):.1f} ms/image mean, {total:.2f} s total")
    if runtime.get("fallback_to_cpu"):
        click.echo(f"warning: {session.option.device} fell back to the CPU (see `edgezoo bench`)", err=True)
    for r in results:
        click.echo(f"  {r['input']} ({r['width']}x{r['height']}) -> {r['output']}  {r['ms']:.1f} ms")
    over = [r for r in results if budget_ms is not None and r["ms"] > budget_ms]
    if over:
        h, w = session.plan.image_size
        basis = "--size" if size else "the largest input"
        click.echo(f"note: the {budget_ms:g} ms budget was planned for a {h}x{w} image ({basis}); "
                   f"{len(over)} image(s) took longer than planned", err=True)
    if bad:
        for why in bad.values():
            click.echo(f"edgezoo: error: {why}", err=True)
        click.echo(f"edgezoo: {len(bad)} of {len(images)} input(s) could not be read; the others were written",
                   err=True)
        raise click.exceptions.Exit(2)
