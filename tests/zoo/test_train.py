import json

import numpy as np
import pytest
from PIL import Image

from edgezoo.zoo.train import TrainConfig, learning_rate, train


def _photos(folder, count=4):
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:640, 0:640] / 640.0
    for i in range(count):
        base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy - i), xx * yy], -1) * 0.4 + 0.5
        base += rng.normal(0, 0.02, base.shape)
        Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_training_checkpoints_and_resumes_where_it_stopped(tmp_path):
    images = _photos(tmp_path / "photos")
    cfg = TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(tmp_path / "runs"), steps=2,
                      batch=2, patch=32, checkpoint_every=1, val_every=2, warmup=1, threads=1)
    best = train(cfg, resume=False, log=lambda _: None)
    assert best.is_file()
    cfg.steps = 4
    logged = []
    train(cfg, resume=True, log=logged.append)
    assert logged[0].startswith("resumed maxim-tiny-denoise at step 2")
    records = [json.loads(line) for line in (tmp_path / "runs" / "maxim-tiny-denoise" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(model="maxim-tiny-denoise", images=[], steps=1000, warmup=100, lr=1e-3, min_lr=1e-5)
    assert learning_rate(cfg, 0) < learning_rate(cfg, 99) <= 1e-3
    assert abs(learning_rate(cfg, 1000) - 1e-5) < 1e-9


def test_a_failing_batch_maker_stops_training_with_its_error(tmp_path, monkeypatch):
    # the batches come from a thread: its error must reach the loop, not leave it waiting forever
    import pytest

    from edgezoo.zoo import train as train_module

    def broken(cfg):
        def degrade(clean, rng):
            raise ValueError("degradation failed")
        return degrade

    monkeypatch.setitem(train_module.DEGRADATIONS, "denoise", broken)
    images = _photos(tmp_path / "photos")
    cfg = TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(tmp_path / "runs"), steps=2,
                      batch=2, patch=32, warmup=1, threads=1)
    with pytest.raises(ValueError, match="degradation failed"):
        train(cfg, resume=False, log=lambda _: None)


def test_every_training_option_is_a_cli_option_and_the_recorded_command_replays_it(tmp_path):
    # a recipe is reproducible only if every TrainConfig field can be given on the command line
    import dataclasses
    import shlex

    from edgezoo.cli.zoo_cmds import train_cmd
    from edgezoo.zoo.train import train_command

    options = {p.name: p for p in train_cmd.params}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(fields) - {"model", "extra"} <= set(options) and "lineage" in options
    for name, f in fields.items():  # the CLI's defaults are the config's, except a shorter default schedule
        if name not in ("model", "images", "extra", "steps"):
            default = options[name].default
            assert (None if default is None or not isinstance(default, (int, float, str)) else default) == f.default, name
    images = tmp_path / "photos"
    images.mkdir()
    cfg = TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(tmp_path / "o"), steps=7, batch=3,
                      patch=96, lr=1.5e-3, min_lr=2e-6, warmup=3, sigma_max=40.0, seed=5, checkpoint_every=2,
                      val_every=3, holdout_photos=1, threads=1, device="cpu", extra={"lineage": "from 'run a'"})
    args = shlex.split(train_command(cfg))
    assert args[:3] == ["edgezoo", "train", "maxim-tiny-denoise"]
    parsed = train_cmd.make_context("train", args[2:]).params
    for name in set(fields) - {"model", "images", "extra"}:
        assert parsed[name] == getattr(cfg, name), name
    assert list(parsed["images"]) == cfg.images and parsed["lineage"] == "from 'run a'"


def test_a_run_records_its_command_and_code_commit(tmp_path):
    images = _photos(tmp_path / "photos")
    cfg = TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(tmp_path / "runs"), steps=1,
                      batch=1, patch=32, warmup=1, threads=1, val_every=1)
    train(cfg, resume=False, log=lambda _: None)
    recorded = json.loads((tmp_path / "runs" / "maxim-tiny-denoise" / "config.json").read_text())
    assert recorded["command"].startswith("edgezoo train maxim-tiny-denoise --images ")
    assert "--val-every 1" in recorded["command"] and "--seed 0" in recorded["command"]
    assert "code_commit" in recorded  # None outside a git checkout
    from edgezoo.zoo.train import code_commit
    assert recorded["code_commit"] == code_commit()


@pytest.fixture
def small_validation(monkeypatch):
    """Two 32 px held-out patches instead of 24 of 128 px: these tests are about the examples, not the score."""
    from edgezoo.zoo import train as train_module

    real = train_module._validation_set
    monkeypatch.setattr(train_module, "_validation_set", lambda pool, seed: real(pool, seed, patch=32, count=2))


def _eg_config(images, out, steps=4):
    return TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(out), steps=steps, batch=2,
                       patch=32, checkpoint_every=1, val_every=2, warmup=1, threads=1, pool_patches=6,
                       target_corruption=0.5, reweight="eg", eg_lr=20.0)


