"""What a bundle holds: app-native signatures (TFLITE_METADATA, uint8 NHWC, Core ML
images, no debug files), a contract an app can follow, checksums that catch tampering,
and the same bytes on every build."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgezoo.errors import ArtifactIntegrityError


def test_android_tflite_carries_standard_metadata(android_bundle, tmp_path):
    from edgezoo.export.bundle.tflite_metadata import COLOR_SPACES, read_model_metadata
    from edgezoo.runtimes.bundle import open_bundle

    bundle = open_bundle(android_bundle, into=tmp_path / "b")
    for entry in bundle.contract["artifacts"]:
        meta = read_model_metadata((bundle.path / entry["file"]).read_bytes())
        assert meta["name"] == "maxim-tiny-denoise" and "MAXIM" in meta["description"]
        assert meta["model_description"] == meta["description"] != "MLIR Converted."
        assert meta["license"].startswith("Apache-2.0") and meta["min_parser_version"] == "1.0.0"
        assert [t["name"] for t in meta["inputs"]] == ["image"] and [t["name"] for t in meta["outputs"]] == ["restored"]
        if entry["signature"] == "uint8_nhwc":
            for tensor in meta["inputs"] + meta["outputs"]:
                assert tensor["content"] == "image" and tensor["color_space"] == COLOR_SPACES["RGB"]
                assert tensor["size"] == [64, 64]
            assert meta["inputs"][0]["normalization"] == {"mean": [0.0], "std": [1.0]}
        else:  # float NCHW: pixels p -> p / 255
            assert meta["inputs"][0]["normalization"] == {"mean": [0.0], "std": [255.0]}
    assert {e["signature"] for e in bundle.contract["artifacts"]} == {"float_nchw", "uint8_nhwc"}


def test_contract_says_how_to_serve_without_python(linux_bundle, tmp_path):
    from edgezoo.runtimes.bundle import open_bundle

    contract = open_bundle(linux_bundle, into=tmp_path / "b").contract
    assert contract["task"] == "denoise" and contract["program"] == "tiled"
    assert contract["inputs"][0]["role"] == "image" and contract["outputs"][0]["role"] == "image"
    assert contract["expected_degradation"]["sigma_range"] == [0.0, 50.0]
    assert contract["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert "clip" in contract["postprocessing"]
    assert contract["licences"]["weights"].startswith("Apache-2.0")
    for entry in contract["artifacts"]:
        serving = entry["serving"]
        assert serving["kind"] == "tiled" and serving["tile"] == [64, 64] and serving["overlap"] > 0
        assert {"tile_starts", "weights", "combine"} <= set(serving["blend"])
        assert entry["parity"]["executed"] and entry["parity"]["psnr_db"] >= 60
        assert "latency" in entry
        assert entry["sha256"] == contract["files"][entry["file"]]["sha256"]


@pytest.mark.slow  # a Core ML export and an image-typed conversion: minutes on 2 cores
def test_ios_bundle_has_image_typed_io_and_no_debug_files(maxim_dir, tmp_path):
    """The store lacks Core ML, so the bundle exports it on demand, then converts the
    image-typed package. Core ML prediction needs macOS: the spec is read back, not run."""
    pytest.importorskip("coremltools")
    from edgezoo.export.bundle import build_bundle
    from edgezoo.export.coreml_export import inspect_package
    from edgezoo.manifests import load_manifest

    store = Path(shutil.copytree(maxim_dir, tmp_path / "store"))
    result = build_bundle(store, "ios", tmp_path / "ios")
    assert result.exported == ["coreml"]
    assert any(a.format == "coreml" for a in load_manifest(store).artifacts)  # it went into the store
    (entry,) = json.loads((result.path / "contract.json").read_text())["artifacts"]
    assert entry["signature"] == "image_io" and entry["parity"]["executed"] is False
    package = result.path / entry["file"]
    assert sorted(p.name for p in package.iterdir()) == ["Data", "Manifest.json"]
    assert not list(result.path.rglob("*debug*"))
    info = inspect_package(package)
    assert info["feature_types"] == {"image": "imageType", "restored": "imageType"}
    assert info["metadata"]["model"] == "maxim-tiny-denoise" and info["licence"].startswith("Apache-2.0")


def test_diffusion_contract_holds_the_sampler_as_numbers(diffusion, tmp_path):
    from edgezoo.export.bundle import build_bundle
    from edgezoo.manifests import load_manifest
    from edgezoo.runtimes.samplers import scheduler_from_dict

    folder, _ = diffusion
    result = build_bundle(folder, "linux", tmp_path / "ddpm")
    contract = json.loads((result.path / "contract.json").read_text())
    sampler = contract["sampler"]
    program = load_manifest(folder).model_spec().program.sampler
    table = sampler["tables"][str(sampler["default_steps"])]
    assert table["timesteps"] == scheduler_from_dict(program).timesteps.tolist()
    for key in ("x0_from_sample", "x0_from_output", "next_from_x0", "next_from_sample", "noise_std", "fresh_noise"):
        assert len(table[key]) == len(table["timesteps"])
    assert sampler["sample_input"] == "sample" and sampler["timestep_input"] == "timestep"
    assert contract["expected_degradation"] is None and contract["labels"] == []
    assert "uint8" not in json.dumps([a["signature"] for a in contract["artifacts"]])


def test_zip_is_deterministic_and_listed(maxim_dir, linux_bundle, tmp_path):
    from edgezoo.export.bundle import build_bundle

    again = build_bundle(maxim_dir, "linux", tmp_path / "again.zip").path
    assert again.read_bytes() == Path(linux_bundle).read_bytes()
    with zipfile.ZipFile(again) as archive:
        names = archive.namelist()
        sums = archive.read("SHA256SUMS").decode().splitlines()
    assert names == sorted(names) and {"contract.json", "README.md", "SHA256SUMS"} <= set(names)
    assert sorted(line.split("  ")[1] for line in sums) == sorted(n for n in names if n != "SHA256SUMS")


def _rezip(source: Path, out: Path, change: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change.get(info.filename, src.read(info.filename)))
        for name, data in change.items():
            if name not in src.namelist():
                dst.writestr(name, data)
    return out


def test_tampering_is_refused_with_the_reason(linux_bundle, tmp_path):
    from edgezoo.runtimes.bundle import open_bundle

    with zipfile.ZipFile(linux_bundle) as archive:
        onnx = next(n for n in archive.namelist() if n.endswith(".onnx"))
        data = bytearray(archive.read(onnx))
        contract = json.loads(archive.read("contract.json"))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ArtifactIntegrityError, match=f"{onnx} has been altered"):
        open_bundle(_rezip(linux_bundle, tmp_path / "a.zip", {onnx: bytes(data)}), into=tmp_path / "a")
    contract["artifacts"][0]["serving"]["overlap"] = 0
    with pytest.raises(ArtifactIntegrityError, match="contract.json has been altered"):
        open_bundle(_rezip(linux_bundle, tmp_path / "c.zip", {"contract.json": json.dumps(contract).encode()}),
                    into=tmp_path / "c")
    with pytest.raises(ArtifactIntegrityError, match="not listed"):
        open_bundle(_rezip(linux_bundle, tmp_path / "e.zip", {"extra.bin": b"x"}), into=tmp_path / "e")
    raw = bytearray(Path(linux_bundle).read_bytes())  # flipped bytes in the zip itself
    raw[len(raw) // 3] ^= 0xFF
    (tmp_path / "flip.zip").write_bytes(bytes(raw))
    with pytest.raises(ArtifactIntegrityError):
        open_bundle(tmp_path / "flip.zip", into=tmp_path / "f")


def test_zip_entry_outside_the_folder_is_refused(linux_bundle, tmp_path):
    from edgezoo.runtimes.bundle import open_bundle

    evil = _rezip(linux_bundle, tmp_path / "evil.zip", {"../escaped.txt": b"x"})
    with pytest.raises(ArtifactIntegrityError, match="outside the bundle"):
        open_bundle(evil, into=tmp_path / "inside")
    assert not (tmp_path / "escaped.txt").exists()


def test_cli_bundle_measures_latency_and_refuses_bad_input(maxim_dir, python, tmp_path):
    import subprocess

    from edgezoo.runtimes.profile import device_profile

    store = Path(shutil.copytree(maxim_dir, tmp_path / "store"))  # the CLI records latency in the store
    run = [python, "-m", "edgezoo", "bundle"]
    ok = subprocess.run(run + [str(store), "--platform", "linux", "-o", str(tmp_path / "b.zip"), "--json"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    report = json.loads(ok.stdout)
    assert report["zip_sha256"] and "contract.json" not in report["files"]
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        contract = json.loads(archive.read("contract.json"))
    for entry in contract["artifacts"]:
        rows = [row for row in entry["latency"] if row["device_profile"] == device_profile().id]
        assert rows and all(row["p50_ms"] > 0 for row in rows), entry["latency"]
    bad = subprocess.run(run + ["no-such-model", "--platform", "linux", "-o", str(tmp_path / "x.zip")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.zip").exists()
    platform = subprocess.run(run + [str(maxim_dir), "--platform", "windows", "-o", str(tmp_path / "y")],
                              capture_output=True, text=True, timeout=120)
    assert platform.returncode == 2 and not (tmp_path / "y").exists()


def test_an_output_that_is_not_a_bundle_is_never_replaced(maxim_dir, tmp_path):
    from edgezoo.errors import BadInputError
    from edgezoo.export.bundle import build_bundle

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"not a bundle")
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "x")
    for out in (photo, folder, archive):
        with pytest.raises(BadInputError):
            build_bundle(maxim_dir, "linux", out)
    assert photo.read_bytes() == b"not a bundle" and (folder / "notes.txt").read_text() == "mine"
    assert zipfile.ZipFile(archive).namelist() == ["a.txt"]
