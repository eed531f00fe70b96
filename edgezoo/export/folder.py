"""The export folder: created and proven writable, one model per folder, the manifest
it starts a run with (earlier artifacts of the same weights kept, stale ones removed),
a hidden staging folder beside the artifacts, and the move of a checked artifact into
place."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from edgezoo.errors import BadInputError, EdgezooError
from edgezoo.export.contract import io_contract, preprocessing
from edgezoo.files import companion_files, remove_path, sha256_file, size_bytes
from edgezoo.manifests.schema import Manifest, Paper, Weights, load_manifest

WEIGHTS_FILE = "weights.safetensors"
MANIFEST_FILE = "manifest.yaml"


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` and prove it writable, or raise one clear :class:`BadInputError`."""
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".edgezoo-write-test-", delete=True)
        probe.close()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise BadInputError(f"cannot write to the output folder {out}: {reason}; pass --out a writable folder") from None
    return out


def check_folder_is_for(out: Path, name: str) -> None:
    """One folder holds one model's export: refuse to mix another model's in, and
    refuse a ``manifest.yaml`` edgezoo cannot read (someone else's file, not ours to
    overwrite)."""
    path = out / MANIFEST_FILE
    if not path.exists():
        return
    try:
        previous = load_manifest(path)
    except EdgezooError as exc:
        reason = str(exc).split("\n", 1)[0].removeprefix(f"{path}: ")[:160]
        raise BadInputError(
            f"{path} is not an edgezoo export manifest ({reason}); export {name} into another folder (--out), "
            "or move that file away first"
        ) from None
    if previous.name != name:
        raise BadInputError(
            f"{out} holds an export of {previous.name}; export {name} into another folder (--out), "
            "or delete that one first"
        )


def remove_if_nothing_kept(out: Path) -> bool:
    """After a failed export into a folder it created: remove ``out`` unless its
    manifest lists an artifact (the weights and an empty manifest alone are no export,
    and an empty model folder in the store reads as one). Returns whether it was removed."""
    path = out / MANIFEST_FILE
    try:
        kept = load_manifest(path).artifacts if path.is_file() else []
    except EdgezooError:
        kept = []
    if kept or not out.is_dir():
        return False
    remove_path(out)
    return True


