"""An OpenVINO IR is two files; its digest and size cover both."""

from edgezoo.files import sha256_file, size_bytes


def test_ir_digest_covers_the_bin_and_notices_it_missing(tmp_path):
    xml, bin_ = tmp_path / "m.xml", tmp_path / "m.bin"
    xml.write_bytes(b"<net/>")
    bin_.write_bytes(b"\x00" * 10)
    assert size_bytes(xml) == 16
    before = sha256_file(xml)
    bin_.write_bytes(b"\x00" * 9 + b"\x01")
    changed = sha256_file(xml)
    assert changed != before
    bin_.unlink()
    assert sha256_file(xml) not in (before, changed)
    assert size_bytes(xml) == 6


def test_plain_files_hash_as_before(tmp_path):
    import hashlib

    path = tmp_path / "m.onnx"
    path.write_bytes(b"abc")
    assert sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
