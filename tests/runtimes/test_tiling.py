"""Tile placement and blending: every pixel covered, weights summing to one, starts aligned."""

import numpy as np
import pytest

from edgezoo.runtimes.tiling import run_tiled, tile_count, tile_starts


@pytest.mark.parametrize("length, tile, overlap, align", [(256, 64, 32, 32), (300, 64, 16, 8), (64, 64, 16, 32),
                                                          (1000, 256, 64, 32), (97, 40, 10, 1)])
def test_tiles_cover_the_image_with_the_overlap_asked_for(length, tile, overlap, align):
    starts = tile_starts(length, tile, overlap, align)
    assert starts[0] == 0 and starts[-1] + tile == max(length, tile)
    assert all(s % align == 0 for s in starts[:-1])
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("size", [(64, 64), (100, 37), (256, 300), (20, 20), (65, 129)])
def test_an_identity_network_comes_back_exactly(size):
    image = np.random.default_rng(0).random((1, 3, *size), dtype=np.float32)
    out = run_tiled(lambda t: t.copy(), image, 64, 64, overlap=16, align=8)
    np.testing.assert_allclose(out, image, rtol=0, atol=1e-6)


def test_tile_count_matches_what_run_tiled_calls():
    calls = []
    run_tiled(lambda t: calls.append(1) or t, np.zeros((1, 3, 320, 448), np.float32), 256, 256, 64, 32)
    assert len(calls) == tile_count(320, 448, 256, 256, 64, 32) == 4
