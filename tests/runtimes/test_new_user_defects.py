"""The defects a new user hit (issue 14): output paths checked before inference, grey
and RGBA pictures kept as they are, EXIF orientation applied, foreign manifests and
empty folders, suggestions that name real commands, typo'd suffixes, subfolders, and
LiteRT's log line. Every test runs the CLI in-process on tiny artifacts: an identity
TFLite graph written with LiteRT's own schema (no torch) and the conv net of
``artifacts.conv_export``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artifacts import _artifact, have
from edgezoo.cli import main
from edgezoo.imageio import image_size, read_image
from edgezoo.manifests import Manifest

REPO = Path(__file__).resolve().parents[2]

needs_litert = pytest.mark.skipif(not have("ai_edge_litert"), reason="ai-edge-litert is not installed")


def identity_tflite(path: Path, side: int) -> None:
    """``restored = image + 0`` as a 1x3xside x side TFLite flatbuffer."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def tensor(name: str, shape: list[int], buffer: int) -> schema.TensorT:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, schema.TensorType.FLOAT32, buffer
        return t

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    zero = schema.BufferT()
    zero.data = np.zeros(1, np.float32).tobytes()
    model.buffers = [schema.BufferT(), schema.BufferT(), zero, schema.BufferT()]
    shape = [1, 3, side, side]
    graph = schema.SubGraphT()
    graph.tensors = [tensor("image", shape, 1), tensor("zero", [1], 2), tensor("restored", shape, 3)]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    graph.operators, graph.inputs, graph.outputs, graph.name = [op], [0], [2], "main"
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())


@pytest.fixture(scope="module")
def identity_dir(tmp_path_factory) -> Path:
    """An export dir (task denoise) whose one artifact returns its input: a 32x32 TFLite."""
    if not have("ai_edge_litert"):
        pytest.skip("ai-edge-litert is not installed")
    out = tmp_path_factory.mktemp("identity") / "identity-denoise"
    out.mkdir()
    identity_tflite(out / "identity.tflite", 32)
    Manifest.model_validate({
        "name": "identity-denoise", "family": "test", "task": "denoise", "paper": {"title": "-", "url": "-"},
        "config": {}, "params": 0,
        "io": {"inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "multiple_of": 8}],
               "outputs": [{"name": "restored", "shape": [1, 3, "H", "W"]}]},
        "preprocessing": {"pad_to_multiple_of": 8},
        "artifacts": [_artifact(out, "identity.tflite", "tflite", [1, 3, 32, 32], True)],
    }).save(out / "manifest.yaml")
    return out


def cli(capfd, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, expected: int) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("edgezoo: error")]
    assert code == expected and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


def save(path: Path, array: np.ndarray, **params) -> Path:
    Image.fromarray(array).save(path, **params)
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return save(tmp_path / "in.png", rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))


