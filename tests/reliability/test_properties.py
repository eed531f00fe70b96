"""Property-based tests (hypothesis) of the tiling geometry and the planner."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from synthetic import PROFILE, artifact, latency, manifest

from edgezoo.errors import BudgetUnreachableError
from edgezoo.runtimes import Inventory, plan, target
from edgezoo.runtimes.planner import QUALITY_TOLERANCE_DB
from edgezoo.runtimes.tiling import _axis_weights, default_overlap, run_tiled, tile_count, tile_starts

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def geometry(draw):
    """(length, tile, overlap, align) as the runtime makes them: overlaps up to the default
    (a quarter of the tile, rounded up to the alignment)."""
    align = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    tile = align * draw(st.integers(1, 8))
    overlap = draw(st.integers(0, default_overlap(tile, align)))
    length = draw(st.integers(tile, 12 * tile))
    return length, tile, overlap, align


@SETTINGS
@given(geometry())
def test_tiles_cover_every_pixel_end_flush_and_share_the_overlap(g):
    length, tile, overlap, align = g
    starts = tile_starts(length, tile, overlap, align)
    assert starts == sorted(set(starts)) and starts[0] == 0 and starts[-1] == length - tile
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered.all()
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # neighbours share >= overlap
    if tile - overlap >= align:
        assert all(s % align == 0 for s in starts[:-1])


@SETTINGS
@given(geometry())
@example((53, 32, 12, 16))  # three tiles share pixels 21-31 (starts 0, 16, 21): found by this test in CI
def test_blend_weights_sum_to_one_everywhere(g):
    length, tile, overlap, align = g
    starts = tile_starts(length, tile, overlap, align)
    total = np.zeros(length)
    for s, w in zip(starts, _axis_weights(starts, tile)):
        assert w.shape == (tile,) and (w >= 0).all() and (w <= 1).all()
        total[s:s + tile] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@SETTINGS
@given(st.integers(1, 150), st.integers(1, 150), st.sampled_from([8, 16, 32]), st.integers(1, 4), st.integers(1, 4),
       st.integers(0, 2**31 - 1))
def test_tiling_crops_back_to_the_image_and_a_pointwise_model_is_exact(height, width, align, th, tw, seed):
    tile_h, tile_w = align * th, align * tw
    overlap = default_overlap(min(tile_h, tile_w), align)
    image = np.random.default_rng(seed).random((1, 3, height, width)).astype(np.float32)
    calls = []

    def model(x):
        assert x.shape == (1, 3, tile_h, tile_w)
        calls.append(1)
        return x * 2.0 - 0.5

    out = run_tiled(model, image, tile_h, tile_w, overlap, align)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, image * 2.0 - 0.5, atol=1e-5)
    assert len(calls) == tile_count(height, width, tile_h, tile_w, overlap, align)


# ---- the planner on random zoos ---------------------------------------------------------

CPU = Inventory([target("onnxruntime", "cpu", "cpu"), target("openvino", "cpu", "CPU"), target("litert", "cpu")])
BACKEND_DEVICE = {"onnx": ("onnxruntime", "cpu"), "openvino": ("openvino", "CPU"), "tflite": ("litert", "cpu")}


@st.composite
def zoo(draw):
    """1-4 variants of one task, each with a quality and 1-3 artifacts measured here."""
    count = draw(st.integers(1, 4))
    manifests = []
    for i in range(count):
        formats = draw(st.lists(st.sampled_from(sorted(BACKEND_DEVICE)), min_size=1, max_size=3, unique=True))
        arts = []
        for fmt in formats:
            backend, device = BACKEND_DEVICE[fmt]
            p90 = draw(st.floats(1.0, 1000.0, allow_nan=False).map(lambda v: round(v, 2)))
            arts.append(artifact(fmt, latency=[latency(backend, device, 256, p90)]))
        psnr = draw(st.floats(20.0, 36.0).map(lambda v: round(v, 2)))
        manifests.append(manifest(f"variant-{i}", psnr, arts))
    return manifests


def run_plan(manifests, budget):
    return plan(manifests, budget, inventory=CPU, profile=PROFILE, fallback_gflops=lambda: 100.0, max_memory_mb=None)


def measured(manifests):
    """(p90, psnr) of every runnable option: each artifact on its native backend."""
    return [(a.latency[0].p90_ms, m.quality[0].mean.psnr_db) for m in manifests for a in m.artifacts]


@SETTINGS
@given(zoo(), st.floats(0.5, 1200.0))
def test_the_choice_fits_the_budget_whenever_any_option_does(manifests, budget):
    options = measured(manifests)
    fitting = [q for p90, q in options if p90 <= budget]
    if not fitting:
        with pytest.raises(BudgetUnreachableError):
            run_plan(manifests, budget)
        return
    chosen = run_plan(manifests, budget).chosen
    assert chosen.p90_ms is not None and chosen.p90_ms <= budget
    # the best quality that fits, up to the planner's tie (qualities closer than the tolerance are equal)
    assert chosen.quality >= max(fitting) - QUALITY_TOLERANCE_DB - 1e-9


@SETTINGS
@given(zoo(), st.floats(0.5, 1200.0), st.floats(0.0, 1200.0))
def test_more_budget_never_buys_a_worse_model(manifests, budget, more):
    options = measured(manifests)
    assume(any(p90 <= budget for p90, _ in options))
    low, high = run_plan(manifests, budget).chosen, run_plan(manifests, budget + more).chosen
    assert high.quality >= low.quality - QUALITY_TOLERANCE_DB - 1e-9  # equal within the planner's tie tolerance


@SETTINGS
@given(zoo())
def test_no_budget_gives_the_fastest_option(manifests):
    chosen = run_plan(manifests, None).chosen
    assert chosen.p90_ms == pytest.approx(min(p90 for p90, _ in measured(manifests)))
