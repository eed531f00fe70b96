"""``contract.json``: everything an app needs to call a bundle's artifacts without
Python: tensors with roles, pre- and post-processing, how a request is served (one call,
tiles with their overlap and blend, or the diffusion sampler as per-step numbers),
the degradation the model expects, class labels, measured quality and latency (with
their device profile), licences, and the sha256 of every file."""

from __future__ import annotations

from typing import Any

from edgezoo import __version__
from edgezoo.manifests.schema import Artifact, Manifest
from edgezoo.runtimes.bundle import CONTRACT_FILE
from edgezoo.runtimes.serving import tile_layout
from edgezoo.runtimes.tiling import round_up

CONTRACT_VERSION = 1

BLEND = {
    "kind": "linear cross-fade",
    "tile_starts": "per axis: stride = max(align, floor((tile - overlap) / align) * align); starts i * stride "
                   "for i = 0 .. ceil((length - tile) / stride), each clamped to length - tile, duplicates dropped",
    "weights": "per axis, over the span s a tile shares with a neighbour: 0 over the outer floor(s/4) pixels, "
               "then rising linearly as (i + 0.5) / r over the r = s - 2*floor(s/4) middle pixels, then 1; "
               "a tile's 2-D weight is the outer product of its two axes' weights",
    "combine": "output = sum(weight * tile output) / sum(weight), per pixel",
    "padding": "an image smaller than a tile is padded (pad_mode) to the tile on the bottom and right; a larger one "
               "is first padded to a multiple of align; the result is cropped back to the image's size",
}


def serving_recipe(manifest: Manifest, artifact: Artifact) -> dict[str, Any]:
    """How one request is served with ``artifact``: ``single`` (a fixed-size model called
    once), ``whole`` (a dynamic-shape artifact: the image padded to the multiple),
    ``tiled`` (the tile size, overlap, alignment and blend of
    :func:`edgezoo.runtimes.serving.serve`) or ``sampler``."""
    spec = manifest.model_spec()
    prep = manifest.preprocessing
    multiple = max(1, prep.pad_to_multiple_of)
    if spec.program.kind == "sampler":
        return {"kind": "sampler", "component": spec.program.component}
    if not artifact.static_shape:
        return {"kind": "whole", "pad_to_multiple_of": multiple, "pad_mode": prep.pad_mode,
                "note": "pad the image on the bottom and right to the multiple, one call, crop back"}
    tile_h, tile_w = (int(d) for d in artifact.input_shape[-2:])
    if spec.program.kind != "tiled":
        return {"kind": "single", "size": [tile_h, tile_w],
                "note": "resize the picture to this size (bilinear), one call"}
    # the overlap and alignment the runtime uses for any image larger than a tile
    _, _, overlap, align = tile_layout(tile_h + multiple, tile_w + multiple, tile_h, tile_w, multiple)
    return {"kind": "tiled", "tile": [tile_h, tile_w], "overlap": overlap, "align": align,
            "pad_mode": prep.pad_mode, "halo": spec.program.halo, "scale": spec.program.scale, "blend": BLEND,
            "example": _tile_example(tile_h, tile_w, overlap, align, multiple)}


def _tile_example(tile_h: int, tile_w: int, overlap: int, align: int, multiple: int) -> dict[str, Any]:
    from edgezoo.runtimes.tiling import tile_starts

    height, width = 3 * tile_h // 2 + 1, 2 * tile_w + 3
    ph, pw = round_up(height, multiple), round_up(width, multiple)
    return {"image": [height, width], "padded": [ph, pw], "row_starts": tile_starts(ph, tile_h, overlap, align),
            "column_starts": tile_starts(pw, tile_w, overlap, align)}


