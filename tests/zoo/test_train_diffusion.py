"""The diffusion training recipe on synthetic pictures (no dataset needed): a run
resumed from its checkpoint ends bit-identical to the uninterrupted run, the record
counts the compute it spent, progressive distillation runs its rounds, and the forward
processes and the Soft Diffusion prior agree with independent closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from edgezoo.runtimes.samplers import BlurSchedule, blur_image  # noqa: E402
from edgezoo.tasks.generate import blur_schedule  # noqa: E402
from edgezoo.zoo import create_model, get_entry  # noqa: E402
from edgezoo.zoo.train_diffusion import (  # noqa: E402
    Corruption,
    DiffusionRecipe,
    blur_prior,
    distill,
    padded_images,
    train_diffusion,
)

GAUSSIAN, SOFT = "ddpm-unet-fmnist-xs", "soft-unet-fmnist-xs"
TINY = dict(width=4, blocks=1)  # the entry's contract, smaller inside: a CPU step in a fraction of a second
STEPS, BATCH = 4, 4


@pytest.fixture(scope="module")
def pictures() -> np.ndarray:
    """300 synthetic uint8 28x28 pictures: a bright blob of random size and place on black, plus speckle."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((300, 28, 28), np.float64)
    for i in range(len(out)):
        cy, cx, r = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(3, 9)
        out[i] = 220 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) + rng.uniform(0, 30, (28, 28))
    return np.clip(out, 0, 255).astype(np.uint8)


def _tiny(name: str):
    torch.manual_seed(0)
    return create_model(name, pretrained=False, **TINY)


def _recipe(steps: int) -> DiffusionRecipe:
    return DiffusionRecipe(steps=steps, batch=BATCH, warmup=2, checkpoint_every=100, seed=3)


def _train(name, pictures, run, steps, logs=None):
    log = logs.append if logs is not None else (lambda _: None)
    return train_diffusion(name, pictures, run, _recipe(steps), log=log, model=_tiny(name))


