"""Tampering: an altered artifact, weights file or manifest is refused with the reason
(by the runtime and by `edgezoo verify`); YAML and JSON are parsed safely; weights load
only from safetensors."""

import re
import shutil
from pathlib import Path

import pytest

from edgezoo import runtimes
from edgezoo.errors import ArtifactIntegrityError, ManifestError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def export(resizer_export, tmp_path) -> Path:
    copy = tmp_path / "store" / resizer_export.name
    shutil.copytree(resizer_export, copy)
    return copy


def flip_a_byte(path: Path, offset: int = -8) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def onnx_file(folder: Path) -> Path:
    return next(folder.glob("*.onnx"))


def test_an_altered_artifact_is_refused_by_the_runtime_with_the_reason(export):
    flip_a_byte(onnx_file(export))
    with pytest.raises(ArtifactIntegrityError, match=r"has sha256 .*its manifest says .*re-export it"):
        runtimes.load(export, artifact=onnx_file(export).name)
    session = runtimes.load(export)  # the intact OpenVINO artifact still serves, and says why
    assert any("failed to load" in r and "sha256" in r for r in session.plan.reasons) or \
        session.option.artifact.format == "openvino"


@pytest.mark.parametrize("damage", ["flip-onnx", "truncate-onnx", "delete-onnx", "flip-openvino-bin",
                                    "flip-weights", "edit-manifest-sha"])
def test_verify_refuses_a_tampered_export_naming_the_file(damage, export, edgezoo):
    target = {"flip-onnx": onnx_file(export), "truncate-onnx": onnx_file(export), "delete-onnx": onnx_file(export),
              "flip-openvino-bin": next(export.glob("*.bin")), "flip-weights": export / "weights.safetensors",
              "edit-manifest-sha": export / "manifest.yaml"}[damage]
    if damage.startswith("flip"):
        flip_a_byte(target)
    elif damage == "truncate-onnx":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete-onnx":
        target.unlink()
    else:
        text = target.read_text()
        sha = re.search(r"sha256: ([0-9a-f]{64})", text).group(1)
        target.write_text(text.replace(sha, "0" * 64, 1))
    code, out, err = edgezoo("verify", export)
    assert code == 1, (out, err)
    assert err.startswith("edgezoo: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    # an OpenVINO IR is hashed as .xml plus .bin, and named by its .xml
    named = list(export.glob("*.onnx")) if damage == "edit-manifest-sha" else [target.with_suffix(".xml")
                                                                              if target.suffix == ".bin" else target]
    assert any(p.name in err for p in named) or "weights" in err, err


@pytest.mark.parametrize("manifest_text, reason", [
    ("name: [unclosed\n", "not valid YAML"),
    ("!!python/object/apply:os.system ['touch {pwned}']\n", "not valid YAML"),
    ("name: x\nfamily: 3\n", "manifest"),
    ("\xff\xfe garbage", "manifest"),
])
def test_a_hostile_manifest_is_refused_and_never_executed(manifest_text, reason, export, tmp_path, edgezoo):
    pwned = tmp_path / "pwned"
    (export / "manifest.yaml").write_bytes(manifest_text.format(pwned=pwned).encode("utf-8", "surrogateescape")
                                           if "\xff" not in manifest_text else b"\xff\xfe garbage")
    with pytest.raises(ManifestError, match=reason):
        runtimes.load(export)
    code, _, err = edgezoo("verify", export)
    assert code == 1 and err.count("\n") == 1 and "manifest.yaml" in err, err
    assert not pwned.exists()


# pickle may be read only from the pipe between `export` and the worker processes it starts
# (python -m edgezoo.export.parallel): no file, socket or user input is ever unpickled
PRIVATE_PIPES = {"edgezoo/export/parallel.py"}


def test_the_code_parses_yaml_only_with_safe_load_and_json_with_json():
    unsafe = re.compile(r"yaml\.(load|unsafe_load|full_load|load_all)\(|yaml\.Loader|pickle\.loads?\(|marshal\.loads?\(|"
                        r"(?<![.\w])(eval|exec)\(")
    hits = [f"{p.relative_to(ROOT).as_posix()}:{n}" for p in (ROOT / "edgezoo").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if unsafe.search(line)]
    assert [hit for hit in hits if hit.split(":")[0] not in PRIVATE_PIPES] == []
    for file in PRIVATE_PIPES:  # one reader each, on a pipe to a process the same code started
        assert [hit for hit in hits if hit.startswith(file + ":")] and len([h for h in hits if h.startswith(file)]) == 1
    assert any("yaml.safe_load" in p.read_text() for p in (ROOT / "edgezoo" / "manifests").rglob("*.py"))


# torch.load (pickle) may appear only where `edgezoo train` resumes its own run folder
TRAINING_RESUME = {"edgezoo/zoo/train.py", "edgezoo/zoo/train_classifier.py", "edgezoo/zoo/train_diffusion.py",
                   "edgezoo/zoo/train_conditional.py", "edgezoo/zoo/release_classifier.py"}


def test_weights_load_only_from_safetensors(tmp_path):
    torch = pytest.importorskip("torch")
    from edgezoo.errors import WeightsError
    from edgezoo.zoo.weights import load_weights

    users = {p.relative_to(ROOT).as_posix() for p in (ROOT / "edgezoo").rglob("*.py") if "torch.load(" in p.read_text()}
    assert users <= TRAINING_RESUME, users - TRAINING_RESUME
    model = torch.nn.Linear(2, 2)
    pickled = tmp_path / "weights.safetensors"
    torch.save(model.state_dict(), pickled)  # a pickle under a safetensors name
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_weights(model, pickled)


@pytest.mark.parametrize("what, code", [("a-file", 2), ("no-manifest", 1), ("empty-manifest", 1)])
def test_verify_of_something_that_is_no_export_is_one_line(what, code, tmp_path, edgezoo):
    target = tmp_path / "thing"
    if what == "a-file":
        target.write_text("x")
    else:
        target.mkdir()
        if what == "empty-manifest":
            (target / "manifest.yaml").write_text("")
    status, out, err = edgezoo("verify", target)
    assert status == code and err.startswith("edgezoo: error:") and err.count("\n") == 1, (out, err)


def test_an_export_refused_before_writing_leaves_no_folder(tmp_path, edgezoo):
    pytest.importorskip("torch")
    code, _, err = edgezoo("export", "no-such-model", "-o", tmp_path / "a" / "b")
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "a").exists()
