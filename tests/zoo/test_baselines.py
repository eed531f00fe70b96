"""Each task's classical baseline restores: it beats the degraded input's PSNR on a
bundled photo, across seeds (parameters drawn from the task's ranges)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgezoo.metrics import psnr
from edgezoo.zoo.baselines import BASELINES, clahe
from edgezoo.zoo.degradations import degrade

PHOTO = Path(__file__).resolve().parents[2] / "edgezoo" / "assets" / "sample_clean.png"


@pytest.fixture(scope="module")
def photo():
    with Image.open(PHOTO) as img:
        return np.asarray(img.convert("RGB"), np.float32)[:192, :256] / 255.0


@pytest.mark.parametrize("task,name", [(t, n) for t, group in sorted(BASELINES.items()) for n in group])
def test_each_baseline_beats_the_degraded_input(task, name, photo):
    # across_streak_median (derain) is a weak baseline: it beats the input on these
    # synthetic streaks, which only lighten and are thin, not on real rain
    for seed in range(3):
        degraded, info = degrade(task, photo, seed)
        restored = BASELINES[task][name](degraded, info)
        assert restored.shape == photo.shape and restored.min() >= 0 and restored.max() <= 1
        assert psnr(photo, restored) > psnr(photo, degraded) + 0.5, (seed, psnr(photo, restored), psnr(photo, degraded))


def test_clahe_spreads_a_narrow_histogram_and_keeps_the_order_of_levels():
    ramp = np.tile(np.linspace(0.3, 0.4, 64), (64, 1))
    out = clahe(ramp, tiles=4, clip=4.0)
    assert out.max() - out.min() > 1.5 * (ramp.max() - ramp.min())  # widened, but limited by the clip
    one_tile = clahe(ramp, tiles=1, clip=4.0)  # one mapping: a brighter input is never made darker
    assert np.all(np.diff(one_tile, axis=1) >= -1e-9) and one_tile.max() - one_tile.min() > 0.15
