"""MAXIM-tiny at every precision, in every format, passes its own format's validator at
export (the shared 64x64 export), and the manifest records it; each .tflite records the
delegates LiteRT's analyzer finds it compatible with."""

from edgezoo.export.validators import validate
from edgezoo.manifests import load_manifest


def test_every_artifact_of_every_precision_passed_its_validators(precision_export):
    out, manifest, _ = precision_export
    assert load_manifest(out).artifacts == manifest.artifacts
    seen = set()
    for art in manifest.artifacts:
        assert art.validators and all(v.passed for v in art.validators), (art.file, art.validators)
        seen.add((art.format, art.precision))
        if art.format == "tflite":
            assert art.delegates and "xnnpack" in art.delegates
        else:
            assert art.delegates is None
    assert {p for _, p in seen} == {"fp32", "fp16", "int8"} and len(seen) == 12
    for art in manifest.artifacts:  # and again now, from the files in the folder
        if art.format == "onnx":
            assert all(r.passed for r in validate(out / art.file, "onnx")), art.file
