"""Exponentiated-gradient reweighting of training examples (Majidi, Amid, Talebi and
Warmuth): each training example is an expert with a weight; after each model step on
the weighted loss of a batch, the batch's weights take an exponentiated-gradient step
on their own losses, ``w_i <- w_i * exp(-eta * loss_i)``, renormalised so that the
batch keeps its share of the total. Examples the model keeps failing on (often the
mislabelled ones) lose weight; the weights persist across epochs and in checkpoints.
"""

from __future__ import annotations

import numpy as np

REWEIGHT_METHODS = ("none", "eg")


class ExampleWeights:
    """One weight per training example, summing to 1 (float64)."""

    def __init__(self, count: int, eta: float) -> None:
        if count <= 0 or eta < 0:
            raise ValueError("need a positive example count and a non-negative EG learning rate")
        self.eta = float(eta)
        self.weights = np.full(count, 1.0 / count, dtype=np.float64)

    def batch(self, index: np.ndarray) -> np.ndarray:
        """The batch's weights scaled to mean 1 (so the loss keeps its usual scale)."""
        w = self.weights[index]
        return w / w.mean()

    def update(self, index: np.ndarray, losses: np.ndarray) -> None:
        """The EG step for the examples of one batch, given their per-example losses.
        Indices in a batch are distinct (an epoch is a permutation)."""
        w = self.weights[index]
        losses = np.asarray(losses, dtype=np.float64)
        # subtracting the batch's smallest loss changes nothing after renormalising, and keeps exp() in range
        stepped = w * np.exp(-self.eta * (losses - losses.min()))
        self.weights[index] = stepped * (w.sum() / stepped.sum())

    def state(self) -> dict:
        return {"eta": self.eta, "weights": self.weights.copy()}

    def load(self, state: dict) -> None:
        if state["weights"].shape != self.weights.shape:
            raise ValueError("the checkpoint's example weights are for another training set")
        self.eta, self.weights = float(state["eta"]), np.array(state["weights"], dtype=np.float64)

    def effective_count(self) -> float:
        """exp(entropy): how many examples the weights effectively keep (N when uniform)."""
        w = self.weights[self.weights > 0]
        return float(np.exp(-(w * np.log(w)).sum()))
