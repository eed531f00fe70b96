"""The family's recipes: every phase runs, a resumed phase ends exactly where an
unbroken one does, pairs are a function of (seed, step), and a student trains only its
adapters, which start at zero."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.zoo.data import load_photo_pool  # noqa: E402
from edgezoo.zoo.train_conditional import (  # noqa: E402
    ConditionalRecipe, PatchPairs, load_model, phase_dir, train_phase, weights_path)
from edgezoo.zoo.weights import load_weights  # noqa: E402


def _recipe(phase, steps, **kw):
    return ConditionalRecipe(phase=phase, steps=steps, batch=2, patch=32, checkpoint_every=2, holdout_photos=1,
                             teacher_steps=5, **kw)


def test_pairs_depend_on_seed_and_step_only(photo_folder):
    photos = load_photo_pool([photo_folder])
    a = PatchPairs(photos, "sr4", 32, 4, seed=3)
    b = PatchPairs(photos, "sr4", 32, 4, seed=3)
    clean, small = a.batch(5, 2)
    assert clean.shape == (2, 3, 32, 32) and small.shape == (2, 3, 8, 8)
    b.batch(0, 2)  # another step drawn first changes nothing
    again = b.batch(5, 2)
    np.testing.assert_array_equal(clean, again[0])
    np.testing.assert_array_equal(small, again[1])
    assert not np.array_equal(clean, a.batch(6, 2)[0])


def test_a_resumed_teacher_ends_with_the_same_weights_as_an_unbroken_one(photo_folder, tmp_path):
    def train_teacher(run, stops):
        train_phase("dvsr-tiny-deblur-guided", [photo_folder], run, _recipe("predictor", 2), log=lambda _: None)
        for steps in stops:
            train_phase("dvsr-tiny-deblur-guided", [photo_folder], run, _recipe("teacher", steps), log=lambda _: None)
        return {k: v.clone() for k, v in load_model("dvsr-tiny-deblur-guided", run).state_dict().items()}

    torch.manual_seed(123)  # the recipe seeds torch itself: this must not matter
    whole = train_teacher(tmp_path / "whole", [4])
    torch.manual_seed(456)
    parts = train_teacher(tmp_path / "parts", [2, 4])
    assert whole.keys() == parts.keys()
    for key in whole:
        torch.testing.assert_close(whole[key], parts[key], rtol=0, atol=0, msg=key)
    log = [json.loads(line) for line in (phase_dir(tmp_path / "parts", "dvsr-tiny-deblur-guided", "teacher")
                                         / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]


def test_a_student_distils_from_its_teacher_training_only_adapters(photo_folder, tmp_path):
    run = tmp_path / "runs"
    for phase in ("predictor", "teacher"):
        train_phase("dvsr-tiny-sr4", [photo_folder], run, _recipe(phase, 2), log=lambda _: None)
    record = train_phase("codi-tiny-sr4", [photo_folder], run, _recipe("student", 2), log=lambda _: None)
    assert record["steps_done"] == 2 and 0 < record["trainable_fraction"] < 0.05
    teacher = load_model("dvsr-tiny-sr4", run).state_dict()
    student = load_model("codi-tiny-sr4", run)
    for key, value in student.state_dict().items():
        if ".adapter." not in key:  # every frozen tensor is the teacher's, bit for bit
            source = key.replace(".block.", ".") if key not in teacher else key
            torch.testing.assert_close(value, teacher[source], rtol=0, atol=0, msg=key)
    ups = [v for k, v in student.state_dict().items() if k.endswith("adapter.up.weight")]
    assert ups and any(float(u.abs().max()) > 0 for u in ups)  # the adapters moved off zero
    # what a release ships beside the weights: the recipe read from the phases' records, and their logs
    from edgezoo.zoo.release_conditional import run_recipe

    for name, phases in (("dvsr-tiny-sr4", ("predictor", "teacher")), ("codi-tiny-sr4", ("student",))):
        recipe, log = run_recipe(name, run)
        assert recipe.startswith(f"scripts/device_conditional.py --models {name} ") and "2 steps" in recipe
        assert [json.loads(line)["phase"] for line in log.splitlines()] == list(phases)  # a checkpoint each
    assert "from the teacher dvsr-tiny-sr4" in run_recipe("codi-tiny-sr4", run)[0]


def test_phases_are_refused_for_the_wrong_kind_of_model(photo_folder, tmp_path):
    with pytest.raises(ValueError, match="trains the phases student"):
        train_phase("codi-tiny-deblur", [photo_folder], tmp_path, _recipe("teacher", 1))
    with pytest.raises(ValueError, match="phase is one of"):
        train_phase("dvsr-tiny-deblur", [photo_folder], tmp_path, _recipe("refine", 1))


def test_the_whole_model_weights_load_into_a_fresh_model(photo_folder, tmp_path):
    train_phase("dvsr-tiny-sr4", [photo_folder], tmp_path, _recipe("predictor", 2), log=lambda _: None)
    model = load_model("dvsr-tiny-sr4")
    load_weights(model, weights_path(tmp_path, "dvsr-tiny-sr4"))


def test_patches_cut_ahead_by_worker_processes_are_the_ones_cut_inline(photo_folder):
    from edgezoo.zoo.train_conditional import PrefetchedPairs

    photos = load_photo_pool([photo_folder])
    inline = PatchPairs(photos, "blur-motion", 32, 1, seed=9)
    ahead = PrefetchedPairs(PatchPairs(photos, "blur-motion", 32, 1, seed=9), batch=2, stop=6, workers=2)
    try:
        for step in (3, 4, 5):  # a resumed run starts in the middle
            for got, want in zip(ahead.batch(step, 2), inline.batch(step, 2)):
                np.testing.assert_array_equal(got, want)
    finally:
        ahead.close()
