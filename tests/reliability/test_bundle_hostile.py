"""Hostile input through `edgezoo bundle` and the bundle loader: a tampered or broken export
is refused before anything is written (one line, a non-zero exit, no bundle, no temporary
left in the output's folder), and a hostile zip handed to the runtime-only loader is
refused without writing outside its folder."""

import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from edgezoo.errors import EdgezooError

from test_tampering import flip_a_byte, onnx_file


@pytest.fixture
def export(resizer_export, tmp_path) -> Path:
    copy = tmp_path / "store" / resizer_export.name
    shutil.copytree(resizer_export, copy)
    return copy


def _damage(export: Path, how: str) -> None:
    manifest = export / "manifest.yaml"
    if how == "flip-onnx":
        flip_a_byte(onnx_file(export))
    elif how == "truncate-onnx":
        onnx_file(export).write_bytes(onnx_file(export).read_bytes()[:100])
    elif how == "delete-onnx":
        onnx_file(export).unlink()
    elif how == "flip-openvino-bin":
        flip_a_byte(next(export.glob("*.bin")))
    elif how == "edit-manifest-sha":
        text = manifest.read_text()
        sha = re.search(r"sha256: ([0-9a-f]{64})", text).group(1)
        manifest.write_text(text.replace(sha, "0" * 64, 1))
    elif how == "malformed-yaml":
        manifest.write_text("name: [unclosed\n")
    elif how == "python-object-yaml":
        manifest.write_text("!!python/object/apply:os.system ['touch /tmp/edgezoo-pwned']\n")
    elif how == "no-manifest":
        manifest.unlink()
    elif how == "empty-manifest":
        manifest.write_text("")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["flip-onnx", "truncate-onnx", "delete-onnx", "flip-openvino-bin",
                                 "edit-manifest-sha", "malformed-yaml", "python-object-yaml", "no-manifest",
                                 "empty-manifest"])
@pytest.mark.parametrize("suffix", [".zip", ""])
def test_bundle_of_a_damaged_export_is_refused_and_writes_nothing(how, suffix, export, edgezoo, tmp_path):
    _damage(export, how)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = edgezoo("bundle", export, "--platform", "linux", "-o", out_dir / f"b{suffix}", "--no-export",
                             "--no-bench")
    assert code in (1, 2), (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert list(out_dir.iterdir()) == [], list(out_dir.iterdir())
    assert not Path("/tmp/edgezoo-pwned").exists()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _claiming(size: int) -> bytes:
    """Two tiny entries whose central directory claims ``size`` bytes each (a zip bomb's
    promise, without writing gigabytes to make one)."""
    data = bytearray(_zip({"contract.json": b"{}", "big.bin": b"x"}))
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + 24:at + 28] = size.to_bytes(4, "little")  # the entry's uncompressed size
        start = at + 4
    return bytes(data)


HOSTILE_ZIPS = {
    "claims-6-gib": _claiming(3 * 1024**3),
    "zero-bytes": b"",
    "random-bytes": bytes(range(256)) * 8,
    "png-named-zip": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
    "empty-zip": _zip({}),
    "no-contract": _zip({"README.md": b"hi"}),
    "contract-not-json": _zip({"contract.json": b"{not json", "SHA256SUMS": b""}),
    "dot-dot-entry": _zip({"../escaped.txt": b"x", "contract.json": b"{}"}),
    "absolute-entry": _zip({"/tmp/edgezoo-absolute.txt": b"x", "contract.json": b"{}"}),
    "cut-in-half": _zip({"contract.json": b"{}" * 500, "SHA256SUMS": b""})[:300],
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ZIPS))
def test_a_hostile_bundle_zip_is_refused_by_the_runtime_loader(name, tmp_path):
    from edgezoo.runtimes.bundle import open_bundle

    bundle = tmp_path / "given" / "b.zip"
    bundle.parent.mkdir()
    bundle.write_bytes(HOSTILE_ZIPS[name])
    into = tmp_path / "inside" / "b"
    with pytest.raises(EdgezooError) as refused:
        open_bundle(bundle, into=into)
    assert str(refused.value) and "\n" not in str(refused.value).strip()
    assert not (tmp_path / "inside" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/edgezoo-absolute.txt").exists()
    assert list((tmp_path / "inside").iterdir()) == [] if (tmp_path / "inside").exists() else True  # nothing half-unpacked


def test_a_bundle_is_unpacked_only_into_an_empty_folder(tmp_path):
    from edgezoo.errors import BadInputError
    from edgezoo.runtimes.bundle import open_bundle

    (tmp_path / "b.zip").write_bytes(HOSTILE_ZIPS["empty-zip"])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("mine")
    with pytest.raises(BadInputError, match="not an empty folder"):
        open_bundle(tmp_path / "b.zip", into=busy)
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]
