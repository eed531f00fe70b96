import json

import numpy as np
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


def test_a_resumed_run_ends_with_the_same_weights_as_an_unbroken_one(tmp_path):
    # Batches are made ahead by a thread; checkpoints must still record where the consumed ones end.
    import pytest
    import torch

    images = _photos(tmp_path / "photos")

    def config(out):
        return TrainConfig(model="maxim-tiny-denoise", images=[str(images)], out=str(out), steps=4, batch=2,
                           patch=32, checkpoint_every=1, val_every=1, warmup=1, threads=1)

    def weights(out):
        return torch.load(out / "maxim-tiny-denoise" / "last.pt", weights_only=False)["model"]

    train(config(tmp_path / "a"), log=lambda _: None)

    def interrupt_at_step_two(line):
        if '"step": 2' in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "b"), log=interrupt_at_step_two)
    logged = []
    train(config(tmp_path / "b"), log=logged.append)
    assert logged[0].startswith("resumed maxim-tiny-denoise at step 1")
    unbroken, resumed = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert unbroken.keys() == resumed.keys()
    assert all(torch.equal(unbroken[k], resumed[k]) for k in unbroken)


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
