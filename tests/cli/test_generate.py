"""``edgezoo generate``'s grid: samples laid out row by row with a gap between them."""

from __future__ import annotations

import numpy as np

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