def exclusive_export(export: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``export_model(name, ..., out_dir=...)``: the export folder is made and
    held under the store's exclusive lock (``edgezoo.runtimes.store.export_lock``) for the
    whole run, so two exports of one folder take turns and a reader never loads an
    artifact before its manifest entry; what a killed export left (staging folders,
    ``.partial`` temporaries) is removed first."""
    signature = inspect.signature(export)

    @functools.wraps(export)
    def locked(*args: Any, **kwargs: Any) -> Any:
        from edgezoo.runtimes.store import default_artifact_dir, export_lock

        bound = signature.bind(*args, **kwargs)
        out_dir = bound.arguments.get("out_dir") or default_artifact_dir(bound.arguments["name"])
        missing = [p for p in (Path(out_dir).expanduser().absolute(), *Path(out_dir).expanduser().absolute().parents)
                   if not p.exists()]  # the folders this call creates, deepest first
        out = prepare_out_dir(out_dir)
        with export_lock(out, exclusive=True):
            remove_leftovers(out)
            try:
                return export(*args, **kwargs)
            except BaseException:
                # refused before writing anything (an unknown model, a bad option): leave no empty
                # folder; inside the lock, so no export that waited for it has started there yet
                for folder in missing:
                    with contextlib.suppress(OSError):  # only while empty
                        folder.rmdir()
                raise

    return locked


def remove_leftovers(out: Path) -> list[Path]:
    """Remove what a killed writer left in ``out`` (its staging folders and atomic
    writes' ``.partial`` temporaries); call only while holding the folder's exclusive lock."""
    left = sorted([*out.glob(".edgezoo-staging-*"), *out.glob(".*.partial")])
    for path in left:
        remove_path(path)
    return left


@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A hidden folder inside ``out`` (same filesystem, so moving out is a rename),
    removed whatever happens."""
    stage = Path(tempfile.mkdtemp(prefix=".edgezoo-staging-", dir=out))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def promote(staged: Path, final: Path) -> None:
    """Move a checked artifact (file, package directory, or IR pair) into place;
    companions (an IR's ``.bin``) first, so the main file never points at nothing. A
    file replaces its old self in one rename (never a moment without it); a package
    directory cannot, so the old one is removed first."""
    if final.is_dir() and not final.is_symlink():
        remove_path(final)
    for companion in companion_files(staged):
        if companion.exists():
            os.replace(companion, final.parent / companion.name)
    os.replace(staged, final)


def config_dict(entry: Any, model: Any) -> dict[str, Any]:
    """The model's configuration for its manifest: the instance's own dataclass, else the entry's."""
    config = getattr(model, "cfg", None) or getattr(model, "config", None)
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        config = entry.config
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def _weights_info(out: Path, name: str, entry: Any, model: Any, pretrained: bool, sha: str, supplied: bool) -> Weights:
    params = sum(p.numel() for p in model.parameters())
    trained_on, recipe, licence, steps = "untrained: seeded random initialisation", "none", entry.licence, None
    if supplied:
        trained_on, recipe = "supplied by the caller", "unknown"
    elif pretrained:
        from edgezoo.zoo.upstream.sources import UPSTREAM

        if name in UPSTREAM:  # the paper's weights, imported into the cache (`edgezoo weights import`)
            from edgezoo.zoo.upstream.imported import read_record

            record = read_record(name)
            assert record is not None  # the model was built from them
            trained_on = (f"{record.dataset}: the official weights, imported from {record.package} "
                          f"{record.version} (source sha256 {record.source_sha256[:16]}...)")
            recipe = "upstream's own training; converted to TF.js by UpscalerJS, imported by `edgezoo weights import`"
        else:
            from edgezoo.manifests import packaged_manifest

            shipped = packaged_manifest(name).weights
            if shipped is not None:
                trained_on, recipe, licence, steps = shipped.trained_on, shipped.recipe, shipped.licence, shipped.steps
    return Weights(file=WEIGHTS_FILE, sha256=sha, bytes=size_bytes(out / WEIGHTS_FILE), params=params,
                   trained_on=trained_on, recipe=recipe, licence=licence, steps=steps)


def start_manifest(
    out: Path, entry: Any, model: Any, pretrained: bool, supplied: bool, weights_sha: str, height: int, width: int,
    note: Callable[[str], None],
) -> Manifest:
    """The folder's manifest before this run's artifacts: a previous export's artifacts
    are kept if they were made from the same weights and are still intact; stale ones
    (the same model with other weights) are deleted, since nothing could verify them
    any more, and ``note`` is told which."""
    quality = []
    if pretrained and not supplied:
        from edgezoo.manifests import packaged_manifest, packaged_names

        if entry.name in packaged_names():
            quality = packaged_manifest(entry.name).quality
    manifest = Manifest(
        name=entry.name, family=entry.family, task=entry.task, description=entry.description,
        paper=Paper(title=entry.paper.title, url=entry.paper.url), config=config_dict(entry, model),
        params=sum(p.numel() for p in model.parameters()), io=io_contract(entry, height, width),
        spec=entry.spec(), preprocessing=preprocessing(entry),
        weights=_weights_info(out, entry.name, entry, model, pretrained, weights_sha, supplied),
        quality=quality,
    )
    previous_path = out / MANIFEST_FILE
    if not previous_path.is_file():
        return manifest
    try:
        previous = load_manifest(previous_path)
    except EdgezooError:
        return manifest  # unreadable: it is replaced
    same = previous.name == entry.name and previous.weights is not None and previous.weights.sha256 == weights_sha
    for artifact in previous.artifacts:
        path = out / artifact.file
        if same and path.exists() and sha256_file(path) == artifact.sha256:
            manifest.artifacts.append(artifact)
        elif path.exists() and not same:
            remove_path(path)
            for companion in companion_files(path):
                remove_path(companion)
            note(f"removed {artifact.file}: exported from other weights")
    return manifest
