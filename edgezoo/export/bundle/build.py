"""``build_bundle``: the files one platform runs, taken from the artifact store (exported
on demand through the one export pipeline), made app-native, with ``contract.json``,
``README.md`` and ``SHA256SUMS``, written as a folder or a deterministic zip."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from edgezoo.errors import BadInputError, ManifestError, UnknownModelError
from edgezoo.export.bundle.contract import CONTRACT_FILE, artifact_entry, build_contract
from edgezoo.export.bundle.package import SUMS_FILE, bundle_files, file_sha256, is_zip_target, write_folder, write_sums, write_zip
from edgezoo.export.bundle.readme import bundle_readme
from edgezoo.manifests.schema import Artifact, Manifest

PLATFORMS: dict[str, tuple[str, ...]] = {"android": ("tflite",), "ios": ("coreml",), "linux": ("onnx", "openvino")}


@dataclass
class BundleResult:
    """What :func:`build_bundle` wrote."""

    path: Path
    model: str
    platform: str
    files: dict[str, dict[str, Any]]
    exported: list[str] = field(default_factory=list)  # formats exported on demand
    sha256: str | None = None  # of the zip, when one was written
    notes: list[str] = field(default_factory=list)


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise BadInputError(f"unknown platform '{platform}': use one of {', '.join(PLATFORMS)}")
    return platform


def check_out(out: Path) -> Path:
    """``out`` if a bundle may be written there: a new path, an old bundle (replaced),
    or an empty folder; :class:`BadInputError` rather than replacing anything else."""
    from edgezoo.runtimes.bundle import CONTRACT_FILE

    if not out.exists():
        return out
    if out.is_dir():
        if (out / CONTRACT_FILE).is_file() or not any(out.iterdir()):
            return out
        raise BadInputError(f"{out} is a folder that holds other files, not a bundle: choose a new folder or a .zip")
    if is_zip_target(out):
        import zipfile

        if zipfile.is_zipfile(out):
            with zipfile.ZipFile(out) as archive:
                if CONTRACT_FILE in archive.namelist():
                    return out
        raise BadInputError(f"{out} exists and is not a bundle: choose another name")
    raise BadInputError(f"{out} is a file: give a folder or a name ending in .zip")


def build_bundle(
    name: str | os.PathLike, platform: str, out: str | os.PathLike, precisions: Iterable[str] = ("fp32",),
    search: list[str | os.PathLike] | None = None, export_missing: bool = True,
    say: Callable[[str], None] | None = None, bench: bool = False,
) -> BundleResult:
    """Bundle model (or task, or export dir) ``name`` for ``platform`` into ``out``.

    Parameters
    ----------
    name : str or path
        A model, a task (its first exported model) or an export dir.
    platform : str
        ``android`` (TFLite: float NCHW with TFLITE_METADATA, plus a uint8 NHWC signature
        for image models), ``ios`` (Core ML, image-typed I/O for image-to-image models) or
        ``linux`` (ONNX and OpenVINO).
    out : path
        A folder, or a ``.zip`` file (deterministic bytes).
    precisions : iterable of str
        The precisions to include (each must exist or be exportable).
    search : list of paths, optional
        Extra artifact roots (see :mod:`edgezoo.runtimes.store`).
    export_missing : bool
        Export the platform's missing artifacts through the export pipeline (into the
        store) instead of failing.
    say : callable, optional
        Progress lines.
    bench : bool
        Measure the latency of the platform's artifacts that have none for this
        device profile yet (recorded in the store's manifest, then in the contract).

    Returns
    -------
    BundleResult
    """
    from edgezoo.export.formats import parse_precisions

    check_platform(platform)
    precs = list(parse_precisions(",".join(precisions) if not isinstance(precisions, str) else precisions))
    say = say or (lambda text: None)
    out = check_out(Path(out))
    _refuse_several_components(name)
    export_dir, manifest, exported = _export_with_artifacts(name, platform, precs, search, export_missing, say)
    _check_what_ships(export_dir, manifest, platform, precs)
    notes = []
    if bench:
        manifest, notes = _bench_unmeasured(export_dir, manifest, platform, precs, say)
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=_stage_parent(out)) as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        builder = _Builder(export_dir, manifest, stage, say)
        for precision in precs:
            for fmt in PLATFORMS[platform]:
                for artifact in _artifacts(manifest, fmt, precision):
                    builder.add(artifact)
        files = {name: {"sha256": file_sha256(stage / name), "bytes": (stage / name).stat().st_size}
                 for name in bundle_files(stage)}
        for entry in builder.entries:
            entry.update(_artifact_digest(entry["file"], files))
        contract = build_contract(manifest, platform, builder.entries, files)
        (stage / CONTRACT_FILE).write_text(json.dumps(contract, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(bundle_readme(contract), encoding="utf-8")
        write_sums(stage)
        if is_zip_target(out):
            write_zip(stage, out)
            sha = file_sha256(out)
        else:
            write_folder(stage, out)
            sha = None
    return BundleResult(out, manifest.name, platform, files, exported, sha, notes + builder.notes)


BENCH_BACKENDS = {"tflite": "litert", "onnx": "onnxruntime", "openvino": "openvino"}


def _bench_unmeasured(folder: Path, manifest: Manifest, platform: str, precs: list[str],
                      say: Callable[[str], None]) -> tuple[Manifest, list[str]]:
    """Measure, on this host's CPU, the latency of the platform's artifacts that have no
    figure for this device profile (``edgezoo bench``'s measurement, saved in the store)."""
    from edgezoo.runtimes.latency import bench_export
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.runtimes.store import open_export_dir

    profile = device_profile().id
    notes = []
    for fmt in PLATFORMS[platform]:
        backend = BENCH_BACKENDS.get(fmt)
        todo = [a for p in precs for a in _artifacts(manifest, fmt, p)
                if not any(lat.device_profile == profile for lat in a.latency)]
        if not todo:
            continue
        if backend is None:
            notes.append(f"{fmt} latency is not measured here (it needs an Apple device)")
            continue
        say(f"measuring {fmt} latency on {profile}")
        bench_export(open_export_dir(folder), backend=backend, device="cpu", runs=10, warmup=2, save=True)
        manifest = open_export_dir(folder).manifest
    return manifest, notes


def _stage_parent(out: Path) -> Path:
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _artifact_digest(file: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """sha256 and size of an artifact: a file, an OpenVINO IR (xml with its bin) or a
    Core ML package (every file under it)."""
    if file in files:
        return {"sha256": files[file]["sha256"], "bytes": files[file]["bytes"]}
    inside = {k: v for k, v in files.items() if k.startswith(file + "/")}
    return {"sha256": None, "bytes": sum(v["bytes"] for v in inside.values()), "package_files": sorted(inside)}


def _check_what_ships(export_dir: Path, manifest: Manifest, platform: str, precs: list[str]) -> None:
    """The weights and every artifact the bundle takes match the manifest's size and
    sha256, before anything is staged: a tampered export is refused, not shipped."""
    from edgezoo.export.verify import check_integrity

    shipped = [a for p in precs for fmt in PLATFORMS[platform] for a in _artifacts(manifest, fmt, p)]
    check_integrity(export_dir, manifest.model_copy(update={"artifacts": shipped}))


def _refuse_several_components(name: str | os.PathLike) -> None:
    """Before any export: a model served by several graphs (a predict-and-refine
    predictor and step graph) has no app-side calling sequence in a bundle yet."""
    from edgezoo.manifests import load_manifest
    from edgezoo.zoo import get_entry

    path = Path(name)
    try:
        spec = load_manifest(path).model_spec() if path.exists() else get_entry(str(name)).spec()
    except (ManifestError, UnknownModelError):
        return  # the export step reports it, with its own advice
    components = [c.name for c in spec.components]
    if len(components) > 1:
        raise BadInputError(f"{name} runs {len(components)} graphs ({', '.join(components)}) per request; bundles of "
                            "such models are not built yet: ship its export folder, which `edgezoo.runtimes.load` serves")


def _artifacts(manifest: Manifest, fmt: str, precision: str) -> list[Artifact]:
    return [a for a in manifest.artifacts if a.format == fmt and a.precision == precision and a.static_shape]


def _export_with_artifacts(name: str | os.PathLike, platform: str, precs: list[str],
                           search: list[str | os.PathLike] | None, export_missing: bool,
                           say: Callable[[str], None]) -> tuple[Path, Manifest, list[str]]:
    """The export dir to bundle from, with every artifact the platform needs at ``precs``
    (exported now through :func:`edgezoo.export.pipeline.export_model` when missing)."""
    from edgezoo.runtimes.store import default_artifact_dir, resolve

    try:
        export = resolve(name, search)[0]
        folder, manifest = export.path, export.manifest
    except ManifestError:
        from edgezoo.zoo import list_models

        if not export_missing or str(name) not in list_models():
            raise
        folder, manifest = default_artifact_dir(str(name)), None
    wanted = PLATFORMS[platform]
    missing = sorted({fmt for fmt in wanted for p in precs if manifest is None or not _artifacts(manifest, fmt, p)})
    if not missing:
        assert manifest is not None
        return folder, manifest, []
    if not export_missing:
        raise ManifestError(f"{folder} lacks {', '.join(missing)} artifacts at {', '.join(precs)}: "
                            f"run `edgezoo export {name} --format {','.join(missing)} --precision {','.join(precs)}`")
    say(f"exporting {', '.join(missing)} ({', '.join(precs)}) into {folder}")
    from edgezoo.export.pipeline import export_model

    kwargs: dict[str, Any] = {}
    model_name = str(name) if manifest is None else manifest.name
    if manifest is not None:  # same weights and size as the folder's other artifacts
        from edgezoo.export.verify import rebuild_reference

        kwargs["model"] = rebuild_reference(folder, manifest)
        sizes = [a.input_shape[-2:] for a in manifest.artifacts if a.static_shape]
        if sizes:
            kwargs["height"], kwargs["width"] = int(sizes[0][0]), int(sizes[0][1])
        kwargs["measure_quality"] = any(a.quality is not None for a in manifest.artifacts) or None
    manifest = export_model(model_name, formats=",".join(missing), precisions=",".join(precs), out_dir=folder,
                            dynamic=False, **kwargs)
    return folder, manifest, missing


class _Builder:
    """Copies (or makes) each artifact into the stage and records its contract entry."""

    def __init__(self, export_dir: Path, manifest: Manifest, stage: Path, say: Callable[[str], None]) -> None:
        self.export_dir, self.manifest, self.stage, self.say = export_dir, manifest, stage, say
        self.entries: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The PyTorch reference with the export's weights (built once, for app-native conversions)."""
        if self._model is None:
            from edgezoo.export.verify import rebuild_reference

            self._model = rebuild_reference(self.export_dir, self.manifest)
        return self._model

    def _metadata(self, artifact: Artifact) -> dict[str, Any]:
        from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing
        from edgezoo.zoo import get_entry

        entry = get_entry(self.manifest.name)
        h, w = (int(d) for d in artifact.input_shape[-2:])
        io = io_contract(entry, h, w)
        return artifact_metadata(entry, io, preprocessing(entry), artifact.format, artifact.precision,
                                 self.manifest.weights.sha256 if self.manifest.weights else None)

    def add(self, artifact: Artifact) -> None:
        getattr(self, f"_add_{artifact.format}")(artifact)

    def _entry(self, artifact: Artifact | None, file: str, fmt: str, precision: str, signature: str,
               io: dict[str, Any], check: dict[str, Any] | None = None, note: str = "") -> None:
        placeholder = {file: {"sha256": "", "bytes": 0}}  # filled in once every file is staged
        self.entries.append(artifact_entry(self.manifest, artifact, file, fmt, precision, signature, io,
                                           placeholder, check, note))

    def _io(self, artifact: Artifact) -> dict[str, Any]:
        return self._metadata(artifact)["io"]

    def _add_onnx(self, artifact: Artifact) -> None:
        shutil.copy2(self.export_dir / artifact.file, self.stage / artifact.file)
        self._entry(artifact, artifact.file, "onnx", artifact.precision, "float_nchw", self._io(artifact))

    def _add_openvino(self, artifact: Artifact) -> None:
        source = self.export_dir / artifact.file
        shutil.copy2(source, self.stage / artifact.file)
        shutil.copy2(source.with_suffix(".bin"), self.stage / Path(artifact.file).with_suffix(".bin").name)
        self._entry(artifact, artifact.file, "openvino", artifact.precision, "float_nchw", self._io(artifact),
                    note=f"weights in {Path(artifact.file).with_suffix('.bin').name}")

    def _add_tflite(self, artifact: Artifact) -> None:
        from edgezoo.export.bundle.app_signature import UINT8_SUFFIX, has_image_input, uint8_io, write_uint8_tflite
        from edgezoo.export.bundle.tflite_metadata import with_model_metadata
        from edgezoo.export.capture import captured_output, torch_threads
        from edgezoo.export.contract import metadata_json

        metadata = self._metadata(artifact)
        io = metadata["io"]
        labels = self._labels_file()
        data = (self.export_dir / artifact.file).read_bytes()
        out = with_model_metadata(data, self._description(io, uint8=False), labels)
        (self.stage / artifact.file).write_bytes(out)
        self._entry(artifact, artifact.file, "tflite", artifact.precision, "float_nchw", io,
                    note="TFLITE_METADATA added (name, description, normalisation, tensors, licence)")
        if not has_image_input(io):
            self.notes.append(f"{artifact.file}: no image input, so no uint8 NHWC signature")
            return
        if artifact.precision != "fp32":
            return  # one uint8 picture signature per bundle, computed in float inside
        app_io = uint8_io(io)
        file = Path(artifact.file).stem + UINT8_SUFFIX + ".tflite"
        self.say(f"converting the uint8 NHWC signature {file}")
        embedded = {**metadata, "io": app_io, "signature": "uint8_nhwc"}
        with captured_output(), torch_threads(1):
            check = write_uint8_tflite(self.model, io, embedded, self.stage / file)
        staged = self.stage / file
        staged.write_bytes(with_model_metadata(staged.read_bytes(), self._description(app_io, uint8=True), labels))
        self._entry(None, file, "tflite", "fp32", "uint8_nhwc", app_io, check,
                    note="the float model wrapped in torch before conversion: uint8 pixels in, "
                         "uint8 pixels out (image outputs), scaling and clipping inside the graph")
        self.entries[-1]["serving"] = self.entries[-2].get("serving")
        self.entries[-1]["latency"] = []
        self.entries[-1]["latency_note"] = ("not measured: the same network as the float artifact, plus the uint8 "
                                            "conversions in the graph; see the float artifact's figures")

    def _add_coreml(self, artifact: Artifact) -> None:
        from edgezoo.export.bundle.app_signature import ImageOutputModule, image_roles
        from edgezoo.export.capture import captured_output, torch_threads
        from edgezoo.export.validators import COREML_PACKAGE_ENTRIES
        from edgezoo.files import remove_path

        metadata = self._metadata(artifact)
        io = metadata["io"]
        image_in, image_out = image_roles(io)
        target = self.stage / artifact.file
        if image_in and image_out and artifact.precision == "fp32":
            import torch

            from edgezoo.export import coreml_export
            from edgezoo.manifests.schema import TensorSpec
            from edgezoo.tasks.feeds import example_feeds

            self.say(f"converting {artifact.file} with image-typed input and output")
            feeds = example_feeds([TensorSpec.model_validate(t) for t in io["inputs"]], rng=0)
            example = {k: torch.from_numpy(v) for k, v in feeds.items()}
            embedded = {**metadata, "signature": "image_io"}
            with captured_output(), torch_threads(1):
                coreml_export.convert(ImageOutputModule(self.model, io).eval(), example, target, embedded,
                                      image_io=True)
            info = coreml_export.inspect_package(target)
            check = {"executed": False, "passed": True, "feature_types": info["feature_types"],
                     "note": "Core ML prediction needs macOS: converted and its spec read back, not run here"}
            self._entry(artifact, artifact.file, "coreml", "fp32", "image_io", io, check,
                        note="image inputs and outputs are Core ML images (CVPixelBuffer): 0-255 pixels; the "
                             "input is scaled into the contract's range by Core ML")
            return
        shutil.copytree(self.export_dir / artifact.file, target)
        for entry in target.iterdir():  # only what an app needs
            if entry.name not in COREML_PACKAGE_ENTRIES:
                remove_path(entry)
        self._entry(artifact, artifact.file, "coreml", artifact.precision, "float_nchw", io,
                    note="multi-array inputs and outputs (not an image-to-image model)"
                    if not (image_in and image_out) else "")

    def _labels_file(self) -> dict[str, str] | None:
        labels = self.manifest.model_spec().labels
        return {"labels.txt": "".join(f"{label}\n" for label in labels)} if labels else None

    def _description(self, io: dict[str, Any], uint8: bool) -> Any:
        from edgezoo.export.bundle.tflite_metadata import ModelDescription, TensorDescription

        m = self.manifest
        labels = bool(m.model_spec().labels)

        def tensor(t: dict[str, Any], is_output: bool) -> TensorDescription:
            image = t.get("role") == "image"
            low, high = t.get("range") or (0.0, 1.0)
            if uint8 and image:
                sides = t["shape"][1:3]
                return TensorDescription(t["name"], f"{t.get('color')} picture, uint8 NHWC {t['shape']}, pixels 0-255",
                                         image=True, color=t.get("color"), height=sides[0], width=sides[1],
                                         mean=[0.0], std=[1.0], stats_min=[0.0], stats_max=[255.0])
            text = f"{t.get('role')}: {t.get('dtype')} {t.get('layout')} {t['shape']}" + (
                f" in [{low:g}, {high:g}]" if t.get("range") else "")
            if image and not is_output:  # pixels p become (p - mean) / std = p * scale + low
                scale = (high - low) / 255.0
                return TensorDescription(t["name"], text + " (NCHW: not a bitmap layout; see contract.json)",
                                         mean=[0.0 - low / scale + 0.0], std=[1 / scale], stats_min=[low], stats_max=[high])
            return TensorDescription(t["name"], text, stats_min=[low] if t.get("range") else [],
                                     stats_max=[high] if t.get("range") else [],
                                     labels_file="labels.txt" if is_output and labels and t.get("role") == "logits" else None)

        description = f"{m.description} Paper: {m.paper.url}. Contract (tiling, sampler, quality): contract.json"
        return ModelDescription(
            name=m.name, description=description, version=f"edgezoo {self._version()}", author="edgezoo",
            licence=(m.weights.licence if m.weights else "Apache-2.0"),
            inputs=[tensor(t, False) for t in io["inputs"]], outputs=[tensor(t, True) for t in io["outputs"]],
        )

    @staticmethod
    def _version() -> str:
        from edgezoo import __version__

        return __version__
