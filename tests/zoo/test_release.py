"""A released model's recipe says how to train it again: the command with every option,
the seed and the code commit the run was made with."""

import json
from dataclasses import asdict

from edgezoo.zoo.release import _recipe
from edgezoo.zoo.train import TrainConfig, train_command


def test_the_recipe_records_the_full_command_seed_and_commit(tmp_path):
    cfg = TrainConfig(model="maxim-small-denoise", images=["/photos"], steps=6044, batch=64, lr=1e-3, seed=3,
                      val_every=250, device="cuda", extra={"lineage": "from a 2500-step CPU run"})
    record = {**asdict(cfg), "command": train_command(cfg), "code_commit": "0123abc"}
    (tmp_path / "config.json").write_text(json.dumps(record))
    recipe, steps = _recipe(tmp_path)
    assert steps == 6044
    assert "--val-every 250" in recipe and "--seed 3" in recipe and "--images DIR" in recipe
    assert "--lineage 'from a 2500-step CPU run'" in recipe and recipe.endswith("code commit 0123abc")


def test_a_run_from_before_the_command_was_recorded_keeps_its_summary(tmp_path):
    cfg = asdict(TrainConfig(model="maxim-tiny-denoise", images=["/photos"], steps=6000))
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    recipe, _ = _recipe(tmp_path)
    assert recipe.startswith("edgezoo train maxim-tiny-denoise --images DIR --steps 6000") and "commit" not in recipe
