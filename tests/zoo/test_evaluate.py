"""Evaluation scores a model the way the runtime serves it, and its cached baselines
are recomputed when the baseline package or the pixels change."""

import numpy as np
import torch

from edgezoo.zoo import evaluate


class _ContractModel(torch.nn.Module):
    """Identity that fails, as MAXIM's partitions silently would not, on sides outside its multiple."""

    class cfg:
        multiple_of = 64

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape[2:]))
        assert x.shape[2] % 64 == 0 and x.shape[3] % 64 == 0, x.shape
        return x * 1.0


def test_a_photo_outside_the_multiple_is_padded_like_the_runtime_pads_it_and_cropped_back():
    model = _ContractModel()
    photo = np.random.default_rng(0).random((288, 384, 3), dtype=np.float32)  # chelsea's crop
    out = evaluate.torch_restorer(model)(photo)
    assert model.shapes == [(320, 384)]
    np.testing.assert_array_equal(out, photo)


def _counting_restorer(calls):
    def restore(image):
        calls.append(1)
        return image * 0.5

    return restore


def test_the_baseline_cache_is_keyed_by_package_version_and_pixels(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path))
    ramp = np.broadcast_to(np.linspace(0, 1, 32, dtype=np.float32)[:, None, None], (32, 32, 3))
    images = {"a": np.full((32, 32, 3), 0.5, np.float32), "b": np.ascontiguousarray(ramp)}
    calls = []
    first = evaluate.score_baseline("cbm3d", _counting_restorer(calls), images, 25, 0)
    evaluate.score_baseline("cbm3d", _counting_restorer(calls), images, 25, 0)
    assert len(calls) == 2  # the second call was served from the cache
    monkeypatch.setattr(evaluate, "baseline_version", lambda name: "0.0.0-other")
    evaluate.score_baseline("cbm3d", _counting_restorer(calls), images, 25, 0)
    assert len(calls) == 4  # another bm3d version: recomputed
    images["b"] = np.ascontiguousarray(ramp[::-1])  # same shape, same pixel sum: still another picture
    evaluate.score_baseline("cbm3d", _counting_restorer(calls), images, 25, 0)
    assert len(calls) == 6
    assert set(first) == {"a", "b"}


def test_one_photo_alone_gets_the_noise_it_gets_in_the_full_set():
    images = {"a": np.full((32, 32, 3), 0.5, np.float32), "b": np.full((32, 32, 3), 0.25, np.float32)}
    whole = evaluate.evaluate_denoiser(lambda x: x, sigmas=(25,), baselines=False, images=images)[0]
    alone = evaluate.evaluate_denoiser(lambda x: x, sigmas=(25,), baselines=False, images=images, names={"b"})[0]
    assert alone.per_image == {"b": whole.per_image["b"]}


def _photos():
    yy, xx = np.mgrid[0:48, 0:64] / 64.0
    base = np.stack([np.sin(9 * xx), np.cos(7 * yy), xx * yy], -1) * 0.4 + 0.5
    return {"a": base.astype(np.float32), "b": np.ascontiguousarray(base[::-1, ::-1]).astype(np.float32)}


def test_evaluate_restorer_scores_the_model_beside_the_degraded_input_and_the_tasks_baselines():
    images = _photos()
    result = evaluate.evaluate_restorer("deblur", lambda x: x, images=images, seed=2)
    assert set(result.baselines) == {"degraded", "wiener", "richardson_lucy"}
    assert set(result.per_image) == set(images) and result.seed == 2 and result.degradation.startswith("blur ")
    assert result.per_image == result.baselines_per_image["degraded"]  # the identity scores what it was given
    again = evaluate.evaluate_restorer("deblur", lambda x: x, images=images, seed=2, names={"b"})
    assert again.per_image == {"b": result.per_image["b"]}  # one photo alone is degraded as in the full set


def test_evaluate_restorer_for_denoising_is_evaluate_denoiser_at_sigma_25():
    images = _photos()
    restorer = lambda x: x * 0.9 + 0.05  # noqa: E731
    via_task = evaluate.evaluate_restorer("denoise", restorer, images=images, seed=1, baselines=False)
    direct = evaluate.evaluate_denoiser(restorer, sigmas=(25,), seed=1, baselines=False, images=images)[0]
    assert via_task == direct and set(via_task.baselines) == {"noisy"}
