"""A training run is exact: stopped halfway and resumed it ends with the weights of an
unbroken run, bit for bit, and its recorded command run again gives those weights too.
The release carries what the run recorded (full config, seed, code commit, the photos'
sha256) into the manifest, and ships its log beside the weights."""

import hashlib
import json
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from edgezoo.zoo.train import TrainConfig, train

MODEL = "maxim-tiny-denoise"


def _photos(folder, count=4, side=512):
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    for i in range(count):
        base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy - i), xx * yy], -1) * 0.4 + 0.5
        base += rng.normal(0, 0.02, base.shape)
        Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def small_validation(monkeypatch):
    """A few 32 px held-out patches instead of 24 of 128 px: these tests compare weights, not scores."""
    from edgezoo.zoo import train as train_module

    real = train_module._validation_set
    monkeypatch.setattr(train_module, "_validation_set", lambda pool, seed: real(pool, seed, patch=32, count=4))


def _state(out):
    return torch.load(out / MODEL / "last.pt", weights_only=False)


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _best(out):
    """The best checkpoint's tensors and metadata (safetensors orders its metadata keys per process,
    so equal files need not be equal bytes)."""
    from safetensors import safe_open

    with safe_open(str(out / MODEL / "best.safetensors"), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata()


def _interrupted_then_resumed(cfg, stop_at, resumes_at):
    """Stop the run when it logs step ``stop_at`` (before that step's checkpoint), then
    resume it: it goes on from its last checkpoint, ``resumes_at``."""
    def stop(line):
        if f'"step": {stop_at},' in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=stop)
    logged = []
    train(cfg, log=logged.append)
    assert logged[0].startswith(f"resumed {MODEL} at step {resumes_at} ")


def _replay_recorded_command(run, out):
    """Run ``edgezoo train`` again from the command the run recorded, into ``out``."""
    from edgezoo.cli import main

    args = shlex.split(json.loads((run / MODEL / "config.json").read_text())["command"])
    args[args.index("--out") + 1] = str(out)
    assert main(args[1:]) == 0


