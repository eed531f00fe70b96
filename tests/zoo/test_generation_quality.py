"""Sample-quality measures against closed forms on synthetic features: the Fréchet
distance of two Gaussians, k-NN precision and recall of matching and disjoint sets, the
nearest-picture distance of copies, and the classifier's input crop."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from edgezoo.zoo.generation_quality import (  # noqa: E402
    frechet_distance,
    nearest_distances,
    precision_recall,
    to_classifier_input,
)


def _covariance(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.2 * np.eye(dim)


def _closed_form(mu_a, cov_a, mu_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + Tr(A + B - 2 (A B)^(1/2)) with scipy's general matrix square root."""
    from scipy.linalg import sqrtm

    root = sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal(np.arange(6.0), _covariance(rng, 6), size=500)
    assert abs(frechet_distance(a, a)) < 1e-8 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, a + 0.5) == pytest.approx(6 * 0.25, rel=1e-6)  # a shift costs its square only


def test_frechet_distance_of_two_gaussians_matches_the_closed_form_and_is_symmetric():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(1)
    dim = 5
    mu_a, mu_b = rng.standard_normal(dim), rng.standard_normal(dim) + 1.0
    cov_a, cov_b = _covariance(rng, dim), 2.0 * _covariance(rng, dim)  # not commuting
    want = _closed_form(mu_a, cov_a, mu_b, cov_b)
    a = rng.multivariate_normal(mu_a, cov_a, size=200_000)
    b = rng.multivariate_normal(mu_b, cov_b, size=200_000)
    got = frechet_distance(a, b)
    assert got == pytest.approx(want, rel=0.02)
    assert frechet_distance(b, a) == pytest.approx(got, rel=1e-9, abs=1e-9)
    # on the fitted moments themselves the estimate is the closed form to rounding
    exact = _closed_form(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert got == pytest.approx(exact, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_the_sum_of_squared_std_gaps():
    rng = np.random.default_rng(2)
    std_a, std_b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    a = rng.standard_normal((300_000, 3)) * std_a
    b = rng.standard_normal((300_000, 3)) * std_b + [1.0, 0.0, 0.0]
    assert frechet_distance(a, b) == pytest.approx(1.0 + ((std_a - std_b) ** 2).sum(), rel=0.02)


def test_precision_and_recall_are_high_for_one_distribution_and_zero_for_far_fakes():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((1500, 4)), rng.standard_normal((1500, 4))
    precision, recall = precision_recall(real, fake, k=3)
    assert 0.85 <= precision <= 1.0 and 0.85 <= recall <= 1.0
    far = fake + 50.0
    assert precision_recall(real, far, k=3) == (0.0, 0.0)
    # mode collapse: fakes all from a small corner of the real set are precise but recall little
    corner = real[real[:, 0] > 1.5]
    collapsed = corner + rng.normal(0, 0.01, corner.shape)
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision > 0.9 and recall < 0.3


def test_nearest_distances_are_zero_for_copies_and_the_rms_gap_otherwise():
    rng = np.random.default_rng(4)
    references = rng.uniform(0, 1, (300, 1, 28, 28)).astype(np.float32)
    copies = references[[5, 17, 299]]
    assert np.allclose(nearest_distances(copies, references), 0.0, atol=2e-3)
    shifted = references[:4].copy()
    shifted[:, :, :14] += 0.1  # half the pixels 0.1 brighter: an RMS gap of sqrt(0.5 * 0.1^2)
    got = nearest_distances(shifted, references)
    assert got.shape == (4,) and got.dtype == np.float32
    assert np.allclose(got, np.sqrt(0.5 * 0.01), atol=2e-3)


def test_classifier_input_is_the_middle_28_in_zero_one():
    pictures = np.random.default_rng(5).uniform(0, 1, (3, 1, 32, 32))
    out = to_classifier_input(pictures)
    assert out.shape == (3, 1, 28, 28) and out.dtype == np.float32 and out.flags.c_contiguous
    assert np.array_equal(out, pictures[:, :, 2:30, 2:30].astype(np.float32))
    raw = np.arange(2 * 28 * 28).reshape(2, 28, 28).astype(np.uint8)
    out = to_classifier_input(raw)
    assert out.shape == (2, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert np.allclose(out[:, 0], raw / 255.0)
