"""``edgezoo list | info | train | eval``: the zoo side of the CLI."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from edgezoo.cli.output import echo_json, echo_table


def _shipped_quality(name: str, metric: str) -> tuple[str, float | None, str]:
    """('yes'/'-', the primary metric's shipped figure, on what) from the shipped
    manifest, without torch: PSNR at sigma 25 for denoisers, a generator's figure at its
    program's number of steps, else the first result."""
    from edgezoo.manifests import packaged_manifest, packaged_names

    if name not in packaged_names():
        return "-", None, ""
    manifest = packaged_manifest(name)
    results = manifest.quality
    steps = (manifest.model_spec().program.sampler or {}).get("steps")
    quality = next((q for q in results if "sigma=25" in q.degradation or q.metrics.get("steps") == steps),
                   results[0] if results else None)
    if quality is None:
        return ("yes" if manifest.weights else "-"), None, ""
    at = f", {int(quality.metrics['steps'])} steps" if "steps" in quality.metrics else ""
    return ("yes" if manifest.weights else "-"), quality.value(metric), f"{quality.dataset}, {quality.degradation}{at}"


@click.command("list")
@click.option("--task", help="Only models for this task (denoise, deblur, classify, ...).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(task: str | None, as_json: bool) -> None:
    """List the models in the zoo (needs no torch)."""
    from edgezoo.zoo import get_entry, list_models

    rows = []
    for name in list_models(task=task):
        entry = get_entry(name)
        metric = entry.spec().metric
        weights, value, basis = _shipped_quality(name, metric.name)
        rows.append({"name": name, "family": entry.family, "task": entry.task, "metric": metric.name,
                     "unit": metric.unit, "higher_is_better": metric.higher_is_better,
                     "multiple_of": entry.input_spec.multiple_of, "weights": weights, "quality": value,
                     "quality_on": basis, "description": entry.description})
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["quality"] = "-" if row["quality"] is None else f"{row['quality']:.2f} {row['unit']}".strip()
    echo_table(rows, ["name", "task", "metric", "weights", "quality", "description"])


def _param_count(name: str, manifest: object | None) -> int | None:
    """From the shipped manifest, else by building the model when torch is installed."""
    if manifest is not None:
        return manifest.params  # type: ignore[attr-defined]
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    from edgezoo.zoo import create_model

    return sum(p.numel() for p in create_model(name, pretrained=False).parameters())


def _restoration_recipes() -> set[str]:
    """The restoration tasks `edgezoo train` degrades photos for (torch-free: the
    degradation registry the recipe uses)."""
    from edgezoo.zoo.degradations import DEGRADATIONS

    return set(DEGRADATIONS)


@click.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_cmd(model: str, as_json: bool) -> None:
    """Show a model's card: task, contract, paper, config, parameters, weights and quality."""
    from edgezoo.manifests import packaged_manifest, packaged_names
    from edgezoo.zoo import get_entry

    entry = get_entry(model)
    manifest = packaged_manifest(model) if model in packaged_names() else None
    params = _param_count(model, manifest)
    spec = entry.spec()
    card = {
        "name": entry.name, "family": entry.family, "task": entry.task, "description": entry.description,
        "paper": dataclasses.asdict(entry.paper), "params": params,
        "input": {**dataclasses.asdict(entry.input_spec), "export_size": list(entry.export_size)},
        "spec": spec.model_dump(mode="json"),
        "config": dataclasses.asdict(entry.config), "weights": None, "quality": [],
    }
    if manifest is not None:
        card["weights"] = manifest.weights.model_dump() if manifest.weights else None
        card["quality"] = [
            {"degradation": q.degradation, "dataset": q.dataset, **({"note": q.note} if q.note else {}),
             **({"psnr_db": q.mean.psnr_db, "ssim": q.mean.ssim} if q.mean else {}), **q.metrics,
             **{f"{k}_psnr_db": v.psnr_db for k, v in q.baselines.items()}}
            for q in manifest.quality
        ]
    if as_json:
        echo_json(card)
        return
    tensors = lambda ts: ", ".join(f"{t.name} ({t.role}, {'x'.join(map(str, t.shape))})" for t in ts)  # noqa: E731
    graphs = "; ".join(f"{c.name}: {tensors(c.inputs)} -> {tensors(c.outputs)}"
                       + (" (once per request)" if c.name in spec.program.once else "") for c in spec.components)
    click.echo(f"{card['name']}  ({card['family']}, task: {card['task']})")
    click.echo(f"  {card['description']}")
    click.echo(f"  paper: {entry.paper.title}  {entry.paper.url}")
    click.echo(f"  parameters: {'unknown (install edgezoo[torch] to count)' if params is None else f'{params:,}'}")
    click.echo(f"  contract: {graphs}; "
               f"program {spec.program.kind}; metric {spec.metric.name}"
               + (f"; input sides a multiple of {entry.input_spec.multiple_of}" if spec.program.kind == "tiled" else ""))
    if spec.labels:
        click.echo(f"  labels: {', '.join(spec.labels)}")
    click.echo(f"  config: {json.dumps(card['config'])}")
    weights = card["weights"]
    from edgezoo.zoo.upstream.sources import UPSTREAM, how_to_import

    if weights:
        click.echo(f"  weights: {weights['file']} sha256 {weights['sha256'][:12]}… ({weights['trained_on']})")
        training = weights.get("training")
        if training:
            how = " (reconstructed: see the manifest's weights.training.note)" if training.get("note") else ""
            click.echo(f"  training run: seed {training['seed']}, {len(training['photos'])} photos recorded by sha256, "
                       f"code commit {training.get('code_commit') or 'not recorded'}, "
                       f"log {training.get('log') or 'not recorded'}{how}; replay: {training['command']}")
    elif entry.name in UPSTREAM:
        from edgezoo.zoo.upstream.imported import read_record

        record, source = read_record(entry.name), UPSTREAM[entry.name]
        click.echo(f"  weights: imported from {record.package} {record.version}, sha256 {record.weights_sha256[:12]}…"
                   if record else f"  weights: upstream ({source.package}, {source.dataset}), not imported here: "
                   f"{how_to_import(entry.name)}")
    elif entry.protocol.name == "restore" and entry.task in _restoration_recipes():
        click.echo(f"  weights: none shipped: train them with `edgezoo train {entry.name} --images DIR` (clean photos; "
                   "scripts/fetch_photos.sh fetches some), or build untrained with create_model(..., pretrained=False)")
    else:
        click.echo("  weights: none shipped (create_model(..., pretrained=False) or `edgezoo train`)")
    if card["quality"]:
        # every row's columns, in order of first use (rows may have baselines of their own)
        echo_table(card["quality"], [k for k in dict.fromkeys(k for row in card["quality"] for k in row)
                                     if k != "dataset"])


@click.command("train")
@click.argument("model")
@click.option("--images", "images", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Restoration models: folder of clean training photos (repeatable). See scripts/fetch_photos.sh.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--steps", default=12000, show_default=True, help="Optimizer steps.")
@click.option("--batch", default=16, show_default=True, help="Patches per step.")
@click.option("--patch", default=64, show_default=True, help="Patch side in pixels (a multiple of the model's).")
@click.option("--lr", default=2e-3, show_default=True, help="Peak learning rate (AdamW).")
@click.option("--min-lr", default=1e-5, show_default=True, help="Learning rate at the end of the cosine decay.")
@click.option("--warmup", default=200, show_default=True, help="Steps of linear warm-up.")
@click.option("--sigma-max", default=50.0, show_default=True, help="Training noise sigma is uniform in [0, this] (0-255).")
@click.option("--seed", default=0, show_default=True, help="Seeds the patches, the noise and the initialisation.")
@click.option("--checkpoint-every", default=200, show_default=True, help="Steps between resumable checkpoints.")
@click.option("--val-every", default=500, show_default=True,
              help="Steps between scores on the held-out photos (the best one ships).")
@click.option("--holdout-photos", default=2, show_default=True,
              help="Last photos of the sorted pool held out to choose the checkpoint.")
@click.option("--photo-shrink", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Restoration models: shrink each photo by this factor (area filter) before cutting patches; "
                   "larger means more detail per patch, as blur kernels of a few pixels need.")
@click.option("--threads", type=int, default=None, help="torch threads (default: all cores).")
@click.option("--device", default="cpu", show_default=True, help="torch device to train on, e.g. cuda.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), help="Start from these weights.")
@click.option("--lineage", default=None, help="Free text recorded with the recipe: how --init-from weights were made.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from OUT/MODEL/last.pt.")
@click.option("--epochs", default=None, type=int, help="Classifiers: epochs over the training split.  [default: 20]")
@click.option("--reweight", type=click.Choice(["none", "eg"]), default="none", show_default=True,
              help="'eg' reweights training examples by exponentiated gradient of their losses (restoration "
                   "models: the examples of a fixed patch pool, see --pool-patches).")
@click.option("--eg-lr", default=0.5, show_default=True, help="The EG step size (eta) of --reweight eg.")
@click.option("--label-noise", default=0.0, show_default=True,
              help="Classifiers: flip this share of the training labels at random (seeded by --seed), to study noise.")
@click.option("--pool-patches", type=int, default=None,
              help="Restoration models: train on a fixed pool of this many patches drawn once (seeded) instead of "
                   "fresh ones each step.  [default: fresh patches; 4096 with --reweight eg or --target-corruption]")
@click.option("--target-corruption", default=0.0, show_default=True,
              help="Restoration models: swap this share of the pool's targets for another patch's (mismatched "
                   "pairs, seeded by --seed), to study noisy data.")
@click.pass_context
def train_cmd(ctx: click.Context, model: str, images: tuple[str, ...], out: str, steps: int, batch: int, patch: int,
              lr: float, min_lr: float, warmup: int, sigma_max: float, seed: int, checkpoint_every: int, val_every: int,
              holdout_photos: int, photo_shrink: int, threads: int | None, device: str, init_from: str | None,
              lineage: str | None, resume: bool, epochs: int | None, reweight: str, eg_lr: float, label_noise: float,
              pool_patches: int | None, target_corruption: float) -> None:
    """Train MODEL with the zoo's recipe for its task, resumable. Restoration models
    train on --images photos (the run's config.json records every option, the command
    and the code commit); classifiers on Fashion-MNIST, the epoch chosen on its
    selection split."""
    from edgezoo.errors import BadInputError
    from edgezoo.zoo import get_entry
    from edgezoo.zoo.train import TrainConfig, train

    entry = get_entry(model)
    if entry.protocol.name == "classify":
        if pool_patches is not None or target_corruption:
            raise BadInputError("--pool-patches and --target-corruption are for restoration models; "
                                "a classifier's noisy-data option is --label-noise")
        given = {name for name in ("batch", "lr") if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
        _train_classifier(model, out, epochs, batch if "batch" in given else None, lr if "lr" in given else None,
                          seed, threads, reweight, eg_lr, label_noise, resume)
        return
    if entry.protocol.name == "conditional-restore":
        if not images:
            raise BadInputError(f"{model} trains on photos: give --images FOLDER (scripts/fetch_photos.sh makes one)")
        given_lr = ctx.get_parameter_source("lr") != click.core.ParameterSource.DEFAULT
        _train_conditional(model, list(images), out, steps, batch, patch, lr if given_lr else None, seed,
                           checkpoint_every, holdout_photos, threads, device, resume)
        return
    if entry.protocol.name != "restore":  # the photo recipe below is restoration's
        paired = getattr(entry.config, "trained_with", "")
        how = (f": it is trained inside {paired} (`edgezoo train {paired}`), whose weights hold it as resizer.*"
               if paired else "")
        raise BadInputError(f"`edgezoo train` has no recipe for the {entry.task} task{how}")
    if label_noise:
        raise BadInputError(f"--label-noise flips class labels, and {model} has none: "
                            "use --target-corruption FRACTION to corrupt a denoiser's targets")
    if not images:
        raise BadInputError(f"{model} trains on photos: give --images FOLDER (scripts/fetch_photos.sh makes one)")
    if patch % entry.input_spec.multiple_of:
        raise BadInputError(f"--patch must be a multiple of {entry.input_spec.multiple_of} for {model}")
    cfg = TrainConfig(model=model, images=list(images), out=out, steps=steps, batch=batch, patch=patch, lr=lr,
                      min_lr=min_lr, warmup=warmup, sigma_max=sigma_max, seed=seed, checkpoint_every=checkpoint_every,
                      val_every=val_every, holdout_photos=holdout_photos, photo_shrink=photo_shrink, threads=threads,
                      init_from=init_from,
                      device=device, pool_patches=pool_patches, target_corruption=target_corruption,
                      reweight=reweight, eg_lr=eg_lr, extra={"lineage": lineage} if lineage else {})
    try:
        best = train(cfg, resume=resume, log=lambda line: click.echo(line, err=True))
    except FileNotFoundError as exc:
        raise BadInputError(str(exc)) from None
    click.echo(f"best weights: {best}")


def _train_conditional(model: str, images: list[str], out: str, steps: int, batch: int, patch: int, lr: float | None,
                       seed: int, checkpoint_every: int, holdout_photos: int, threads: int | None, device: str,
                       resume: bool) -> None:
    """A conditional-diffusion model's phases in turn (predictor then teacher; a CoDi
    student distils from its teacher's run in the same --out), each resumable."""
    import shutil
    from pathlib import Path

    import torch

    from edgezoo.errors import BadInputError
    from edgezoo.zoo import get_entry
    from edgezoo.zoo.train_conditional import ConditionalRecipe, train_phase, weights_path

    cfg = get_entry(model).config
    if patch % (cfg.scale * cfg.multiple_of) or patch % 4:
        raise BadInputError(f"--patch must be a multiple of {max(4, cfg.scale * cfg.multiple_of)} for {model}")
    if cfg.adapter_rank and not weights_path(out, cfg.teacher).is_file():
        raise BadInputError(f"{model} distils from {cfg.teacher}: train it first with "
                            f"`edgezoo train {cfg.teacher} --images DIR --out {out}`")
    if threads:
        torch.set_num_threads(threads)
    if not resume:
        shutil.rmtree(Path(out) / model, ignore_errors=True)
    for phase in ("student",) if cfg.adapter_rank else ("predictor", "teacher"):
        recipe = ConditionalRecipe(phase=phase, steps=steps, batch=batch, patch=patch, lr=lr, seed=seed,
                                   checkpoint_every=checkpoint_every, holdout_photos=holdout_photos)
        try:
            record = train_phase(model, images, out, recipe, device, log=lambda line: click.echo(line, err=True))
        except (FileNotFoundError, ValueError) as exc:
            raise BadInputError(str(exc)) from None
        click.echo(f"{model} {phase}: {record['steps_done']} steps, trainable {record['trainable_fraction']:.2%} "
                   f"of {record['params']:,} parameters")
    click.echo(f"weights: {weights_path(out, model)}")


def _train_classifier(model: str, out: str, epochs: int | None, batch: int | None, lr: float | None, seed: int,
                      threads: int | None, reweight: str, eg_lr: float, label_noise: float, resume: bool) -> None:
    import shutil
    from pathlib import Path

    from edgezoo.zoo.fashion_mnist import flip_labels, load_split
    from edgezoo.zoo.train_classifier import ClassifierTrainConfig, train_classifier

    defaults = ClassifierTrainConfig(model=model)
    cfg = ClassifierTrainConfig(model=model, out=out, epochs=epochs or defaults.epochs, batch=batch or defaults.batch,
                                lr=lr or defaults.lr, seed=seed, threads=threads, reweight=reweight, eg_lr=eg_lr)
    if not resume:
        shutil.rmtree(Path(out) / model, ignore_errors=True)
    images, labels = load_split("train")
    if label_noise:
        labels, _ = flip_labels(labels, label_noise, seed=1000 + seed)
    summary = train_classifier(cfg, {"train": (images, labels), "selection": load_split("selection")},
                               log=lambda line: click.echo(line, err=True))
    click.echo(f"best weights: {summary['run']}/best.safetensors (selection top-1 {summary['best_selection_top1']:.2f}%)")


@click.command("eval")
@click.argument("model")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Weights to score (default: shipped).")
@click.option("--sigmas", default=None, help="Noise levels on the 0-255 scale.  [default: 15,25,50; with --check: "
              "every level the manifest records]")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="Also score the task's classical baselines (CBM3D for denoising: slow, cached).")
@click.option("--check", is_flag=True, help="Recompute every figure of the shipped manifest (parameters, FLOPs, "
              "PSNR and SSIM per photo and sigma of the model, the noisy input and CBM3D) and exit 1 naming the "
              "first one that differs beyond the tolerance (PSNR 0.002 dB, SSIM 0.0002, FLOPs 0.1%). With "
              "--weights (a replay of the recorded recipe): each sigma's mean PSNR within 0.05 dB and SSIM within "
              "0.002 of the manifest.")
@click.option("--photos", default=None, help="With --check: only these evaluation photos, comma-separated "
              "(their noise is as in the full set; means are then not compared).")
@click.option("--steps", type=int, default=None, help="Generators: sampling steps (default: the program's).")
@click.option("--samples", type=int, default=5000, show_default=True,
              help="Generators: samples drawn (the manifest's figures are for 5000).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_cmd(model: str, weights: str | None, sigmas: str | None, baselines: bool, check: bool, photos: str | None,
             steps: int | None, samples: int, as_json: bool) -> None:
    """Measure MODEL's quality on data never used for training: a restoration model's
    PSNR/SSIM on the evaluation photos (served inside its contract, as the runtime serves
    it; a denoiser at each noise level, the others on their task's degradation) beside the
    degraded input and the task's classical baselines, a
    classifier's top-1 on the Fashion-MNIST test images, a generator's FD-fmnist,
    precision, recall and copy check of its samples against them."""
    from edgezoo.errors import BadInputError
    from edgezoo.zoo import get_entry

    if get_entry(model).protocol.name == "classify":
        _eval_classifier(model, weights, check, as_json)
        return
    if get_entry(model).protocol.name == "generate":
        _eval_generator(model, weights, check, steps, samples, as_json)
        return
    if get_entry(model).protocol.name == "conditional-restore":
        _eval_refiner(model, weights, check, photos, steps, as_json)
        return
    if get_entry(model).protocol.name == "instruct-restore":
        _eval_instructed(model, weights, check, photos, as_json)
        return
    if sigmas and get_entry(model).task != "denoise":
        raise BadInputError(f"--sigmas is for denoisers; {model} is measured on its task's degradation "
                            f"({get_entry(model).task}): drop --sigmas")
    try:
        levels = tuple(float(s) for s in sigmas.split(",")) if sigmas else None
    except ValueError:
        raise BadInputError(f"--sigmas must be numbers separated by commas, not '{sigmas}'") from None
    say = (lambda line: click.echo(line, err=True))
    if check:
        if weights and photos:
            raise BadInputError("--check --weights compares the means over every photo: drop --photos")
        _check(model, levels, set(photos.split(",")) if photos else None, baselines, as_json, say, weights)
        return
    if photos:
        raise BadInputError("--photos goes with --check")
    from edgezoo.zoo.release import measure

    net = _model_with(model, weights)
    _, _, results = measure(model, net, levels or (15, 25, 50), progress=say, baselines=baselines)
    if as_json:
        echo_json([r.model_dump() for r in results])
        return
    rows = []
    for r in results:
        row = {"degradation": r.degradation, "psnr_db": r.mean.psnr_db, "ssim": r.mean.ssim}
        for name, score in r.baselines.items():
            row[f"{name}_psnr_db"], row[f"{name}_ssim"] = score.psnr_db, score.ssim
        rows.append(row)
    echo_table(rows, list(rows[0]))


def _model_with(model: str, weights: str | None) -> Any:
    """``model`` in eval mode with ``weights`` (a safetensors file), else its shipped weights."""
    from edgezoo.zoo import create_model
    from edgezoo.zoo.weights import load_weights

    net = create_model(model, pretrained=weights is None)
    if weights:
        load_weights(net, weights)
    return net.eval()


def _eval_refiner(model: str, weights: str | None, check: bool, photos: str | None, steps: int | None,
                  as_json: bool) -> None:
    """A predict-and-refine model on the task it serves, one row per number of refinement
    steps (0: the predictor alone; ``--steps N``: 0 and N); ``--check`` recomputes the
    shipped manifest's rows from the shipped weights."""
    from edgezoo.errors import BadInputError, FigureMismatchError
    from edgezoo.manifests import packaged_names
    from edgezoo.zoo.release_conditional import check_refinement, measure_refinement

    say = (lambda line: click.echo(line, err=True))
    names = set(photos.split(",")) if photos else None
    problems: list[str] = []
    if check:
        if weights or steps:
            raise BadInputError("--check recomputes the shipped manifest's rows: drop --weights and --steps")
        if model not in packaged_names():
            raise BadInputError(f"{model} ships no manifest to check; `edgezoo list` shows the shipped ones")
        results, problems = check_refinement(model, names, progress=say)
    else:
        if photos:
            raise BadInputError("--photos goes with --check")
        net = _model_with(model, weights)
        results = measure_refinement(model, net, (0, steps) if steps else None, progress=say)
    if as_json:
        echo_json({"model": model, "rows": [r.model_dump(mode="json") for r in results], "differences": problems})
    else:
        echo_table([{"steps": int(r.metrics["steps"]), "psnr_db": r.mean.psnr_db, "ssim": r.mean.ssim,
                     "served as": r.note} for r in results], ["steps", "psnr_db", "ssim", "served as"])
    if problems:
        raise FigureMismatchError(f"{model}: {problems[0]} ({len(problems)} figure(s) moved)")
    if check:
        click.echo(f"all {2 * len(results) * (len(next(iter(results)).per_image) if names else 1)} figures checked "
                   "match the manifest")


def _eval_instructed(model: str, weights: str | None, check: bool, photos: str | None, as_json: bool) -> None:
    """An instruction-driven restorer, one row per setting and instruction it is told
    (:mod:`edgezoo.zoo.release_tip`) beside the input, its frozen prior and Wiener;
    ``--check`` recomputes the shipped manifest's rows from the shipped weights."""
    from edgezoo.errors import BadInputError, FigureMismatchError
    from edgezoo.zoo.release_tip import check_tip, measure_tip

    say = (lambda line: click.echo(line, err=True))
    names = set(photos.split(",")) if photos else None
    problems: list[str] = []
    if check:
        if weights:
            raise BadInputError("--check recomputes the shipped manifest's rows: drop --weights")
        results, problems = check_tip(names, progress=say)
    else:
        if photos:
            raise BadInputError("--photos goes with --check")
        net = _model_with(model, weights)
        results = measure_tip(net, progress=say)
    if as_json:
        echo_json({"model": model, "rows": [r.model_dump(mode="json") for r in results], "differences": problems})
    else:
        rows = []
        for r in results:
            row = {"degradation": r.degradation, "told": r.note, "psnr_db": r.mean.psnr_db, "ssim": r.mean.ssim}
            row.update({f"{k} psnr_db": v.psnr_db for k, v in r.baselines.items()})
            rows.append(row)
        echo_table(rows, list(dict.fromkeys(k for row in rows for k in row)))  # rows may have baselines of their own
    if problems:
        raise FigureMismatchError(f"{model}: {problems[0]} ({len(problems)} figure(s) moved)")
    if check:
        click.echo("every figure checked matches the manifest")


def _eval_generator(model: str, weights: str | None, check: bool, steps: int | None, samples: int,
                    as_json: bool) -> None:
    """FD-fmnist (with its train-vs-test floor), precision/recall and the copy check of
    ``samples`` samples; ``--check`` compares with the shipped manifest's row."""
    from edgezoo.errors import BadInputError, FigureMismatchError
    from edgezoo.manifests import packaged_names
    from edgezoo.zoo import get_entry
    from edgezoo.zoo.release_diffusion import check_diffusion, measure

    problem = get_entry(model).protocol.quality_problem(get_entry(model).task)
    if problem:
        raise BadInputError(problem)
    if samples < 10:
        raise BadInputError(f"--samples must be at least 10 (the k-NN manifolds need neighbours), not {samples}")
    say = (lambda line: click.echo(line, err=True))
    if check:
        if weights:
            raise BadInputError("--check recomputes the shipped manifest from the shipped weights: drop --weights")
        if model not in packaged_names():
            raise BadInputError(f"{model} ships no manifest to check; `edgezoo list` shows the shipped ones")
        row, problems = check_diffusion(model, steps, samples, progress=say)
    else:
        net = _model_with(model, weights)
        steps = steps or int(get_entry(model).config.steps)
        row, problems = measure(model, net, steps, samples, progress=say), []
    if as_json:
        echo_json({"model": model, **row, "differences": problems})
    else:
        click.echo(f"{model}: FD-fmnist {row['fd_fmnist']} (floor, train vs test: {row['fd_fmnist_floor']}), "
                   f"precision {row['precision']}, recall {row['recall']} on {row['samples']} samples; "
                   f"{row['copies']} closer to a training image than 99% of test images are "
                   f"(median distance {row['nearest_train_median']}, test images {row['test_nearest_train_median']})")
    if problems:
        raise FigureMismatchError(f"{model}: {problems[0]}")


def _eval_classifier(model: str, weights: str | None, check: bool, as_json: bool) -> None:
    """Top-1 on the 10,000 Fashion-MNIST test images; ``--check`` compares every figure of the shipped manifest."""
    from edgezoo.errors import BadInputError, FigureMismatchError
    from edgezoo.manifests import packaged_names
    from edgezoo.zoo.release_classifier import check_classifier, classifier_quality

    if check:
        if weights:
            raise BadInputError("--check recomputes the shipped manifest from the shipped weights: drop --weights")
        if model not in packaged_names():
            raise BadInputError(f"{model} ships no manifest to check; `edgezoo list` shows the shipped ones")
        problems = check_classifier(model)
        if as_json:
            echo_json({"model": model, "passed": not problems, "differences": problems})
        if problems:
            raise FigureMismatchError(f"{model}: {problems[0]}" + (f" ({len(problems) - 1} more)" if len(problems) > 1 else ""))
        if not as_json:
            click.echo(f"{model}: top-1, parameters and FLOPs match the manifest")
        return
    net = _model_with(model, weights)
    result = classifier_quality(net)
    if as_json:
        echo_json(result.model_dump())
    else:
        click.echo(f"{model}: top-1 {result.metrics['top1']:.2f}% on {result.dataset}")


def _check(model: str, levels: tuple[float, ...] | None, photos: set[str] | None, baselines: bool, as_json: bool,
           say, weights: str | None = None) -> None:
    """``eval --check``: exit 1 (a FigureMismatchError) on the first figure beyond tolerance."""
    from edgezoo.errors import BadInputError, FigureMismatchError
    from edgezoo.manifests import packaged_names
    from edgezoo.zoo.data import evaluation_images
    from edgezoo.zoo.release import check_manifest

    if model not in packaged_names():
        raise BadInputError(f"{model} ships no manifest to check; `edgezoo list` shows the shipped ones")
    if photos and not photos <= set(evaluation_images()):
        raise BadInputError(f"--photos: no evaluation photo named {', '.join(sorted(photos - set(evaluation_images())))}; "
                            f"they are {', '.join(sorted(evaluation_images()))}")
    report = check_manifest(model, levels, photos, baselines, progress=say, weights=weights)
    if as_json:
        echo_json({"model": model, "compared": report.compared, "passed": report.passed,
                   "differences": [d.__dict__ for d in report.differences]})
    if not report.passed:
        first = report.differences[0]
        more = f" ({len(report.differences) - 1} more)" if len(report.differences) > 1 else ""
        raise FigureMismatchError(f"{model}: {first.message()}{more}")
    if not as_json:
        what = f"the weights {weights} reproduce" if weights else "all"
        click.echo(f"{model}: {what} {report.compared} figures checked match the manifest")
