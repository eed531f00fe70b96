"""TIP, the edge version: tokenizer, zero-initialised adaptor, targets, and a resumable recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgezoo.errors import BadInputError
from edgezoo.tasks.instructions import MAX_TOKENS, NUM, UNK, VOCABULARY, tokenize
from edgezoo.zoo.tip import build
from edgezoo.zoo.train_tip import (TipRecipe, control_weights, degrade_and_target, draw_example, gaussian_blur,
                                   requested_removal, train_tip)
from edgezoo.zoo.variants.tip import TINY


def test_tokenize_reads_words_numbers_and_strength() -> None:
    ids, numbers = tokenize("Denoise, sigma 25!", strength=0.7)
    words = [VOCABULARY[i] for i in ids[0] if i]
    assert words == ["denoise", "sigma", NUM, "strength", NUM]
    assert ids.shape == numbers.shape == (1, MAX_TOKENS) and ids.dtype == np.int32 and numbers.dtype == np.float32
    assert numbers[0, 2] == 25.0 and numbers[0, 4] == pytest.approx(0.7)
    assert numbers[0, [0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    ids, _ = tokenize("remove the wobble")
    assert VOCABULARY[ids[0, 2]] == UNK


@pytest.mark.parametrize("instruction, strength, words", [
    ("make it pop", None, "no word this model knows"),
    ("remove " * 17, None, "at most 16"),
    ("remove the noise", 1.5, "outside 0 to 1"),
])
def test_tokenize_refuses_in_one_line(instruction: str, strength: float | None, words: str) -> None:
    with pytest.raises(BadInputError, match=words) as caught:
        tokenize(instruction, strength)
    assert "\n" not in str(caught.value)


def test_zero_initialised_adaptor_reproduces_the_prior_exactly() -> None:
    model = build(TINY)
    torch.manual_seed(0)
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        prior = model.net.prior(image)
        for text, strength in (("denoise, sigma 25", 0.3), ("remove all degradation", None)):
            ids, numbers = tokenize(text, strength)
            out = model(image, torch.from_numpy(ids).repeat(2, 1), torch.from_numpy(numbers).repeat(2, 1))
            assert torch.equal(out, prior)
    assert not any(p.requires_grad for p in model.net.prior.parameters())


def test_instructions_remove_what_they_name_scaled_by_strength() -> None:
    assert requested_removal("noise-blind", 30.0, 2.0, None, None, None) == (30.0, 0.0)
    assert requested_removal("blur", 30.0, 2.0, None, 1.5, None) == (0.0, 1.5)
    assert requested_removal("blur", 30.0, 2.0, None, 5.0, None) == (0.0, 2.0)  # capped at what is there
    assert requested_removal("all", 30.0, 2.0, None, None, 0.5) == (15.0, 1.0)
    assert requested_removal("both", 30.0, 0.0, 20.0, 1.0, None) == (20.0, 0.0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        noise, blur, instruction = draw_example(rng)
        assert 0.0 <= instruction.remove_noise <= noise and 0.0 <= instruction.remove_blur <= blur
        tokenize(instruction.text, instruction.strength)  # every drawn instruction is readable
    for _ in range(100):  # the curriculum's first phase: all of what is there, no strength
        noise, blur, instruction = draw_example(rng, full=True)
        assert instruction.strength is None
        assert abs(instruction.remove_noise - noise) < 0.5 and abs(instruction.remove_blur - blur) < 0.05  # said rounded


def test_targets_compose_in_quadrature() -> None:
    torch.manual_seed(0)
    clean = gaussian_blur(torch.rand(3, 3, 64, 64), torch.full((3,), 1.0))  # smooth enough that borders matter little
    noise, blur = torch.tensor([25.0, 0.0, 40.0]), torch.tensor([0.0, 2.0, 1.5])
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    degraded, target = degrade_and_target(clean, noise, blur, noise, blur, gen())
    assert torch.allclose(target, clean, atol=1e-6)  # all removed
    same, kept = degrade_and_target(clean, noise, blur, torch.zeros(3), torch.zeros(3), gen())
    assert torch.allclose(same, degraded) and torch.allclose(kept, degraded, atol=1e-6)  # nothing removed
    _, half = degrade_and_target(clean, torch.zeros(3), blur, torch.zeros(3), blur * 0.6, gen())
    # the target keeps sqrt(b^2 - r^2) px: blurring it by the removed r px gives the degraded picture back
    again = gaussian_blur(half, blur * 0.6)[..., 12:-12, 12:-12]
    want = gaussian_blur(clean, blur)[..., 12:-12, 12:-12]
    assert (again - want).abs().max() < 2e-3


@pytest.fixture
def photo_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_recipe_resumes_bit_identically(tmp_path, photo_folder) -> None:
    torch.set_num_threads(1)
    recipe = TipRecipe(steps=4, batch=2, patch=32, checkpoint_every=2, holdout_photos=1)
    train_tip([photo_folder], tmp_path / "whole", recipe, log=lambda _: None)
    train_tip([photo_folder], tmp_path / "parts", TipRecipe(**{**recipe.__dict__, "steps": 2}), log=lambda _: None)
    record = train_tip([photo_folder], tmp_path / "parts", recipe, log=lambda _: None)
    assert record["steps"] == 4
    assert control_weights(tmp_path / "whole").read_bytes() == control_weights(tmp_path / "parts").read_bytes()


def test_the_shipped_weights_reproduce_the_studys_noise_row():
    """benchmarks/tip_study.py's figure for "denoise, sigma 25", recomputed from the shipped
    weights on the nine evaluation photos (the study's own degradation and scoring)."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("tip_study", root / "benchmarks" / "tip_study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    recorded = json.loads((root / "benchmarks" / "results" / "tip_study.json").read_text())
    torch.set_num_threads(1)
    run = study.tip_runner(study.load_tip(None))
    photos = study.evaluation_images()
    assert list(photos) == recorded["photos"]
    rows = [study.scores(clean, run(study.degrade(clean, 25.0, 0.0, study.SEED + i), "denoise, sigma 25"))
            for i, clean in enumerate(photos.values())]
    figure = recorded["quality"]["noise-25"]['TIP "denoise, sigma 25"']
    assert abs(study.mean_scores(rows)["psnr_db"] - figure["psnr_db"]) < 0.01


def test_the_numpy_degradation_blurs_as_training_does() -> None:
    """The protocol's and release's measured setting (numpy) blurs exactly as the recipe
    trains (torch), so the figures measure what was trained."""
    from edgezoo.zoo.degradations import blur_then_noise

    image = np.random.default_rng(0).random((40, 52, 3)).astype(np.float32)
    for blur in (0.0, 0.7, 2.5):
        ours, info = blur_then_noise(image, np.random.default_rng(1), noise=0.0, blur=blur)
        theirs = gaussian_blur(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()), torch.tensor([blur]))
        assert np.abs(ours - theirs[0].numpy().transpose(1, 2, 0)).max() < 1e-6
        assert info["kernel"].sum() == pytest.approx(1.0, abs=1e-6)
    noisy, info = blur_then_noise(image, np.random.default_rng(1), noise=25.0, blur=0.0)
    assert info["sigma"] == 25.0 and abs(float(np.std(noisy - image)) * 255 - 25.0) < 1.0


def test_the_shipped_manifest_rows_are_recomputed_on_one_photo() -> None:
    """`edgezoo eval tip-tiny-restore --check --photos coffee`: every row's figures of the
    model and its baselines on coffee, from the shipped weights."""
    from edgezoo.manifests import packaged_manifest
    from edgezoo.zoo.release_tip import SETTINGS, check_tip

    torch.set_num_threads(1)
    rows, problems = check_tip({"coffee"})
    assert problems == []
    assert len(rows) == len(SETTINGS) == len(packaged_manifest("tip-tiny-restore").quality)
    assert all(set(r.per_image) == {"coffee"} for r in rows)
