"""``edgezoo train`` reaches the conditional family's recipes, and says what to do when
a student's teacher has not been trained."""

import subprocess
import sys

import pytest


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_a_student_without_its_trained_teacher_is_refused_with_the_command_that_trains_it(photo_folder, tmp_path):
    early = _cli("train", "codi-tiny-sr4", "--images", str(photo_folder), "--out", str(tmp_path), "--steps", "1")
    assert early.returncode == 2 and "train it first with `edgezoo train dvsr-tiny-sr4" in early.stderr
    assert "Traceback" not in early.stderr


@pytest.mark.slow
def test_train_runs_the_predictor_then_the_teacher_then_the_student(photo_folder, tmp_path):
    out = tmp_path / "runs"
    done = _cli("train", "dvsr-tiny-sr4", "--images", str(photo_folder), "--out", str(out), "--steps", "2",
                "--batch", "2", "--patch", "32", "--holdout-photos", "1", "--checkpoint-every", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "dvsr-tiny-sr4 predictor: 2 steps" in done.stdout and "dvsr-tiny-sr4 teacher: 2 steps" in done.stdout
    assert (out / "dvsr-tiny-sr4" / "model.safetensors").is_file()
    student = _cli("train", "codi-tiny-sr4", "--images", str(photo_folder), "--out", str(out), "--steps", "1",
                   "--batch", "2", "--patch", "32", "--holdout-photos", "1", "--threads", "1")
    assert student.returncode == 0, student.stderr
    assert "codi-tiny-sr4 student: 1 steps, trainable" in student.stdout


def test_a_patch_that_does_not_fit_the_scale_is_refused(photo_folder, tmp_path):
    bad = _cli("train", "dvsr-tiny-sr4", "--images", str(photo_folder), "--out", str(tmp_path), "--patch", "30")
    assert bad.returncode == 2 and "--patch must be a multiple of 4" in bad.stderr


def test_eval_check_recomputes_the_shipped_refiner():
    done = _cli("eval", "dvsr-tiny-deblur", "--check", "--photos", "coffee")
    assert done.returncode == 0, done.stderr
    assert "figures checked match the manifest" in done.stdout and "the predictor alone" in done.stdout


def test_eval_scores_a_x4_refiner_against_bicubic_on_the_super_resolve_task(tmp_path):
    """x4 has its evaluation protocol: every photo down-sampled x4, the model's 4x output
    scored against the photo beside bicubic up-sampling (the small input is not scored)."""
    import json

    from edgezoo.zoo import create_model
    from edgezoo.zoo.weights import save_weights

    weights = tmp_path / "untrained.safetensors"
    save_weights(create_model("dvsr-tiny-sr4", pretrained=False), weights)
    done = _cli("eval", "dvsr-tiny-sr4", "--weights", str(weights), "--steps", "1", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [r["metrics"]["steps"] for r in rows] == [0.0, 1.0]
    predictor = rows[0]
    assert set(predictor["baselines"]) == {"bicubic"} and predictor["degradation"].startswith("downsample")
    assert len(predictor["per_image"]) == 9
    # an untrained predictor's correction is small next to its bicubic-upsampled input, so it stays near bicubic
    assert abs(predictor["mean"]["psnr_db"] - predictor["baselines"]["bicubic"]["psnr_db"]) < 3.0
    # every conditional model ships weights now; a variant without them says, in one line, what trains them
    unshipped = _cli("eval", "maxim-small-deblur")
    assert unshipped.returncode == 1 and "edgezoo train maxim-small-deblur --images DIR" in unshipped.stderr
    assert "Traceback" not in unshipped.stderr
