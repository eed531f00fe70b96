"""Open an app bundle (``edgezoo bundle``) with the runtime alone: checksums verified,
zip entries kept inside their folder, artifacts loaded by their native backend, and a
request served from ``contract.json`` (tiles, or the sampler's per-step table).
Torch-free, like everything under ``edgezoo.runtimes``."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from edgezoo.errors import ArtifactIntegrityError, BadInputError

CONTRACT_FILE = "contract.json"
SUMS_FILE = "SHA256SUMS"
# What a bundle may unpack to: the largest bundle here is under 100 MB, and an app's models are
# far below this; a zip that claims more is refused before anything is written (a zip bomb)
MAX_UNPACKED_BYTES = 4 * 1024**3


@dataclass
class Bundle:
    """A verified bundle: its folder and its contract."""

    path: Path
    contract: dict[str, Any]
    _tmp: Any = field(default=None, repr=False)  # keeps an unpacked zip's folder alive

    def artifact(self, signature: str | None = None, fmt: str | None = None) -> dict[str, Any]:
        """The first artifact entry with ``signature`` and/or ``fmt``."""
        for entry in self.contract["artifacts"]:
            if (signature is None or entry["signature"] == signature) and (fmt is None or entry["format"] == fmt):
                return entry
        raise BadInputError(f"this bundle has no {fmt or ''} artifact with signature {signature}")

    def runner(self, entry: dict[str, Any], device: str = "cpu") -> Any:
        """The artifact loaded by its native backend (a :class:`Runner`)."""
        from edgezoo.runtimes.backends import backend_for_format

        return backend_for_format(entry["format"]).load(self.path / entry["file"], device,
                                                        precision=entry.get("precision"))

    def restore(self, entry: dict[str, Any], image: np.ndarray) -> np.ndarray:
        """Run a float NCHW image artifact on ``image`` (1 x C x H x W float32, any size)
        by the serving recipe the contract gives: tiles of the artifact's size with its
        overlap and alignment, or the whole image padded to the multiple."""
        from edgezoo.runtimes.serving import serve

        runner = self.runner(entry)
        name, out = entry["inputs"][0]["name"], entry["outputs"][0]["name"]
        recipe = entry["serving"]

        def fn(x: np.ndarray) -> np.ndarray:
            return runner.run({name: x})[out]

        if recipe["kind"] == "tiled":
            return serve(fn, image, recipe["align"], tuple(recipe["tile"]), recipe["overlap"], recipe["pad_mode"])
        if recipe["kind"] == "whole":
            return serve(fn, image, recipe["pad_to_multiple_of"], None, None, recipe["pad_mode"])
        return fn(image)

    def generate(self, entry: dict[str, Any], steps: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """One sample from the sampler table in the contract for ``steps`` (default: the
        program's), the network run from ``entry``'s artifact."""
        from edgezoo.runtimes.sampler_table import replay

        sampler = self.contract.get("sampler")
        if not sampler:
            raise BadInputError(f"{self.contract['model']} has no sampler: it is not a diffusion model")
        key = str(steps or sampler["default_steps"])
        if key not in sampler["tables"]:
            raise BadInputError(f"the contract has sampler tables for {', '.join(sampler['tables'])} steps, not {key}")
        if sampler["form"] != "linear":
            raise BadInputError(f"the {sampler['kind']} sampler is given as levels, not a linear table: "
                                "replay it with edgezoo.runtimes.samplers")
        runner = self.runner(entry)
        shape = tuple(int(d) for d in sampler["sample_shape"])

        def network(x: np.ndarray, t: np.ndarray) -> np.ndarray:
            feeds = {sampler["sample_input"]: x, sampler["timestep_input"]: t.astype(sampler["timestep_dtype"])}
            return runner.run(feeds)[sampler["output"]]

        return replay(sampler["tables"][key], network, shape, rng or np.random.default_rng(0))


def file_sha256(path: Path) -> str:
    """The plain sha256 of one file's bytes (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_extract(archive: zipfile.ZipFile, into: Path) -> None:
    """Unpack ``archive`` into ``into``, refusing any entry that would land outside it
    (``../``, absolute paths, drive letters) or that is a link."""
    root = into.resolve()
    claimed = sum(info.file_size for info in archive.infolist())
    if claimed > MAX_UNPACKED_BYTES:
        raise ArtifactIntegrityError(f"bundle unpacks to {claimed / 1024**3:.1f} GiB, more than the "
                                     f"{MAX_UNPACKED_BYTES / 1024**3:.0f} GiB a bundle may hold; refused")
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        target = (into / info.filename).resolve()
        if name.is_absolute() or ".." in name.parts or ":" in info.filename or not target.is_relative_to(root):
            raise ArtifactIntegrityError(f"bundle entry '{info.filename}' points outside the bundle; refused")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ArtifactIntegrityError(f"bundle entry '{info.filename}' is a symbolic link; refused")
    archive.extractall(into)


def verify_bundle(folder: Path) -> dict[str, Any]:
    """Check every file against ``SHA256SUMS`` and the contract's own list; return the
    contract. :class:`ArtifactIntegrityError` names the first files that differ."""
    sums_path, contract_path = folder / SUMS_FILE, folder / CONTRACT_FILE
    if not sums_path.is_file() or not contract_path.is_file():
        raise ArtifactIntegrityError(f"{folder} is not an edgezoo bundle (no {SUMS_FILE} or {CONTRACT_FILE})")
    listed: dict[str, str] = {}
    for line in sums_path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    problems = [f"{name} is not listed in {SUMS_FILE}" for name in present if name not in listed and name != SUMS_FILE]
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif file_sha256(path) != digest:
            problems.append(f"{name} has been altered (sha256 differs from {SUMS_FILE})")
    try:
        contract = json.loads(contract_path.read_text(encoding="utf-8"))
    except ValueError:
        raise ArtifactIntegrityError(f"{folder}/{CONTRACT_FILE} is not valid JSON") from None
    for name, info in (contract.get("files") or {}).items():
        if listed.get(name) not in (None, info.get("sha256")):
            problems.append(f"{name}: {SUMS_FILE} and {CONTRACT_FILE} disagree on its sha256")
        if name not in listed:
            problems.append(f"{name} is in {CONTRACT_FILE} but not in {SUMS_FILE}")
    if problems:
        raise ArtifactIntegrityError(f"bundle {folder} refused: " + "; ".join(problems[:5]))
    return contract


def open_bundle(path: str | os.PathLike, into: str | os.PathLike | None = None) -> Bundle:
    """Open a bundle folder or zip, verified. A zip is unpacked into ``into`` (default: a
    temporary folder that lives as long as the returned :class:`Bundle`)."""
    path = Path(path)
    tmp = None
    if path.is_file():
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ArtifactIntegrityError(f"{path.name} is not a zip file (damaged or not a bundle)") from None
        if into is None:
            tmp = tempfile.TemporaryDirectory(prefix="edgezoo-bundle-")
            into = Path(tmp.name) / "bundle"
        folder = Path(into)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise BadInputError(f"{folder} is not an empty folder: unpack a bundle into a new one")
        folder.parent.mkdir(parents=True, exist_ok=True)
        # unpacked and verified beside the target, then renamed: a refused zip leaves nothing behind
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.unpacking-", dir=folder.parent))
        try:
            with archive:
                try:
                    safe_extract(archive, stage)
                except (zipfile.BadZipFile, EOFError) as exc:  # a CRC or length that does not match
                    raise ArtifactIntegrityError(f"{path.name} is damaged or altered: {exc}") from None
            try:
                contract = verify_bundle(stage)
            except ArtifactIntegrityError as exc:  # name the zip, not the staging folder
                raise ArtifactIntegrityError(str(exc).replace(str(stage), str(path))) from None
            if folder.exists():
                folder.rmdir()
            stage.rename(folder)
        except BaseException:
            import shutil

            shutil.rmtree(stage, ignore_errors=True)
            raise
        return Bundle(folder, contract, tmp)
    elif path.is_dir():
        folder = path
    else:
        raise BadInputError(f"no bundle at {path}: make one with `edgezoo bundle MODEL --platform PLATFORM -o {path}`")
    return Bundle(folder, verify_bundle(folder), tmp)
