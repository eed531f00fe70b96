"""``edgezoo generate``'s grid: samples laid out row by row with a gap between them."""

from __future__ import annotations

import numpy as np
import pytest

from edgezoo.cli.generate_cmd import sample_grid


def test_sample_grid_lays_samples_out_row_by_row():
    pictures = np.stack([np.full((1, 4, 3), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    grid = sample_grid(pictures, gap=1)
    assert grid.shape == (2 * 4 + 1, 3 * 3 + 2, 1)  # ceil(sqrt(5)) = 3 columns, 2 rows
    grid = sample_grid(pictures, columns=2, gap=1)
    assert grid.shape == (3 * 4 + 2, 2 * 3 + 1, 1)
    assert grid[0, 0, 0] == np.float32(0.1) and grid[0, 4, 0] == np.float32(0.2) and grid[5, 0, 0] == np.float32(0.3)
    assert grid[4, 0, 0] == 1.0 and grid[-1, -1, 0] == 1.0  # gaps and the empty cell are white


def test_generate_command_and_samplers_import_no_torch(python):
    import subprocess

    probe = ("import sys\nfrom edgezoo.cli import cli\nimport click\n"
             "cmd = cli.get_command(click.Context(cli), 'generate')\n"
             "import edgezoo.runtimes.samplers, edgezoo.tasks.generate\n"
             "assert cmd.name == 'generate'\n"
             "heavy = [m for m in ('torch', 'coremltools', 'litert_torch') if m in sys.modules]\n"
             "assert not heavy, heavy\n")
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _edgezoo(python, *args, env=None):
    import os
    import subprocess

    return subprocess.run([python, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_eval_of_a_generator_without_fashion_mnist_is_one_clear_line(python, tmp_path):
    result = _edgezoo(python, "eval", "ddpm-unet-fmnist-xs", "--samples", "20",
                      env={"EDGEZOO_FASHION_MNIST": str(tmp_path)})  # an empty folder: no dataset
    assert result.returncode == 2
    assert "Fashion-MNIST is not at" in result.stderr and "apt-get install dataset-fashion-mnist" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_generate_refuses_steps_and_a_budget_together(python, tmp_path):
    result = _edgezoo(python, "generate", "ddpm-unet-fmnist-s", "--steps", "8", "--budget-ms", "50",
                      "-o", str(tmp_path / "g.png"))
    assert result.returncode == 2 and "give one" in result.stderr
    assert not (tmp_path / "g.png").exists()


@pytest.mark.slow
def test_eval_of_a_generator_prints_fd_floor_precision_recall_and_copies():
    """A real (small) measurement of the shipped xs model: needs Fashion-MNIST; slow
    (features of 65,000 images and the nearest-neighbour search)."""
    import json

    from click.testing import CliRunner

    from edgezoo.cli import cli
    from edgezoo.zoo.fashion_mnist import available

    if not available():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    result = CliRunner().invoke(cli, ["eval", "ddpm-unet-fmnist-xs", "--steps", "2", "--samples", "200", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["samples"] == 200 and row["steps"] == 2 and row["fd_fmnist"] > row["fd_fmnist_floor"] > 0
    assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and row["copies"] >= 0