@pytest.fixture
def no_inference(monkeypatch):
    """Loading a session is the step before inference: reaching it fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the output path should have been refused before loading a model")

    monkeypatch.setattr("edgezoo.runtimes.load", refuse)


# 1 --------------------------------------------------------------------------------------

def test_an_unwritable_output_is_one_line_exit_2_before_inference(capfd, conv_dir, photo, tmp_path, no_inference):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "x.png", blocker / "sub" / "out", Path("/proc/x.png"), Path("/proc/edgezoo-out"),
                Path("/sys/out")):
        code, _, err = cli(capfd, "run", conv_dir, photo, "-o", out)
        assert "cannot write" in one_line_error(code, err, 2), out


# 2 --------------------------------------------------------------------------------------

def test_a_grey_picture_is_restored_as_grey(capfd, identity_dir, conv_dir, tmp_path):
    from edgezoo import runtimes

    rng = np.random.default_rng(1)
    grey = rng.random((50, 70), dtype=np.float32)
    session = runtimes.load(identity_dir)
    out = session(grey)  # neighbours in G and B, moved back: an identity model gives the input back
    assert out.shape == grey.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, grey, atol=1e-6)
    u8 = (grey * 255).astype(np.uint8)
    assert np.array_equal(session(u8), u8) and np.array_equal(session(u8[:, :, None])[:, :, 0], u8)
    other = runtimes.load(conv_dir, artifact="onnx-fp32-dynamic")  # not a denoiser: three copies, averaged
    np.testing.assert_allclose(other(grey), other(np.repeat(grey[:, :, None], 3, axis=2)).mean(axis=2), atol=1e-5)

    source = save(tmp_path / "grey.png", u8)
    code, _, err = cli(capfd, "run", identity_dir, source, "-o", tmp_path / "grey-out.png")
    assert code == 0, err
    with Image.open(tmp_path / "grey-out.png") as written:
        assert written.mode == "L" and np.array_equal(np.asarray(written), u8)


# 3 --------------------------------------------------------------------------------------

def test_alpha_is_carried_through_untouched(capfd, conv_dir, tmp_path):
    from edgezoo import runtimes

    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (40, 48, 4), dtype=np.uint8)
    rgba[:20, :, 3] = 0  # a transparent half
    session = runtimes.load(conv_dir, artifact="onnx-fp32-dynamic")
    out = session(rgba)
    assert out.shape == rgba.shape and np.array_equal(out[:, :, 3], rgba[:, :, 3])
    assert np.array_equal(out[:, :, :3], session(rgba[:, :, :3]))
    floats = rgba.astype(np.float32) / 255
    assert np.array_equal(session(floats.transpose(2, 0, 1))[3], floats[:, :, 3])

    code, _, err = cli(capfd, "run", conv_dir, save(tmp_path / "rgba.png", rgba), "-o", tmp_path / "out.png",
                       "--artifact", "onnx-fp32-dynamic")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGBA" and np.array_equal(np.asarray(written)[:, :, 3], rgba[:, :, 3])
    code, _, err = cli(capfd, "run", conv_dir, tmp_path / "rgba.png", "-o", tmp_path / "out.jpg")
    assert "cannot store" in one_line_error(code, err, 2)


# 4 --------------------------------------------------------------------------------------

def test_exif_orientation_is_applied(capfd, conv_dir, tmp_path):
    stored = np.zeros((24, 40, 3), np.uint8)  # landscape as stored, portrait once turned
    stored[:, :8] = 255  # a white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    source = save(tmp_path / "phone.jpg", stored, exif=exif.tobytes(), quality=95)
    assert image_size(source) == (40, 24)
    upright = read_image(source)
    assert upright.shape == (40, 24, 3) and upright[:8].mean() > 0.9 and upright[-8:].mean() < 0.1
    code, _, err = cli(capfd, "run", conv_dir, source, "-o", tmp_path / "out.png", "--artifact", "onnx-fp32-dynamic")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as written:
        assert written.size == (24, 40)


# 5, 6 -----------------------------------------------------------------------------------

def test_export_refuses_a_foreign_manifest_and_leaves_no_empty_folder(capfd, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    folder = tmp_path / "mine"
    folder.mkdir()
    foreign = "apiVersion: v1\nkind: Pod\n"
    (folder / "manifest.yaml").write_text(foreign)
    code, _, err = cli(capfd, "export", "maxim-tiny-denoise", "--untrained", "--format", "onnx", "--out", folder)
    assert "not an edgezoo export manifest" in one_line_error(code, err, 2)
    assert (folder / "manifest.yaml").read_text() == foreign and sorted(p.name for p in folder.iterdir()) == ["manifest.yaml"]

    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    code, _, err = cli(capfd, "export", "maxim-small-deblur", "--format", "onnx")  # no shipped weights: fails
    line = one_line_error(code, err, 1)
    assert "--untrained" in line and "edgezoo train maxim-small-deblur" in line  # deblurring has a recipe
    assert not (tmp_path / "cache" / "artifacts" / "maxim-small-deblur").exists()


# 7 --------------------------------------------------------------------------------------

def test_suggestions_name_real_commands(capfd, conv_dir, photo, tmp_path):
    code, _, err = cli(capfd, "run", "maxim-tiny-denoize", photo, "-o", tmp_path / "o.png")
    line = one_line_error(code, err, 2)
    assert "did you mean maxim-tiny-denoise" in line and "edgezoo export maxim-tiny-denoise --format all" in line
    assert "maxim-tiny-denoize --format" not in line
    code, _, err = cli(capfd, "plan", "deblur")  # a task with a shipped model: export that one
    line = one_line_error(code, err, 1)
    assert "edgezoo export deblur" not in line and "`edgezoo export maxim-tiny-deblur --format all`" in line
    commands = re.findall(r"`(edgezoo [a-z]+ [^`]*)`", line)
    assert commands and all(c.split()[2] != "deblur" for c in commands)
    code, _, err = cli(capfd, "plan", "conditional-sr4")  # one command: the task's first model with weights
    line = one_line_error(code, err, 1)
    if have("torch"):  # the zoo's registry knows the task's models
        # both of the task's models ship weights: the advice exports one of them, by name
        assert re.search(r"run `edgezoo export (dvsr|codi)-tiny-sr4 --format all`$", line), line
    commands = re.findall(r"`(edgezoo [a-z]+ [^`]*)`", line)
    assert commands and all(c.split()[2] != "conditional-sr4" for c in commands)
    code, _, err = cli(capfd, "plan", "conv-tset", "--search", conv_dir.parent)  # a near miss of an export
    assert one_line_error(code, err, 2).endswith("did you mean conv-test?")
    if have("torch"):  # a zoo model the store has never seen is no typo of a shipped one
        code, _, err = cli(capfd, "plan", "maxim-m1-denoise")
        line = one_line_error(code, err, 1)
        assert "did you mean" not in line and "`edgezoo export maxim-m1-denoise --untrained`" in line


# 8 --------------------------------------------------------------------------------------

def test_an_unknown_output_suffix_is_refused(capfd, conv_dir, photo, tmp_path, no_inference):
    code, _, err = cli(capfd, "run", conv_dir, photo, "-o", tmp_path / "x.jpgg")
    assert "not an image suffix" in one_line_error(code, err, 2)
    assert not (tmp_path / "x.jpgg").exists()


# 9 --------------------------------------------------------------------------------------

def test_subfolders_are_reported_or_restored_with_recursive(capfd, conv_dir, photo, tmp_path):
    folder = tmp_path / "photos"
    (folder / "day" / "noon").mkdir(parents=True)
    (folder / "night").mkdir()
    shutil.copy(photo, folder / "a.png")
    shutil.copy(photo, folder / "day" / "noon" / "b.png")
    shutil.copy(photo, folder / "night" / "a.png")  # same name as the top one: kept apart by its folder
    code, _, err = cli(capfd, "run", conv_dir, folder, "-o", tmp_path / "flat", "--artifact", "onnx-fp32-dynamic")
    assert code == 0, err
    assert "skipped 2 subfolder(s) (day, night); add --recursive" in err
    assert sorted(p.relative_to(tmp_path / "flat").as_posix() for p in (tmp_path / "flat").rglob("*.png")) == ["a.png"]

    code, _, err = cli(capfd, "run", conv_dir, folder, folder / "a.png", "-o", tmp_path / "deep", "--recursive",
                       "--artifact", "onnx-fp32-dynamic")  # a.png named twice: restored once
    assert code == 0, err
    assert "skipped" not in err
    assert sorted(p.relative_to(tmp_path / "deep").as_posix() for p in (tmp_path / "deep").rglob("*.png")) == [
        "a.png", "day/noon/b.png", "night/a.png"]


# 10 -------------------------------------------------------------------------------------

@needs_litert
def test_litert_keeps_its_info_line_off_stderr(python, identity_dir, photo, tmp_path):
    # a fresh process: the interpreter logs its INFO line once per process
    done = subprocess.run([python, "-m", "edgezoo", "run", str(identity_dir), str(photo), "-o", str(tmp_path / "o.png"),
                           "--backend", "litert"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "XNNPACK" not in done.stderr and "INFO" not in done.stderr, done.stderr


# 11 -------------------------------------------------------------------------------------

def test_every_environment_variable_the_code_reads_is_in_the_readme():
    names = set()
    for source in [f for folder in ("edgezoo", "tests", "benchmarks", "scripts") for f in (REPO / folder).rglob("*.py")]:
        names |= set(re.findall(r"\bEDGEZOO_[A-Z_]+\b", source.read_text(encoding="utf-8")))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert names and not [n for n in sorted(names) if f"`{n}`" not in readme]