@pytest.mark.parametrize("name", [GAUSSIAN, SOFT])
def test_a_resumed_run_ends_bit_identical_to_the_straight_run(name, pictures, tmp_path):
    straight = _train(name, pictures, tmp_path / "straight", STEPS)
    half = _train(name, pictures, tmp_path / "resumed", STEPS // 2)
    assert half["steps_done"] == STEPS // 2 and not half["stopped_early"]
    logs: list[str] = []
    resumed = _train(name, pictures, tmp_path / "resumed", STEPS, logs)
    assert any(f"resuming at step {STEPS // 2}" in line for line in logs), logs

    a, b = load_file(tmp_path / "straight" / "ema.safetensors"), load_file(tmp_path / "resumed" / "ema.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    initial = _tiny(name).state_dict()
    assert any(not torch.equal(a[k], initial[k]) for k in a if a[k].is_floating_point())  # training moved the weights
    last_a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    last_b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert last_a["step"] == last_b["step"] == STEPS
    assert all(torch.equal(last_a["model"][k], last_b["model"][k]) for k in last_a["model"])

    for record in (straight, resumed):
        assert record["model"] == name and record["steps_done"] == STEPS and not record["stopped_early"]
        assert record["images_seen"] == STEPS * BATCH
        assert record["forward_flops"] > 0
        assert record["train_flops"] == 3 * record["forward_flops"] * record["images_seen"]
        assert record["params"] == sum(p.numel() for p in _tiny(name).parameters())
        assert record["precision"] == "fp32" and record["device"].startswith("cpu")
    assert json.loads((tmp_path / "resumed" / "record.json").read_text()) == resumed
    steps_logged = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert steps_logged == [STEPS // 2, STEPS]


def test_a_run_out_of_time_stops_early_and_says_so(pictures, tmp_path):
    recipe = DiffusionRecipe(steps=STEPS, batch=BATCH, checkpoint_every=100, max_seconds=0.0)
    record = train_diffusion(GAUSSIAN, pictures, tmp_path, recipe, log=lambda _: None, model=_tiny(GAUSSIAN))
    assert record["stopped_early"] and record["steps_done"] == 0 and record["images_seen"] == 0
    assert record["train_flops"] == 0


def test_distillation_runs_its_rounds_and_returns_a_student_of_the_same_contract(pictures, tmp_path):
    teacher = _tiny(GAUSSIAN)
    config = get_entry(GAUSSIAN).config
    assert config.prediction == "v"
    recipe = DiffusionRecipe(batch=2, warmup=1, seed=5)
    student, record = distill(teacher, config, pictures, tmp_path, student_steps=[4, 2], steps_per_round=2,
                              recipe=recipe, log=lambda _: None)
    assert [(r["student_steps"], r["teacher_steps"], r["updates"]) for r in record["rounds"]] == [(4, 8, 2), (2, 4, 2)]
    assert json.loads((tmp_path / "distill.json").read_text()) == record
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        out = student(x, torch.tensor([999.0, 10.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert student is not teacher
    moved = [not torch.equal(p, q) for p, q in zip(student.state_dict().values(), teacher.state_dict().values())]
    assert any(moved)  # the student learnt something away from its teacher
    with pytest.raises(ValueError, match="v-prediction"):
        distill(teacher, get_entry(SOFT).config, pictures, tmp_path, [2], 1, recipe, log=lambda _: None)


def test_padded_images_are_in_range_with_a_black_border():
    images = np.zeros((3, 28, 28), np.uint8)
    images[0] = 255
    images[1, 5, 7] = 255
    images[2] = np.arange(28 * 28).reshape(28, 28) % 256
    out = padded_images(images)
    assert out.shape == (3, 1, 32, 32) and out.dtype == np.float32
    assert out.min() == -1.0 and out.max() == 1.0
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert np.all(out[:, 0][:, border] == -1.0)
    assert np.array_equal(out[:, 0, 2:30, 2:30], images.astype(np.float32) / 127.5 - 1.0)
    assert np.all(out[0, 0, 2:30, 2:30] == 1.0) and out[1, 0, 7, 9] == 1.0


def test_soft_corruption_runs_from_the_image_to_blurred_flat_noise(pictures):
    corruption = Corruption(get_entry(SOFT).config, torch.device("cpu"))
    schedule = corruption.blur
    assert isinstance(schedule, BlurSchedule) and schedule.train_steps == 1000
    x0 = padded_images(pictures[:16])
    noise = np.random.default_rng(0).standard_normal(x0.shape).astype(np.float32)
    last = schedule.train_steps - 1
    for t in (0, 500, last):
        got = corruption.corrupt(torch.from_numpy(x0), torch.full((16,), t), torch.from_numpy(noise)).numpy()
        want = blur_image(x0, schedule.blur(t)) + schedule.noise(t) * noise  # the runtime's numpy forward process
        assert np.abs(got - want).max() < 1e-4, t
    first = corruption.corrupt(torch.from_numpy(x0), torch.zeros(16, dtype=torch.long), torch.from_numpy(noise)).numpy()
    assert np.sqrt(np.mean((first - x0) ** 2)) < 0.1 * np.sqrt(np.mean((x0 - x0.mean()) ** 2))  # nearly the image
    end = corruption.corrupt(torch.from_numpy(x0), torch.full((16,), last), torch.from_numpy(noise)).numpy()
    flat = end - schedule.noise(last) * noise
    assert np.allclose(flat.mean(axis=(-2, -1)), x0.mean(axis=(-2, -1)), atol=1e-4)  # the blur keeps the mean
    assert np.all(flat.std(axis=(-2, -1)) < 0.1 * x0.std(axis=(-2, -1)))  # and little else
    assert schedule.noise(last) == pytest.approx(1.0)


def test_gaussian_corruption_is_the_noise_schedule():
    config = get_entry(GAUSSIAN).config
    corruption = Corruption(config, torch.device("cpu"))
    from edgezoo.runtimes.samplers import NoiseSchedule

    abar = NoiseSchedule(kind=config.schedule, train_steps=config.train_steps).alphas_cumprod()
    x0, noise = torch.rand(3, 1, 32, 32) * 2 - 1, torch.randn(3, 1, 32, 32)
    t = torch.tensor([0, 400, 999])
    got = corruption.corrupt(x0, t, noise)
    for i, step in enumerate(t.tolist()):
        want = math.sqrt(abar[step]) * x0[i] + math.sqrt(1 - abar[step]) * noise[i]
        assert torch.allclose(got[i], want.float(), atol=1e-5)


def _prior_by_scipy(images: np.ndarray, schedule: BlurSchedule, block: int = 3):
    """The lowest ``block`` x ``block`` DCT coefficients of C_{T-1} x0, by scipy's DCT and
    the heat equation's gain exp(-pi^2 (i^2 + j^2) / side^2 * sigma^2 / 2)."""
    from scipy.fft import dctn

    side = images.shape[-1]
    coeffs = dctn(images[:, 0].astype(np.float64), type=2, norm="ortho", axes=(-2, -1))[:, :block, :block]
    i, j = np.mgrid[0:block, 0:block]
    sigma = schedule.blur(schedule.train_steps - 1)
    coeffs = coeffs * np.exp(-(math.pi ** 2) * (i ** 2 + j ** 2) / side ** 2 * sigma ** 2 / 2)
    flat = coeffs.reshape(len(images), -1)
    return flat.mean(0), flat.std(0)


def test_blur_prior_is_the_mean_and_std_of_the_blurred_low_dct_block(pictures):
    pytest.importorskip("scipy")
    schedule = blur_schedule(get_entry(SOFT).config)
    images = padded_images(pictures)
    mean, std = blur_prior(images, schedule)
    assert len(mean) == len(std) == 9
    want_mean, want_std = _prior_by_scipy(images, schedule)
    assert np.allclose(mean, want_mean, atol=1e-5) and np.allclose(std, want_std, atol=1e-5)
    assert mean[0] == pytest.approx(32 * images.mean(), abs=1e-4)  # DC: side x the mean pixel
    wide = blur_prior(images, BlurSchedule(blur_max=2.0), block=4)
    assert len(wide[0]) == 16 and wide[1][1] > std[1]  # less blur: more of each low frequency survives


def test_the_registered_soft_prior_is_the_one_of_the_fashion_mnist_training_split():
    from edgezoo.zoo import fashion_mnist
    from edgezoo.zoo.variants.diffusion import SOFT_PRIOR_MEAN, SOFT_PRIOR_STD

    if not fashion_mnist.available():
        pytest.skip(f"Fashion-MNIST is not at {fashion_mnist.data_dir()} (apt-get install dataset-fashion-mnist)")
    images, _ = fashion_mnist.load_split("train")
    config = get_entry(SOFT).config
    assert config.blur.prior_mean == SOFT_PRIOR_MEAN and config.blur.prior_std == SOFT_PRIOR_STD
    mean, std = blur_prior(padded_images(images), blur_schedule(config))
    assert np.allclose(mean, SOFT_PRIOR_MEAN, atol=1e-4) and np.allclose(std, SOFT_PRIOR_STD, atol=1e-4)