def test_eg_denoiser_weights_are_checkpointed_and_a_resumed_run_matches_an_unbroken_one(tmp_path, small_validation):
    # the example weights are training state: stopping and resuming must not change them or the model
    import torch

    images = _photos(tmp_path / "photos")

    def state(out):
        return torch.load(out / "maxim-tiny-denoise" / "last.pt", weights_only=False)

    train(_eg_config(images, tmp_path / "a"), log=lambda _: None)

    def interrupt_at_step_two(line):
        if '"step": 2' in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_eg_config(images, tmp_path / "b"), log=interrupt_at_step_two)
    logged = []
    train(_eg_config(images, tmp_path / "b"), log=logged.append)
    assert logged[0].startswith("resumed maxim-tiny-denoise at step 1")
    unbroken, resumed = state(tmp_path / "a"), state(tmp_path / "b")
    weights = unbroken["example_weights"]["weights"]
    assert abs(weights.sum() - 1.0) < 1e-12 and not np.allclose(weights, 1 / 6)  # they moved, and were saved
    assert np.array_equal(weights, resumed["example_weights"]["weights"])
    assert unbroken["corrupted"].sum() == 3 and np.array_equal(unbroken["corrupted"], resumed["corrupted"])
    assert all(torch.equal(unbroken["model"][k], resumed["model"][k]) for k in unbroken["model"])
    record = json.loads(logged[-1])
    assert {"effective_examples", "weight_corrupted_to_clean"} <= set(record)


def test_a_checkpoint_resumes_only_on_the_same_example_pool(tmp_path, small_validation):
    from edgezoo.errors import BadInputError

    images = _photos(tmp_path / "photos")
    train(_eg_config(images, tmp_path / "a", steps=1), log=lambda _: None)
    other = _eg_config(images, tmp_path / "a", steps=2)
    other.target_corruption = 0.0
    with pytest.raises(BadInputError, match="other training examples"):
        train(other, log=lambda _: None)


def test_target_corruption_swaps_exactly_the_asked_share_seeded():
    from edgezoo.zoo.data import draw_pool, swap_targets

    rng = np.random.default_rng(1)
    photos = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(3)]
    pool = draw_pool(photos, 32, 40, seed=0)
    assert pool.clean.dtype == np.uint8 and pool.clean.shape == (40, 3, 32, 32) and not pool.corrupted.any()
    noisy = swap_targets(pool, 0.3, seed=5)
    assert noisy.corrupted.sum() == 12  # exactly round(0.3 * 40)
    changed = np.array([not np.array_equal(noisy.targets[i], pool.clean[i]) for i in range(40)])
    assert np.array_equal(changed, noisy.corrupted)  # only the corrupted targets, never the inputs
    assert np.array_equal(noisy.clean, pool.clean)
    again = swap_targets(pool, 0.3, seed=5)
    assert np.array_equal(again.targets, noisy.targets) and np.array_equal(again.corrupted, noisy.corrupted)
    assert not np.array_equal(swap_targets(pool, 0.3, seed=6).corrupted, noisy.corrupted)
    assert np.array_equal(draw_pool(photos, 32, 40, seed=0).clean, pool.clean)


def test_the_cli_refuses_label_noise_for_a_denoiser_in_one_line(tmp_path, capsys):
    from edgezoo.cli import main

    images = _photos(tmp_path / "photos", count=1)
    status = main(["train", "maxim-tiny-denoise", "--images", str(images), "--label-noise", "0.3",
                   "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert status == 2 and err.strip().count("\n") == 0
    assert "--label-noise" in err and "--target-corruption" in err
    assert not (tmp_path / "runs").exists()


def test_the_cli_refuses_target_corruption_for_a_classifier(tmp_path, capsys):
    from edgezoo.cli import main

    status = main(["train", "maxvit-tiny-fmnist", "--target-corruption", "0.3", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert status == 2 and err.strip().count("\n") == 0 and "--label-noise" in err


def test_a_deblurring_model_trains_on_patches_blurred_by_the_task_registry(tmp_path):
    from edgezoo.zoo.train import DEGRADATIONS

    for task in ("deblur", "derain", "dehaze", "enhance"):  # each degrades a batch, seeded
        clean = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
        cfg = TrainConfig(model=f"maxim-tiny-{task}", images=[])
        a = DEGRADATIONS[task](cfg)(clean, np.random.default_rng(5))
        b = DEGRADATIONS[task](cfg)(clean, np.random.default_rng(5))
        assert a.shape == clean.shape and a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, clean)
    images = _photos(tmp_path / "photos")
    cfg = TrainConfig(model="maxim-tiny-deblur", images=[str(images)], out=str(tmp_path / "runs"), steps=1,
                      batch=2, patch=32, val_every=1, warmup=1, threads=1)
    assert train(cfg, resume=False, log=lambda _: None).is_file()
    record = json.loads((tmp_path / "runs" / "maxim-tiny-deblur" / "log.jsonl").read_text().splitlines()[0])
    assert record["step"] == 1 and "val_psnr" in record