def pre_and_post(manifest: Manifest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preprocessing, postprocessing) in words and numbers an app implements."""
    prep = manifest.preprocessing
    spec = manifest.model_spec()
    low, high = prep.clip_output
    pre = {**prep.model_dump(mode="json"),
           "from_pixels": f"x = pixel * {prep.scale:.10g}{_minus(-low)} (pixels 0-255, {prep.color}), "
                          f"layout {prep.layout}, batch of 1"}
    # y: the network's output (a sampler's: the final sample)
    if spec.protocol == "classify":
        post = {"outputs": "logits", "to_probabilities": "softmax over the class axis", "labels": "labels[i] names class i"}
    elif spec.program.kind == "sampler":
        lo, hi = (spec.program.sampler or {}).get("sample_range", [low, high])
        post = {"clip": [lo, hi], "to_pixels": f"pixel = round((clip(y, {lo:g}, {hi:g}){_minus(lo)}) / {hi - lo:g} * 255)"}
    else:
        post = {"clip": [low, high],
                "to_pixels": f"pixel = round((clip(y, {low:g}, {high:g}){_minus(low)}) * {1 / prep.scale:.10g})"}
    return pre, post


def _minus(value: float) -> str:
    """`` - v`` written for a formula (`` + 1`` for -1, nothing for 0)."""
    return "" if value == 0 else (f" + {-value:g}" if value < 0 else f" - {value:g}")


def expected_degradation(manifest: Manifest) -> dict[str, Any] | None:
    """What the model was trained to undo, from the task's degradation model; None for
    tasks without one (generation, classification)."""
    try:
        from edgezoo.zoo.degradations import DEGRADATIONS
    except ImportError:  # pragma: no cover - the zoo ships with the exporter
        return None
    task = manifest.task
    if task not in DEGRADATIONS:
        return None
    recipe = manifest.weights.recipe if manifest.weights else ""
    if task == "denoise":
        from edgezoo.zoo.train import TrainConfig

        sigma_max = TrainConfig.__dataclass_fields__["sigma_max"].default
        return {"kind": "additive Gaussian noise", "sigma_range": [0.0, float(sigma_max)], "sigma_scale": "0-255 pixels",
                "note": "trained on sigma drawn uniformly in this range; quality is reported at sigma 25",
                "training_recipe": recipe}
    return {"kind": DEGRADATIONS[task].label, "training_recipe": recipe}


def sampler_contract(manifest: Manifest, extra_steps: tuple[int, ...] = ()) -> dict[str, Any] | None:
    """The sampler as data: per step count, the timesteps and the coefficients of every
    step (:func:`edgezoo.runtimes.sampler_table.sampler_table`), for the program's
    default step count, the counts its quality was measured at, and ``extra_steps``."""
    from edgezoo.runtimes.sampler_table import LINEAR_KINDS, level_table, sampler_table

    spec = manifest.model_spec()
    sampler = spec.program.sampler
    if spec.program.kind != "sampler" or not sampler:
        return None
    default = int(sampler.get("steps") or 1)
    measured = {int(q.metrics["steps"]) for q in manifest.quality if "steps" in q.metrics}
    counts = sorted({default, *measured, *extra_steps})
    linear = sampler.get("kind") in LINEAR_KINDS
    component = spec.component()
    sample = next(t for t in component.inputs if t.role == "noise")
    timestep = next(t for t in component.inputs if t.role == "timestep")
    return {
        "kind": sampler.get("kind"), "prediction": sampler.get("prediction"), "default_steps": default,
        "sample_input": sample.name, "timestep_input": timestep.name, "output": component.outputs[0].name,
        "sample_shape": sample.shape, "sample_range": sampler.get("sample_range"),
        "timestep_dtype": timestep.dtype,
        "noise": "standard normal; the first draw is the starting sample, then one draw per step whose fresh_noise "
                 "is true, after the network call (edgezoo's own samples use numpy's default_rng([seed, index]))",
        "form": "linear" if linear else "levels",
        "tables": {str(n): sampler_table(sampler, n) if linear else level_table(sampler, n) for n in counts},
        "schedule": sampler.get("schedule"),
    }


def artifact_entry(manifest: Manifest, artifact: Artifact | None, file: str, fmt: str, precision: str,
                   signature: str, io: dict[str, Any], files: dict[str, dict[str, Any]],
                   check: dict[str, Any] | None = None, note: str = "") -> dict[str, Any]:
    """One artifact of the bundle as the contract lists it."""
    entry: dict[str, Any] = {
        "file": file, "format": fmt, "precision": precision, "signature": signature,
        "inputs": io["inputs"], "outputs": io["outputs"],
        "sha256": files[file]["sha256"], "bytes": files[file]["bytes"],
    }
    if artifact is not None:
        entry["serving"] = serving_recipe(manifest, artifact)
        entry["parity"] = artifact.parity.model_dump(mode="json") if artifact.parity else None
        entry["quality"] = _quality(artifact.quality.model_dump(mode="json")) if artifact.quality else None
        entry["latency"] = [lat.model_dump(mode="json") for lat in artifact.latency]
        if not artifact.latency:
            entry["latency_note"] = f"not measured yet: `edgezoo bench {manifest.name}` records it per device profile"
        entry["source_sha256"] = artifact.sha256
    if check is not None:
        entry["parity"] = check
    if note:
        entry["note"] = note
    return entry


def _quality(record: dict[str, Any]) -> dict[str, Any]:
    """A quality record without its per-image lists (the means are what an app compares)."""
    return {k: v for k, v in record.items() if k not in ("per_image", "baselines_per_image")}


def build_contract(manifest: Manifest, platform: str, artifacts: list[dict[str, Any]],
                   files: dict[str, dict[str, Any]], extra_steps: tuple[int, ...] = ()) -> dict[str, Any]:
    """The whole ``contract.json`` of a bundle for ``platform``: ``artifacts`` from
    :func:`artifact_entry`, ``files`` every other file's sha256 and size."""
    spec = manifest.model_spec()
    pre, post = pre_and_post(manifest)
    weights = manifest.weights
    return {
        "contract_version": CONTRACT_VERSION,
        "edgezoo_version": __version__,
        "model": manifest.name, "family": manifest.family, "task": manifest.task,
        "description": manifest.description, "paper": manifest.paper.model_dump(mode="json"),
        "platform": platform,
        "program": spec.program.kind,
        "component": spec.program.component,
        "inputs": [t.model_dump(mode="json") for t in spec.component().inputs],
        "outputs": [t.model_dump(mode="json") for t in spec.component().outputs],
        "preprocessing": pre, "postprocessing": post,
        "expected_degradation": expected_degradation(manifest),
        "labels": list(spec.labels),
        "sampler": sampler_contract(manifest, extra_steps),
        "metrics": [m.model_dump(mode="json") for m in spec.metrics],
        "quality": [_quality(q.model_dump(mode="json")) for q in manifest.quality],
        "quality_note": "the PyTorch model's quality on data never used for training; each artifact lists its own",
        "licences": {
            "weights": weights.licence if weights else None,
            "weights_trained_on": weights.trained_on if weights else None,
            "code": "Apache-2.0 (edgezoo)",
        },
        "weights_sha256": weights.sha256 if weights else None,
        "artifacts": artifacts,
        "files": files,
    }
