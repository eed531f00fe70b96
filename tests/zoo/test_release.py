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


def test_a_task_model_recipe_names_its_degradation_and_its_best_step_is_read_from_its_key(tmp_path):
    from edgezoo.zoo.degradations import DEGRADATIONS
    from edgezoo.zoo.release import _best_step

    cfg = asdict(TrainConfig(model="maxim-tiny-derain", images=["/photos"], steps=500))
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    recipe, _ = _recipe(tmp_path)
    assert DEGRADATIONS["derain"].label in recipe and "Gaussian" not in recipe
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"step": 250, "val_psnr": 30.0}, {"step": 500, "val_psnr": 29.5}, {"step": 500, "loss": 0.1})))
    assert _best_step(tmp_path, "derain") == 250


def test_a_task_model_is_measured_once_on_its_degradation_beside_its_baselines():
    import torch

    from edgezoo.zoo import create_model
    from edgezoo.zoo.baselines import BASELINES
    from edgezoo.zoo.degradations import DEGRADATIONS
    from edgezoo.zoo.release import measure

    torch.manual_seed(0)
    model = create_model("maxim-tiny-dehaze", pretrained=False).eval()
    params, flops, quality = measure("maxim-tiny-dehaze", model, names={"coffee"})
    assert params == sum(p.numel() for p in model.parameters()) and flops > 0
    (result,) = quality
    assert result.degradation == DEGRADATIONS["dehaze"].label and set(result.per_image) == {"coffee"}
    assert set(result.baselines) == {"degraded", *BASELINES["dehaze"]}
    # the dark channel prior beats the hazy input on a real photo: the baseline is really run
    assert result.baselines["dark_channel_prior"].psnr_db > result.baselines["degraded"].psnr_db
