"""The sampler table an app replays (contract.json's ``sampler.tables``) gives what the
numpy schedulers give, for every Gaussian sampler kind, prediction and step count."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.errors import BadInputError
from edgezoo.manifests import packaged_manifest
from edgezoo.runtimes.sampler_table import replay, sampler_table
from edgezoo.runtimes.samplers import run_sampler, sample_rng, scheduler_from_dict

SHAPE = (1, 1, 8, 8)


def _network(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A fixed, non-linear stand-in for a denoiser (the table must not care what it is)."""
    grid = np.linspace(-1, 1, x.size).reshape(x.shape)
    return np.tanh(0.7 * x + grid + t[0] / 1000).astype(np.float32)


@pytest.mark.parametrize("kind,extra", [("ddim", {}), ("ddim", {"eta": 0.6}), ("ddpm", {}),
                                        ("ddim", {"prediction": "epsilon"}), ("ddpm", {"prediction": "epsilon"}),
                                        ("ddim", {"clip_sample": None})])
@pytest.mark.parametrize("steps", [1, 2, 8, 50])
def test_replaying_the_table_matches_the_scheduler(kind, extra, steps):
    sampler = {**packaged_manifest("ddpm-unet-fmnist-xs").model_spec().program.sampler, "kind": kind, **extra}
    reference = run_sampler(_network, scheduler_from_dict(sampler, steps), SHAPE, sample_rng(3))
    table = sampler_table(sampler, steps)
    assert len(table["timesteps"]) == steps and table["timesteps"][0] == 999
    if kind == "ddim" and not extra.get("eta"):  # deterministic: only the starting noise
        assert not any(table["fresh_noise"])
    replayed = replay(table, _network, SHAPE, sample_rng(3))
    assert float(np.abs(replayed - reference).max()) < 1e-5


def test_a_momentum_sampler_has_no_linear_table():
    with pytest.raises(BadInputError, match="not a linear"):
        sampler_table({"kind": "momentum", "prediction": "x0", "steps": 4}, 4)
