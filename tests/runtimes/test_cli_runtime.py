"""`edgezoo devices | bench | plan | run` as a user types them."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PHOTO = Path(__file__).resolve().parents[2] / "edgezoo" / "assets" / "sample_noisy.png"


def cli(python, *args, env_root=None, timeout=600):
    env = dict(os.environ)
    if env_root is not None:
        env["EDGEZOO_ARTIFACTS"] = str(env_root)
    return subprocess.run([python, "-m", "edgezoo", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def store(tiny_export, tmp_path_factory):
    """An artifact root holding a copy of the tiny export, benchmarked once via the CLI."""
    root = tmp_path_factory.mktemp("store")
    shutil.copytree(tiny_export, root / "maxim-tiny-denoise")
    return root


def test_devices_json_lists_targets_and_the_profile(python):
    result = cli(python, "devices", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device_profile"]["id"] and data["device_profile"]["cores"] >= 1
    assert any(t["kind"] == "cpu" for t in data["targets"])


def test_bench_then_plan_then_run(python, store, tmp_path):
    bench = cli(python, "bench", "maxim-tiny-denoise", "--runs", "3", "--warmup", "1", "--json", env_root=store)
    assert bench.returncode == 0, bench.stderr
    data = json.loads(bench.stdout)
    assert data["rows"] and all(r["p90_ms"] > 0 for r in data["rows"] if not r["error"])
    assert "maxim-tiny-denoise" in (store / "maxim-tiny-denoise" / "manifest.yaml").read_text()

    plan = cli(python, "plan", "maxim-tiny-denoise", "--budget-ms", "100000", "--json", env_root=store)
    assert plan.returncode == 0, plan.stderr
    chosen = json.loads(plan.stdout)["chosen"]
    assert chosen["model"] == "maxim-tiny-denoise" and chosen["p90_ms"] > 0

    task = cli(python, "plan", "denoise", "--json", env_root=store)
    assert task.returncode == 0 and json.loads(task.stdout)["chosen"]["task"] == "denoise"

    out = tmp_path / "out.png"
    run = cli(python, "run", "maxim-tiny-denoise", PHOTO, "-o", out, "--budget-ms", "100000", env_root=store)
    assert run.returncode == 0, run.stderr
    assert out.is_file() and "ran 1 image(s) with maxim-tiny-denoise" in run.stdout

    folder = tmp_path / "outs"
    run = cli(python, "run", "denoise", PHOTO, PHOTO.parent, "-o", folder, "--json", env_root=store)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    largest = max(((i["height"], i["width"]) for i in report["images"]), key=lambda hw: hw[0] * hw[1])
    assert tuple(report["plan"]["image_size"]) == largest == (320, 448)  # planned for the photos given
    assert report["runtime"]["backend"] and len(report["images"]) >= 2 and all(Path(i["output"]).is_file() for i in report["images"])


def test_unreachable_budget_is_one_line_exit_1(python, store):
    cli(python, "bench", "maxim-tiny-denoise", "--runs", "2", "--warmup", "0", "--backend", "onnxruntime", env_root=store)
    result = cli(python, "plan", "maxim-tiny-denoise", "--budget-ms", "0.001", env_root=store)
    assert result.returncode == 1
    assert "fastest option is maxim-tiny-denoise" in result.stderr and result.stderr.strip().count("\n") == 0


def test_bad_inputs_exit_2_in_one_line(python, store, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    for args in (
        ("run", "maxim-tiny-denoise", not_image, "-o", tmp_path / "o.png"),
        ("run", "maxim-tiny-denoise", tmp_path / "missing.png", "-o", tmp_path / "o.png"),
        ("plan", "no-such-model"),
        ("plan", "maxim-tiny-denoise", "--prefer", "tpu"),
        ("plan", "maxim-tiny-denoise", "--size", "big"),
    ):
        result = cli(python, *args, env_root=store)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, args


def test_a_model_without_exports_says_how_to_export(python, tmp_path, monkeypatch):
    shipped = subprocess.run([python, "-c", "from edgezoo.manifests import packaged_names; print(' '.join(packaged_names()))"],
                             capture_output=True, text=True).stdout.split()
    if not shipped:
        pytest.skip("no shipped manifests yet")
    result = cli(python, "plan", shipped[0], env_root=tmp_path / "empty")
    assert result.returncode == 1
    assert f"run `edgezoo export {shipped[0]} --format all`" in result.stderr
