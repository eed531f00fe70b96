"""Training, selection and evaluation images are disjoint, by the content of their
decoded pixels. The training pool is checked where it is present: the folders in
``EDGEZOO_PHOTOS`` (``os.pathsep``-separated; ``scripts/fetch_photos.sh DIR`` puts it in
``DIR/photos``); without it the bundled splits are still checked against each other."""

import os

import numpy as np
import pytest

from edgezoo.zoo.data import content_hash, evaluation_images, load_photo_pool, selection_images, shared_images


def _bundled_splits():
    return {"selection": selection_images(), "evaluation": evaluation_images(),
            # the photos as first decoded, before the centre crop, so a crop elsewhere of the same file is caught too
            "evaluation (uncropped)": evaluation_images(max_side=10**6, multiple_of=1)}


def test_the_selection_split_shares_no_picture_with_the_evaluation_photos():
    splits = _bundled_splits()
    assert len(splits["selection"]) == 16 and len(splits["evaluation"]) == 9
    pairs = [s for s in shared_images(splits) if {s[0], s[2]} != {"evaluation", "evaluation (uncropped)"}]
    assert pairs == []


def test_the_int8_calibration_draws_only_on_the_selection_split():
    from edgezoo.export.quantize.calibration import calibration_photos

    assert [content_hash(p) for p in calibration_photos()] == [content_hash(p) for p in selection_images().values()]


def test_the_overlap_check_finds_a_picture_in_two_splits():
    evaluation = evaluation_images()
    leaked = {**selection_images(), "copied": (evaluation["chelsea"] * 255).round().astype(np.uint8)}
    assert shared_images({"selection": leaked, "evaluation": evaluation}) == [
        ("selection", "copied", "evaluation", "chelsea")]


def _pool_folders():
    folders = [f for f in os.environ.get("EDGEZOO_PHOTOS", "").split(os.pathsep) if f]
    if not folders:
        pytest.skip("no training pool here: set EDGEZOO_PHOTOS to the folder(s) of scripts/fetch_photos.sh")
    return folders


def test_the_training_pool_shares_no_picture_with_selection_or_evaluation():
    from edgezoo.zoo.train import TrainConfig

    pool = load_photo_pool(_pool_folders(), shrink=1, min_side=0)  # the files' own pixels
    holdout = TrainConfig(model="-", images=[]).holdout_photos
    splits = {"training": {f"pool {i}": p for i, p in enumerate(pool[:-holdout])},
              "checkpoint choice": {f"pool {i}": p for i, p in enumerate(pool[-holdout:], len(pool) - holdout)},
              **_bundled_splits()}
    pairs = [s for s in shared_images(splits) if {s[0], s[2]} != {"evaluation", "evaluation (uncropped)"}]
    assert pairs == []
