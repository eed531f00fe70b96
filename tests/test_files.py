import os
import stat

import pytest

from edgezoo.files import atomic_path, atomic_write_text, sha256_file, size_bytes


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("converter crashed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_interrupt_leaves_no_partial_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "a.tflite") as tmp:
            tmp.write_bytes(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_directory_artifacts_are_renamed_whole_and_hashed_by_content(tmp_path):
    with atomic_path(tmp_path / "m.mlpackage") as tmp:
        (tmp / "Data").mkdir(parents=True)
        (tmp / "Data" / "weights.bin").write_bytes(b"abc")
    package = tmp_path / "m.mlpackage"
    assert size_bytes(package) == 3
    before = sha256_file(package)
    (package / "Data" / "weights.bin").write_bytes(b"abd")
    assert sha256_file(package) != before


def test_written_files_get_the_usual_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "manifest.yaml", "a: 1\n")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