def _check_exact(tmp_path, cfg_for, steps, stop_at):
    straight, resumed, replayed = tmp_path / "straight", tmp_path / "resumed", tmp_path / "replayed"
    train(cfg_for(straight), resume=False, log=lambda _: None)
    _interrupted_then_resumed(cfg_for(resumed), stop_at, resumes_at=steps // 2)
    _replay_recorded_command(straight, replayed)
    reference = _state(straight)
    assert reference["step"] == steps
    for other in (resumed, replayed):
        state = _state(other)
        assert state["step"] == steps and _same_weights(reference["model"], state["model"])
        assert _same_weights(reference["optimizer"]["state"][0], state["optimizer"]["state"][0])
        (tensors, metadata), (reference_tensors, reference_metadata) = _best(other), _best(straight)
        assert metadata == reference_metadata and _same_weights(tensors, reference_tensors)
    # and the run did train: the weights moved from the seeded initialisation
    torch.manual_seed(cfg_for(straight).seed)
    from edgezoo.zoo.registry import create_model

    init = create_model(MODEL, pretrained=False).state_dict()
    assert not _same_weights(init, reference["model"])


def test_resume_and_replay_give_the_same_weights_bit_for_bit(tmp_path, small_validation):
    images = _photos(tmp_path / "photos")

    def cfg_for(out):
        return TrainConfig(model=MODEL, images=[str(images)], out=str(out), steps=6, batch=2, patch=32,
                           checkpoint_every=1, val_every=1, warmup=2, threads=1, holdout_photos=1)

    _check_exact(tmp_path, cfg_for, steps=6, stop_at=4)


@pytest.mark.slow
def test_resume_and_replay_are_exact_on_the_recipes_patch_size(tmp_path):
    # the default recipe's 64 px patches and held-out validation, a short cosine schedule
    images = _photos(tmp_path / "photos", count=5, side=640)

    def cfg_for(out):
        return TrainConfig(model=MODEL, images=[str(images)], out=str(out), steps=40, batch=8, warmup=10,
                           checkpoint_every=10, val_every=10, threads=1)

    _check_exact(tmp_path, cfg_for, steps=40, stop_at=30)


def test_the_run_records_its_photos_by_content_and_release_carries_the_record(tmp_path, small_validation,
                                                                               monkeypatch):
    from edgezoo.cli.zoo_cmds import train_cmd
    from edgezoo.zoo import release as release_module

    images = _photos(tmp_path / "photos", count=3)
    cfg = TrainConfig(model=MODEL, images=[str(images)], out=str(tmp_path / "runs"), steps=2, batch=2, patch=32,
                      val_every=1, warmup=1, threads=1, seed=4, holdout_photos=1)
    train(cfg, resume=False, log=lambda _: None)
    monkeypatch.setattr(release_module, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    record = release_module.training_record(tmp_path / "runs" / MODEL, MODEL)

    files = sorted(images.iterdir())
    assert [(p.file, p.sha256, p.role) for p in record.photos] == [
        (f.name, hashlib.sha256(f.read_bytes()).hexdigest(), role) for f, role in zip(files, ["train", "train", "held-out"])]
    assert record.seed == 4 and record.config["seed"] == 4 and record.config["steps"] == 2
    assert record.config["holdout_photos"] == 1 and record.note is None
    from edgezoo.zoo.train import code_commit

    assert record.code_commit == code_commit()
    args = shlex.split(record.command.replace("DIR", str(images)))  # the command, given the photos, parses back
    parsed = train_cmd.make_context("train", args[2:]).params
    assert list(parsed["images"]) == [str(images)] and parsed["seed"] == 4 and parsed["val_every"] == 1
    assert all(parsed[k] == v for k, v in record.config.items() if k not in ("model", "images", "extra"))
    shipped_log = tmp_path / "weights" / record.log
    assert record.log == f"{MODEL}.log.jsonl"
    assert shipped_log.read_text() == (tmp_path / "runs" / MODEL / "log.jsonl").read_text()
    assert [json.loads(line)["step"] for line in shipped_log.read_text().splitlines()] == [1, 2]


def test_a_manifest_training_record_round_trips(tmp_path):
    from edgezoo.manifests import packaged_manifest
    from edgezoo.manifests.schema import TrainingPhoto, TrainingRecord, load_manifest

    manifest = packaged_manifest(MODEL)
    record = TrainingRecord(command="edgezoo train x", config={"seed": 0, "steps": 3}, seed=0, code_commit="abc",
                            photos=[TrainingPhoto(file="a.jpg", sha256="0" * 64, role="held-out")], log="x.log.jsonl")
    manifest.weights.training = record
    manifest.save(tmp_path / "m.yaml")
    assert load_manifest(tmp_path / "m.yaml").weights.training == record


@pytest.mark.slow  # two passes of the model over the 9 evaluation photos
def test_a_replay_is_checked_on_each_sigmas_mean_within_five_hundredths_of_a_db(tmp_path, capsys):
    # `edgezoo eval MODEL --check --weights REPLAYED` is how scripts/replay_shipped.sh judges a replay
    from edgezoo.cli import main
    from edgezoo.zoo.registry import create_model
    from edgezoo.zoo.weights import save_weights, shipped_weights_path

    shipped, _ = shipped_weights_path(MODEL)
    assert main(["eval", MODEL, "--check", "--weights", str(shipped), "--sigmas", "50"]) == 0
    assert "reproduce" in capsys.readouterr().out
    model = create_model(MODEL, pretrained=True)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01 * p.abs().mean())
    save_weights(model, tmp_path / "drifted.safetensors")
    assert main(["eval", MODEL, "--check", "--weights", str(tmp_path / "drifted.safetensors"), "--sigmas", "50"]) == 1
    err = capsys.readouterr().err
    assert "sigma 50, replay, mean " in err and "allowed 0.0" in err and err.strip().count("\n") == 0


def test_the_replay_command_is_the_recorded_one_on_the_recorded_photos_only(tmp_path, monkeypatch):
    from edgezoo.errors import ManifestError
    from edgezoo.manifests import packaged_manifest
    from edgezoo.zoo import train as train_module
    from edgezoo.zoo.release import replay_command

    images = _photos(tmp_path / "photos", count=3)
    with pytest.raises(ManifestError, match="not the ones the manifest of maxim-tiny-denoise records.*fetch_photos.sh"):
        replay_command(MODEL, images, tmp_path / "out")
    with pytest.raises(ManifestError, match="--init-from"):
        replay_command("maxim-small-denoise", images, tmp_path / "out")
    record = packaged_manifest(MODEL).weights.training
    assert record.seed == 0 and record.config["steps"] == 6000 and len(record.photos) == 27
    # with photos whose hashes are the recorded ones, the command is the recorded one on those photos
    monkeypatch.setattr(train_module, "photo_record", lambda files, holdout: [p.model_dump() for p in record.photos])
    command = shlex.split(replay_command(MODEL, images, tmp_path / "out"))
    expected = shlex.split(record.command)
    expected[expected.index("--images") + 1] = str(images)
    expected[expected.index("--out") + 1] = str(tmp_path / "out")
    assert command == expected


def test_info_shows_the_training_record_and_says_when_it_is_reconstructed(capsys):
    from edgezoo.cli import main

    assert main(["info", MODEL]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("training run:"))
    assert "seed 0, 27 photos recorded by sha256" in line and "reconstructed" in line
    assert f"replay: edgezoo train {MODEL} --images DIR" in line
