"""Where exported artifacts live, and how a model or task name finds them.

The contract (the export command, the demo and the runtime all follow it):

* An *export dir* is a folder holding ``manifest.yaml`` plus the artifact files it
  names (paths relative to the folder), as ``edgezoo export`` writes it.
* The *artifact roots* are searched in this order:
  1. the ``search`` folders a caller passes (``load(..., search=[...])``),
  2. the entries of ``EDGEZOO_ARTIFACTS`` (``os.pathsep``-separated),
  3. ``$EDGEZOO_CACHE/artifacts`` (default ``~/.cache/edgezoo/artifacts``).
  A root holds one export dir per model, ``<root>/<model>/manifest.yaml``; a root may
  also itself be an export dir.
* :func:`default_artifact_dir` is where ``edgezoo export MODEL`` and ``edgezoo demo``
  write when no ``--out`` is given: ``<first root>/<model>``, so the runtime finds what
  they wrote without any option.
* Writers and readers of one export dir agree through an advisory lock (``flock``) on
  the folder itself (:func:`export_lock`; no lock file): an export holds it exclusively
  for its whole run (so two exports of one folder take turns, and neither loses the
  other's manifest entries); loading a session and ``edgezoo verify`` hold it shared while
  they read the manifest, hash the artifact and load it, so none of them sees an artifact
  whose manifest entry is not yet written. Every file lands by rename in any case
  (``edgezoo.files.atomic_path``, the export's staging folder), so a reader that ignores
  the lock still never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgezoo.errors import ManifestError, UnknownModelError
from edgezoo.files import cache_root, folder_lock
from edgezoo.manifests import Manifest, load_manifest, packaged_manifest, packaged_names
from edgezoo.tasks import served_task

ARTIFACTS_ENV = "EDGEZOO_ARTIFACTS"


def export_lock(folder: str | os.PathLike, exclusive: bool) -> contextlib.AbstractContextManager[bool]:
    """The export dir's lock (see the module doc): ``exclusive`` for an export, shared
    for readers. Yields whether a lock is held (none for a reader of a folder not there yet)."""
    return folder_lock(folder, exclusive)


def artifact_roots(search: list[str | os.PathLike] | None = None) -> list[Path]:
    """The folders searched for export dirs, first match wins (see the module doc)."""
    roots = [Path(p) for p in (search or [])]
    roots += [Path(p) for p in os.environ.get(ARTIFACTS_ENV, "").split(os.pathsep) if p.strip()]
    roots.append(cache_root() / "artifacts")
    unique: list[Path] = []
    for root in roots:
        root = root.expanduser()
        if root not in unique:
            unique.append(root)
    return unique


def default_artifact_dir(model: str) -> Path:
    """The export dir that ``edgezoo export MODEL`` (no ``--out``) and ``edgezoo demo``
    write, and that :func:`edgezoo.runtimes.load` finds by name:
    ``<first entry of EDGEZOO_ARTIFACTS, else $EDGEZOO_CACHE/artifacts>/<model>``."""
    env = [p for p in os.environ.get(ARTIFACTS_ENV, "").split(os.pathsep) if p.strip()]
    root = Path(env[0]).expanduser() if env else cache_root() / "artifacts"
    return root / model


@dataclass
class ExportDir:
    """One export: its folder and its validated manifest."""

    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    def artifact_path(self, file: str) -> Path:
        return self.path / file


def open_export_dir(path: str | os.PathLike) -> ExportDir:
    """Read ``path/manifest.yaml`` (or a manifest file itself)."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    return ExportDir(folder, load_manifest(path))


def _scan(roots: list[Path]) -> list[ExportDir]:
    found: list[ExportDir] = []
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        dirs = [root] + sorted(p for p in root.iterdir() if p.is_dir())
        for folder in dirs:
            if (folder / "manifest.yaml").is_file() and folder.resolve() not in seen:
                seen.add(folder.resolve())
                try:
                    found.append(open_export_dir(folder))
                except ManifestError:
                    continue  # a broken export does not hide the others; `edgezoo verify` names it
    return found


