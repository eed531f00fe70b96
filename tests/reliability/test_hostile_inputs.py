"""Hostile and odd pictures through `edgezoo run` and `edgezoo batch`: a bad file is one
line and exit 2 with nothing written, an odd but valid one runs to an output of its
upright size, and in a folder of mixed content the good pictures are still written."""

import os
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import can_block_reads, edgezoo_process
from hostile_files import BAD, ODD, make
from PIL import Image

from edgezoo.imageio import read_image


def nothing_written(out: Path) -> bool:
    return not out.exists() or not [p for p in out.rglob("*") if not p.name.startswith(".edgezoo-batch")]


@pytest.mark.parametrize("case", sorted(BAD))
def test_run_refuses_a_bad_file_in_one_line(case, conv_dir, tmp_path, edgezoo):
    name, builder = BAD[case]
    path = make(tmp_path / "in", name, builder)
    code, out, err = edgezoo("run", conv_dir, path, "-o", tmp_path / "out" / "restored.png")
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("edgezoo: error: ") and "Traceback" not in err, err
    assert nothing_written(tmp_path / "out")


def test_run_says_a_bomb_is_a_bomb(conv_dir, tmp_path, edgezoo):
    path = make(tmp_path, *BAD["png-bomb-100000x100000"])
    code, _, err = edgezoo("run", conv_dir, path, "-o", tmp_path / "out.png")
    assert code == 2 and "claims more pixels than edgezoo will decode" in err


def test_an_unreadable_file_is_one_line(conv_dir, tmp_path, edgezoo):
    if not can_block_reads(tmp_path):
        pytest.skip("running as root: chmod 000 does not stop reads here")
    path = make(tmp_path, "locked.png", lambda p: Image.new("RGB", (8, 8)).save(p))
    path.chmod(0)
    code, _, err = edgezoo("run", conv_dir, path, "-o", tmp_path / "out.png")
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("case", sorted(ODD))
def test_run_handles_an_odd_but_valid_picture(case, conv_dir, tmp_path, edgezoo):
    name, builder, size = ODD[case]
    path = make(tmp_path / "in", name, builder)
    run = edgezoo_process if isinstance(name, bytes) else edgezoo  # capsys cannot hold bytes that are not UTF-8
    code, out, err = run("run", conv_dir, tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, (out, err)
    assert "caf\udce9" in out if isinstance(name, bytes) else True  # the name printed as its own bytes
    written = [p for p in (tmp_path / "out").iterdir()]
    assert len(written) == 1 and written[0].is_file() and not written[0].is_symlink()
    assert written[0].stem == path.stem
    assert read_image(written[0]).shape[:2] == size
    assert not list((tmp_path / "out").glob(".*"))  # no temporaries left


def test_a_mixed_folder_still_writes_its_good_pictures(conv_dir, tmp_path, edgezoo):
    folder = tmp_path / "in"
    for case in ("png-bomb-100000x100000", "zero-byte-png", "png-cut-in-pixels", "text-named-png"):
        make(folder, *BAD[case])
    for case in ("mode-L", "mode-RGBA", "exif-rotated"):
        make(folder, *ODD[case][:2])
    (folder / "readme.txt").write_text("not a picture suffix: ignored")
    (folder / "sub").mkdir()
    code, out, err = edgezoo("run", conv_dir, folder, "-o", tmp_path / "out")
    assert code == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grey.png", "portrait.png", "rgba.png"]
    errors = [line for line in err.splitlines() if line.startswith("edgezoo: error:")]
    assert len(errors) == 4 and "Traceback" not in err
    assert "4 of 7 input(s) could not be read; the others were written" in err


def test_batch_reports_each_bad_file_and_makes_the_rest(conv_dir, tmp_path):
    folder = tmp_path / "in"
    bad = ("png-bomb-100000x100000", "jpeg-bomb-65000x65000", "zero-byte-jpg", "png-bad-crc", "gif-truncated",
           "dangling-symlink")
    for case in bad:
        make(folder / case, *BAD[case])
    for case in ("mode-1", "mode-CMYK-jpeg", "20000x20", "non-utf8-name", "very-long-name", "animated-gif"):
        make(folder / case, *ODD[case][:2])
    code, out, err = edgezoo_process("batch", conv_dir, folder, "-r", "-o", tmp_path / "out", "--workers", 2)
    assert code == 2, (out, err)
    failed = [line for line in out.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == len(bad) - 1, out  # a dangling link is no file: the folder listing leaves it out
    made = sorted(p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").rglob("*") if p.is_file()
                  and not p.name.startswith("."))
    assert made == sorted(("mode-1", "mode-CMYK-jpeg", "20000x20", "non-utf8-name", "very-long-name",
                           "animated-gif"))
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_batch_of_only_bad_files_writes_nothing(conv_dir, tmp_path, edgezoo):
    for case in ("zero-byte-png", "text-named-png", "png-cut-in-header"):
        make(tmp_path / "in", *BAD[case])
    code, out, _ = edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "out", "--workers", 1)
    assert code == 2 and "3 picture(s): 0 made, 0 skipped (already done), 3 failed" in out
    assert nothing_written(tmp_path / "out")


def test_read_image_gives_the_same_pixels_for_a_file_and_its_symlink(tmp_path):
    path = make(tmp_path, *ODD["symlink-to-picture"][:2])
    assert np.array_equal(read_image(path), read_image(os.path.realpath(path)))


def test_a_classifier_labels_the_good_pictures_of_a_mixed_folder(tmp_path, edgezoo):
    pytest.importorskip("onnxruntime")
    from reliability_helpers import classifier_export

    model = classifier_export(tmp_path / "linear-test")
    folder = tmp_path / "in"
    for case in ("zero-byte-png", "png-bomb-100000x100000"):
        make(folder, *BAD[case])
    for case in ("mode-L", "mode-CMYK-jpeg"):
        make(folder, *ODD[case][:2])
    code, out, err = edgezoo("run", model, folder)
    assert code == 2, (out, err)
    labelled = [line for line in out.splitlines() if line.startswith(str(folder))]
    assert len(labelled) == 2 and all("top-5" in line for line in labelled), out
    assert len([line for line in err.splitlines() if line.startswith("edgezoo: error:")]) == 2
    code, out, err = edgezoo("batch", model, folder, "-o", tmp_path / "answers", "--workers", 1)
    assert code == 2, (out, err)
    answers = sorted(p.name for p in (tmp_path / "answers").iterdir() if not p.name.startswith("."))
    assert answers == ["cmyk.json", "grey.json"]
    import json

    answer = json.loads((tmp_path / "answers" / "grey.json").read_text())
    assert answer["label"] in __import__("reliability_helpers").LABELS and len(answer["top"]) == 5
