"""The one serving path (pad to the model's multiple, tile a fixed-shape callee, crop
back): what the callee sees stays inside the model's contract, and the runtime, the
planner's call count and the evaluation all go through it."""

import numpy as np
import pytest

from edgezoo.runtimes.serving import serve, tile_layout
from edgezoo.runtimes.tiling import tile_count


def _image(height, width, seed=0):
    return np.random.default_rng(seed).random((1, 3, height, width), dtype=np.float32)


def _recording(multiple, tile=None):
    """An identity network that records the shapes it was given and fails outside its contract."""
    seen = []

    def fn(batch):
        seen.append(batch.shape[2:])
        assert batch.shape[2] % multiple == 0 and batch.shape[3] % multiple == 0, batch.shape
        if tile is not None:
            assert batch.shape[2:] == tile, batch.shape
        return batch.copy()

    return fn, seen


@pytest.mark.parametrize("size", [(288, 384), (100, 37), (64, 64), (65, 129)])
def test_a_dynamic_callee_gets_the_image_padded_to_its_multiple_and_cropped_back(size):
    image = _image(*size)
    fn, seen = _recording(64)
    out = serve(fn, image, multiple_of=64)
    assert seen == [(-(-size[0] // 64) * 64, -(-size[1] // 64) * 64)]
    np.testing.assert_array_equal(out, image)  # the pad is cut off exactly, nothing else moves


def test_padding_is_the_manifest_mode_on_the_bottom_and_right():
    image = _image(40, 40)
    got = []
    serve(lambda b: got.append(b) or b, image, multiple_of=64, pad_mode="reflect")
    np.testing.assert_array_equal(got[0], np.pad(image, ((0, 0), (0, 0), (0, 24), (0, 24)), mode="reflect"))


@pytest.mark.parametrize("size", [(288, 384), (300, 260), (256, 256), (100, 100)])
def test_a_fixed_shape_callee_gets_only_tiles_of_its_size(size):
    image = _image(*size)
    fn, seen = _recording(1, tile=(256, 256))
    out = serve(fn, image, multiple_of=64, tile=(256, 256))
    ph, pw, overlap, align = tile_layout(*size, 256, 256, 64)
    assert len(seen) == tile_count(ph, pw, 256, 256, overlap, align)
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_tiles_of_an_image_larger_than_a_tile_start_on_the_model_multiple():
    # 288 rows: padded to 320 so the second tile starts at 64, where the whole-image partitions fall
    starts = []
    image = np.zeros((1, 1, 288, 256), np.float32)
    image[0, 0] = np.arange(288, dtype=np.float32)[:, None]
    serve(lambda b: starts.append(int(b[0, 0, 0, 0])) or b, image, multiple_of=64, tile=(256, 256))
    assert starts == [0, 64]


def test_batches_are_served_one_image_at_a_time():
    fn, seen = _recording(32)
    out = serve(fn, np.random.default_rng(0).random((2, 3, 40, 50), dtype=np.float32), multiple_of=32)
    assert out.shape == (2, 3, 40, 50) and seen == [(64, 64), (64, 64)]


def test_the_session_serves_through_the_same_path(conv_dir, monkeypatch):
    from edgezoo import runtimes
    from edgezoo.runtimes import session as session_module

    calls = []
    real = session_module.serve
    monkeypatch.setattr(session_module, "serve", lambda *a, **k: calls.append(a[2:]) or real(*a, **k))
    session = runtimes.load(conv_dir, backend="onnxruntime", artifact="onnx-fp32-static")
    session(np.zeros((100, 70, 3), np.float32))
    assert calls and calls[0][:2] == (8, (64, 64))  # (multiple_of, tile) of the static 64x64 artifact