def list_exports(search: list[str | os.PathLike] | None = None) -> list[ExportDir]:
    """Every export dir under the artifact roots, in search order."""
    return _scan(artifact_roots(search))


def find_exports(model: str, search: list[str | os.PathLike] | None = None) -> list[ExportDir]:
    """Export dirs of ``model`` in search order (first is preferred; later ones are
    other exports of the same model, e.g. a project folder and the cache)."""
    return [e for e in list_exports(search) if e.name == model]


def packaged_tasks() -> dict[str, str]:
    """model name -> task, for the manifests shipped with edgezoo."""
    tasks = {}
    for name in packaged_names():
        try:
            tasks[name] = packaged_manifest(name).task
        except ManifestError:
            continue
    return tasks


def no_artifacts_message(model: str) -> str:
    return f"no exported artifacts for {model}: run `edgezoo export {model} --format all`"


def resolve(name_or_dir: str | os.PathLike, search: list[str | os.PathLike] | None = None) -> list[ExportDir]:
    """The export dirs behind a folder, a model name or a task name.

    A folder gives itself. A model name gives its first export dir. A task name
    (``denoise``) gives the first export dir of every model of that task, shipped
    manifests and exports alike. Raises :class:`ManifestError` (exit 1) when a known
    model or task has no exports, :class:`UnknownModelError` (exit 2) for an unknown name.
    """
    path = Path(name_or_dir)
    if path.is_dir() or path.name == "manifest.yaml" and path.is_file():
        return [open_export_dir(path)]
    name = str(name_or_dir)
    if os.sep in name or name.startswith("."):
        raise ManifestError(f"no export dir at {name}: export one with `edgezoo export MODEL --out {name}`")
    exports = list_exports(search)
    by_model: dict[str, ExportDir] = {}
    for export in exports:
        by_model.setdefault(export.name, export)
    if name in by_model:
        return [by_model[name]]
    shipped = packaged_tasks()
    if name in shipped:
        raise ManifestError(no_artifacts_message(name))
    def serves(task: str) -> bool:  # `deblur` also names the predict-and-refine deblurrers
        return name in (task, served_task(task))

    def models_of(wanted: Any) -> list[str]:
        return sorted({m for m, t in shipped.items() if wanted(t)} | {e.name for e in exports if wanted(e.manifest.task)})

    # the task's own models first (the one an error suggests exporting), then those that also serve it
    native = models_of(lambda t: t == name)
    task_models = native + [m for m in models_of(serves) if m not in native]
    if task_models:
        found = [by_model[m] for m in task_models if m in by_model]
        if not found:
            raise ManifestError(
                f"no exported artifacts for task {name} (models: {', '.join(task_models)}): "
                f"run `edgezoo export {task_models[0]} --format all`"
            )
        return found
    known = sorted(set(shipped) | set(by_model))
    tasks = sorted({t for task in set(shipped.values()) | {e.manifest.task for e in exports}
                    for t in (task, served_task(task))})
    close = difflib.get_close_matches(name, known + tasks, n=1, cutoff=0.75)
    if close:
        guess = close[0]
        exported = guess in by_model or any(e.manifest.task == guess for e in exports)
        then = "" if exported else f" It has no exports yet: run `edgezoo export {_first_model(guess, shipped)} --format all`"
        raise UnknownModelError(f"unknown model or task '{name}': did you mean {guess}?{then}")
    raise UnknownModelError(
        f"'{name}' is neither an export dir, a model nor a task with exports "
        f"(models: {', '.join(known) or 'none'}; tasks: {', '.join(tasks) or 'none'}); "
        "`edgezoo list` shows the zoo's models, `edgezoo export MODEL` makes an export"
    )


def _first_model(name: str, shipped: dict[str, str]) -> str:
    """``name`` if it is a model, else the first shipped model of task ``name``."""
    return name if name in shipped else sorted(m for m, t in shipped.items() if t == name)[0]
