"""Sample quality of a Fashion-MNIST generator, offline: a Fréchet distance in the
feature space of the zoo's own Fashion-MNIST classifier (``fd_fmnist``, named for what
it is: not FID, whose Inception network is not available offline), precision and
recall of k-nearest-neighbour manifolds in that space (Kynkäänniemi et al. 2019), and a
nearest-training-image check that the samples are not copies.

Every figure comes with its floor or reference: the FD between the training split and
the test images (what a perfect generator of the training distribution would score at
these sample counts), and the distances from test images to their nearest training
image (what "not a copy" looks like)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

FEATURE_MODEL = "maxvit-tiny-fmnist"
CROP = 28  # the samples are 32x32 (Fashion-MNIST's 28 padded by 2): the classifier sees the middle 28


def to_classifier_input(images: np.ndarray) -> np.ndarray:
    """Pictures in [0, 1], (N, 1, H, W) with H, W >= 28, or uint8 (N, 28, 28) -> float32
    (N, 1, 28, 28) in [0, 1], the middle crop."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    if images.ndim == 3:
        images = images[:, None]
    height, width = images.shape[-2:]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    return np.ascontiguousarray(images[:, :, top:top + CROP, left:left + CROP], dtype=np.float32)


def feature_model(device: str = "cpu") -> torch.nn.Module:
    """The zoo's shipped Fashion-MNIST classifier, in eval mode, on ``device``."""
    from edgezoo.zoo.registry import create_model

    return create_model(FEATURE_MODEL, pretrained=True).eval().to(device)


@torch.inference_mode()
def features(images: np.ndarray, model: torch.nn.Module, batch: int = 1000) -> np.ndarray:
    """The classifier's pooled features (N, C) of ``images`` (see :func:`to_classifier_input`)."""
    x = to_classifier_input(images)
    device = next(model.parameters()).device
    out = [model.features(torch.from_numpy(x[i:i + batch]).to(device)).float().cpu().numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||μa - μb||² + Tr(Σa + Σb - 2 (Σa^½ Σb Σa^½)^½) between Gaussians fitted to the
    feature rows of ``a`` and ``b`` (the same square root as FID, by symmetric eigen-
    decompositions)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = float(np.sqrt(np.clip(middle, 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def _distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([torch.cdist(a[i:i + chunk], b) for i in range(0, len(a), chunk)])


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    return _distances(x, x).kthvalue(k + 1, dim=1).values  # +1: a point is its own nearest neighbour


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, device: str = "cpu") -> tuple[float, float]:
    """Precision (share of fake rows inside the real manifold: within the k-th-neighbour
    radius of some real row) and recall (share of real rows inside the fake manifold)."""
    r = torch.from_numpy(real).float().to(device)
    f = torch.from_numpy(fake).float().to(device)
    r_radius, f_radius = _kth_radius(r, k), _kth_radius(f, k)
    precision = (_distances(f, r) <= r_radius[None, :]).any(dim=1).float().mean()
    recall = (_distances(r, f) <= f_radius[None, :]).any(dim=1).float().mean()
    return float(precision), float(recall)


def nearest_distances(queries: np.ndarray, references: np.ndarray, device: str = "cpu") -> np.ndarray:
    """For each query picture, the RMS pixel distance (on [0, 1]) to its nearest reference
    picture; both (N, 1, 28, 28) as :func:`to_classifier_input` gives them."""
    q = torch.from_numpy(queries.reshape(len(queries), -1)).float().to(device)
    r = torch.from_numpy(references.reshape(len(references), -1)).float().to(device)
    nearest = torch.cat([_distances(q[i:i + 1024], r).min(dim=1).values for i in range(0, len(q), 1024)])
    return (nearest / np.sqrt(q.shape[1])).cpu().numpy()


class Reference:
    """The real side of every comparison, computed once: test-image features, training-
    split pictures and features, the train-vs-test FD floor and the test-to-train
    nearest distances."""

    def __init__(self, train: np.ndarray, test: np.ndarray, model: torch.nn.Module, device: str = "cpu",
                 floor_count: int = 10000) -> None:
        self.device = device
        self.test_pictures = to_classifier_input(test)
        self.train_pictures = to_classifier_input(train)
        self.test_features = features(test, model)
        picks = np.random.default_rng(0).permutation(len(train))[:floor_count]
        self.floor = frechet_distance(features(train[picks], model), self.test_features)
        self.test_nearest = nearest_distances(self.test_pictures, self.train_pictures, device)
        self.model = model

    def measure(self, samples: np.ndarray, k: int = 3) -> dict[str, Any]:
        """FD, precision/recall and the copy check of ``samples`` (N, 1, H, W) in [0, 1]."""
        fake = features(samples, self.model)
        pictures = to_classifier_input(samples)
        precision, recall = precision_recall(self.test_features[: len(fake)], fake, k, self.device)
        nearest = nearest_distances(pictures, self.train_pictures, self.device)
        copy_threshold = float(np.percentile(self.test_nearest, 1))
        return {
            "samples": int(len(samples)), "fd_fmnist": round(frechet_distance(fake, self.test_features), 3),
            "fd_fmnist_floor": round(self.floor, 3), "precision": round(precision, 4), "recall": round(recall, 4),
            "nearest_train_median": round(float(np.median(nearest)), 4),
            "test_nearest_train_median": round(float(np.median(self.test_nearest)), 4),
            "copies": int((nearest < copy_threshold).sum()),
            "copy_threshold": round(copy_threshold, 4),
        }


__all__ = ["FEATURE_MODEL", "Reference", "features", "feature_model", "frechet_distance", "nearest_distances",
           "precision_recall", "to_classifier_input"]
