"""The predict-and-refine loop: seeded, batch-independent, the predictor alone at zero
steps, and torch-free (the runtime runs it around exported components)."""

import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.runtimes.refine import refine  # noqa: E402
from edgezoo.runtimes.samplers import scheduler_from_dict  # noqa: E402
from edgezoo.zoo import get_entry  # noqa: E402
from edgezoo.zoo.train_conditional import diversity, torch_components  # noqa: E402


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    entry = get_entry("dvsr-tiny-deblur")
    model = entry.build().eval()
    return model, entry.spec().program.sampler


def test_a_seed_fixes_the_samples_and_rows_do_not_depend_on_the_batch(parts):
    model, sampler = parts
    predict, denoise = torch_components(model)
    degraded = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    scheduler = scheduler_from_dict(sampler, 3)
    prediction, one_by_one = refine(predict, denoise, scheduler, degraded, 2.0, count=3, seed=7, batch=1)
    _, batched = refine(predict, denoise, scheduler, degraded, 2.0, count=3, seed=7, batch=3)
    _, again = refine(predict, denoise, scheduler, degraded, 2.0, count=3, seed=7, batch=3)
    _, other = refine(predict, denoise, scheduler, degraded, 2.0, count=3, seed=8, batch=3)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)
    np.testing.assert_array_equal(batched, again)
    assert not np.allclose(batched, other)
    assert prediction.shape == (1, 3, 16, 16) and batched.shape == (3, 3, 16, 16)
    assert batched.min() >= 0.0 and batched.max() <= 1.0
    stats = diversity(batched)
    assert stats["pixel_std"] > 0 and np.isfinite(stats["pairwise_psnr_db"])


def test_without_a_scheduler_the_answer_is_the_prediction(parts):
    model, _ = parts
    predict, denoise = torch_components(model)
    degraded = np.random.default_rng(1).random((1, 3, 16, 16), dtype=np.float32)
    prediction, restored = refine(predict, denoise, None, degraded, 2.0)
    np.testing.assert_array_equal(prediction, restored)
    with torch.no_grad():
        direct = model.predictor(torch.from_numpy(degraded)).clamp(0, 1).numpy()
    np.testing.assert_allclose(prediction, direct, atol=1e-6)


def test_identical_samples_have_no_diversity():
    same = np.repeat(np.random.default_rng(2).random((1, 3, 8, 8)), 3, axis=0)
    stats = diversity(same)
    assert stats["pixel_std"] == 0.0 and stats["pairwise_psnr_db"] == float("inf")


def test_the_refine_loop_and_the_protocol_import_no_torch(python):
    code = ("import sys\nimport edgezoo.runtimes.refine, edgezoo.tasks.conditional\n"
            "print('torch' in sys.modules, 'edgezoo.zoo' in sys.modules)")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
