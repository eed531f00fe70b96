"""Sessions: input forms, tiling without seams, batches, threads, bad inputs, fallbacks."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgezoo import runtimes
from edgezoo.errors import BadInputError, BudgetUnreachableError
from edgezoo.imageio import read_image
from edgezoo.metrics import psnr
from edgezoo.runtimes.store import open_export_dir

PHOTO = Path(__file__).resolve().parents[2] / "edgezoo" / "assets" / "sample_noisy.png"


@pytest.fixture(scope="module")
def photo():
    assert PHOTO.is_file(), "the sample photo ships in edgezoo/assets"
    return read_image(PHOTO)  # 320x448 real photo


def test_tiled_fixed_shape_output_matches_the_whole_image_run(conv_dir, photo):
    tiled = runtimes.load(conv_dir, artifact="onnx-fp32-static")
    whole = runtimes.load(conv_dir, artifact="onnx-fp32-dynamic")
    assert tiled.static and not whole.static
    assert psnr(whole(photo), tiled(photo)) >= 45.0
    for size in ((64, 64), (64, 200), (200, 96), (136, 128)):  # >= the tile, multiples of the net's 8
        x = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
        assert psnr(whole(x), tiled(x)) >= 45.0, size


def test_maxim_tiles_are_seam_free_on_a_real_photo(tmp_path_factory, photo):
    """MAXIM mixes globally (its grid branch spans the whole input), so a tile's output
    depends on how much of the photo it sees, seams or not: at the 256 px export size
    tiles must be within 45 dB of the whole-image run (64 px tiles give 43.5 dB, yet
    score 0.3 dB closer to the clean photo: the weights were trained on 64 px patches)."""
    from artifacts import have

    weights = list((PHOTO.parents[1] / "weights").glob("maxim-tiny-denoise*.safetensors"))
    assert weights, "maxim-tiny-denoise's weights ship in edgezoo/weights"
    if not have("torch"):
        pytest.skip("needs torch to export the shipped weights")
    from artifacts import build_export

    export = build_export(tmp_path_factory.mktemp("trained") / "maxim-tiny-denoise", size=256, pretrained=True,
                          formats=("onnx",))
    manifest = open_export_dir(export).manifest
    dynamic = next((a.key for a in manifest.artifacts if not a.static_shape and a.format == "onnx"), None)
    static = next((a.key for a in manifest.artifacts if a.static_shape), None)
    assert dynamic and static, "an ONNX export of a tiled model has a dynamic and a static artifact"
    whole = runtimes.load(export, artifact=dynamic)(photo)
    tiled = runtimes.load(export, artifact=static)(photo)
    assert psnr(whole, tiled) >= 45.0


def test_every_input_form_gives_the_same_picture(conv_dir):
    session = runtimes.load(conv_dir, artifact="onnx-fp32-dynamic")
    rng = np.random.default_rng(3)
    u8 = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    f32 = u8.astype(np.float32) / 255
    hwc = session(f32)
    assert hwc.shape == (40, 48, 3) and hwc.dtype == np.float32
    assert session(u8).dtype == np.uint8 and np.abs(session(u8).astype(int) - np.rint(np.clip(hwc, 0, 1) * 255)).max() <= 1
    np.testing.assert_allclose(session(f32.transpose(2, 0, 1)), hwc.transpose(2, 0, 1), atol=1e-6)
    np.testing.assert_allclose(session(f32.astype(np.float64)), hwc, atol=1e-6)
    batch = np.stack([f32, f32[::-1]])
    nhwc = session(batch)
    assert nhwc.shape == (2, 40, 48, 3)
    np.testing.assert_allclose(nhwc[0], hwc, atol=1e-6)
    np.testing.assert_allclose(session(batch.transpose(0, 3, 1, 2)), nhwc.transpose(0, 3, 1, 2), atol=1e-6)


def test_dynamic_artifacts_take_sizes_that_are_not_a_multiple(tiny_export):
    session = runtimes.load(tiny_export, artifact="onnx", prefer=["cpu"])
    out = session(np.random.default_rng(4).random((50, 70, 3), dtype=np.float32))
    assert out.shape == (50, 70, 3) and np.isfinite(out).all()


@pytest.mark.parametrize("bad, words", [
    ([[0.5, 0.5]], "numpy array"),
    (np.zeros((32, 32, 5), np.float32), "3 channels for RGB"),
    (np.zeros((2, 5, 32, 32), np.float32), "3 channels for RGB"),
    (np.zeros((32, 32, 3), np.int32), "dtype int32"),
    (np.full((32, 32, 3), np.nan, np.float32), "NaN"),
    (np.zeros((0, 32, 3), np.float32), "empty"),
    ("photo.png", "numpy array"),
])
def test_bad_inputs_raise_one_line_bad_input_errors(conv_dir, bad, words):
    session = runtimes.load(conv_dir, artifact="onnx-fp32-dynamic")
    with pytest.raises(BadInputError) as info:
        session(bad)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_eight_threads_share_a_session_and_get_the_same_outputs(tiny_export):
    from edgezoo.runtimes.backends import get_backend

    installed = [b for b in ("onnxruntime", "openvino", "litert") if get_backend(b).available()]
    assert installed
    for backend in installed:  # a load failure of an installed backend fails the test
        session = runtimes.load(tiny_export, backend=backend, prefer=["cpu"])
        assert not any(r.startswith("fell back") for r in session.plan.reasons), session.plan.reasons
        images = [np.random.default_rng(i).random((64, 64, 3), dtype=np.float32) for i in range(8)]
        alone = [session(im) for im in images]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(session, images * 3))
        for i, out in enumerate(together):
            np.testing.assert_array_equal(out, alone[i % 8], err_msg=backend)


def test_bench_writes_this_profile_into_the_manifest_and_the_planner_uses_it(conv_dir, tmp_path):
    import shutil

    export = tmp_path / "conv"
    shutil.copytree(conv_dir, export)
    rows = runtimes.bench_export(open_export_dir(export), backend="onnxruntime", runs=3, warmup=1)
    assert all(r.error is None and 0 < r.p50_ms <= r.p90_ms for r in rows)
    manifest = open_export_dir(export).manifest
    profile = runtimes.device_profile().id
    assert all(any(e.device_profile == profile for e in a.latency) for a in manifest.artifacts)
    p = runtimes.plan([open_export_dir(export)], budget_ms=10_000, backend="onnxruntime", image_size=(64, 64))
    assert not p.chosen.estimated and "measured on this device profile" in p.chosen.basis
    with pytest.raises(BudgetUnreachableError, match="the fastest option is conv-test"):
        runtimes.plan([open_export_dir(export)], budget_ms=1e-6, backend="onnxruntime")


def test_an_artifact_that_fails_to_load_falls_back_and_says_so(conv_dir, tmp_path):
    import shutil

    export = tmp_path / "conv"
    shutil.copytree(conv_dir, export)
    (export / "static.onnx").write_bytes(b"not an onnx file")  # sha256 no longer matches
    session = runtimes.load(export, backend="onnxruntime")
    assert session.option.artifact.key == "onnx-fp32-dynamic"
    assert any(r.startswith("fell back: conv-test onnx-fp32-static") and "sha256" in r for r in session.plan.reasons)
    assert any("failed to load here" in r.reason for r in session.plan.rejected)
