"""Exponentiated-gradient example reweighting: the update itself, what it does to
mislabelled examples in a real (small) training run, and exact resumption."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.zoo.fashion_mnist import flip_labels
from edgezoo.zoo.reweighting import ExampleWeights


def test_eg_step_moves_weight_from_high_loss_examples_and_keeps_the_total():
    weights = ExampleWeights(6, eta=1.0)
    index = np.array([4, 1, 2])
    weights.update(index, np.array([0.1, 2.0, 0.1]))
    w = weights.weights
    assert abs(w.sum() - 1.0) < 1e-12 and abs(w[index].sum() - 0.5) < 1e-12  # the batch keeps its share
    assert w[1] < 1 / 6 < w[4] and w[4] == w[2] and w[0] == 1 / 6  # others untouched
    assert abs(weights.batch(index).mean() - 1.0) < 1e-12
    assert weights.effective_count() < 6


def test_symmetric_label_noise_flips_the_asked_share_to_other_classes():
    labels = np.arange(10_000) % 10
    noisy, flipped = flip_labels(labels, 0.4, seed=3)
    assert abs(flipped.mean() - 0.4) < 0.02
    assert np.all(noisy[flipped] != labels[flipped]) and np.all(noisy[~flipped] == labels[~flipped])
    again, _ = flip_labels(labels, 0.4, seed=3)
    assert np.array_equal(again, noisy)


def _bars(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 pictures whose class is the row of a bright bar, with noise: easy to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = (rng.random((count, 28, 28)) * 60).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 3 + 2 * k: 5 + 2 * k, 4:24] = 230
    return images, labels


def _train(tmp_path, epochs: int, reweight: str, noisy: np.ndarray, images: np.ndarray, run: str = "r", log=None):
    from edgezoo.zoo.train_classifier import ClassifierTrainConfig, train_classifier

    cfg = ClassifierTrainConfig(model="maxvit-tiny-fmnist", out=str(tmp_path), epochs=epochs, batch=32, lr=3e-3,
                                warmup_epochs=0.5, label_smoothing=0.0, threads=1, run_name=run, reweight=reweight,
                                eg_lr=0.5, overrides=dict(stem_channels=8, channels=(16, 32), depths=(1, 1)))
    selection = _bars(64, seed=9)
    return train_classifier(cfg, {"train": (images, noisy), "selection": selection}, log=log or (lambda _: None))


def test_eg_downweights_the_mislabelled_examples_of_a_real_run(tmp_path):
    pytest.importorskip("torch")
    images, labels = _bars(320, seed=1)
    noisy, flipped = flip_labels(labels, 0.3, seed=2)
    summary = _train(tmp_path, 8, "eg", noisy, images)
    w = summary["example_weights"]
    assert w[flipped].mean() < 0.8 * w[~flipped].mean(), (w[flipped].mean(), w[~flipped].mean())


def test_a_resumed_eg_run_ends_exactly_where_an_unbroken_one_does(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    images, labels = _bars(128, seed=4)
    noisy, _ = flip_labels(labels, 0.2, seed=5)
    whole = _train(tmp_path, 2, "eg", noisy, images, run="whole")

    def interrupt_after_epoch_one(line: str) -> None:
        if '"epoch": 1' in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, 2, "eg", noisy, images, run="split", log=interrupt_after_epoch_one)
    resumed = _train(tmp_path, 2, "eg", noisy, images, run="split")  # picks up last.pt of epoch 1
    assert np.array_equal(whole["example_weights"], resumed["example_weights"])
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_file(str(tmp_path / "whole" / "best.safetensors")).keys() == load_file(
        str(tmp_path / "split" / "best.safetensors")).keys()
