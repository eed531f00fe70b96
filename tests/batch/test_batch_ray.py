"""`edgezoo batch --engine ray` on a local Ray (2 CPUs, no dashboard): the same outputs
as the local engine, journalled so a rerun skips them; and without Ray installed, one
line saying how to install it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from batch_pictures import make_pictures

from edgezoo.cli import main

ROOT = Path(__file__).resolve().parents[2]


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_ray_engine_matches_the_local_engine_and_resumes(conv_dir, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    make_pictures(tmp_path / "in", 6)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert main(["batch", str(conv_dir), str(tmp_path / "in"), "-o", str(tmp_path / "local"), "--workers", "2",
                 "--threads", "1"]) == 2
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        capsys.readouterr()
        args = ["batch", str(conv_dir), str(tmp_path / "in"), "-o", str(tmp_path / "ray"), "--engine", "ray",
                "--workers", "2", "--threads", "1", "--json"]
        assert main(args) == 2
        first = json.loads(capsys.readouterr().out)
        assert (first["engine"], first["done"], first["failed"]) == ("ray", 6, 1)
        assert "broken.png is not a readable image" in first["failures"][0]["reason"]
        assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
        (tmp_path / "ray" / "photo002.png").unlink()  # lost: made again, the rest skipped
        assert main(args) == 2
        second = json.loads(capsys.readouterr().out)
        assert (second["done"], second["skipped"], second["failed"]) == (1, 5, 1)
        assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    finally:
        ray.shutdown()


def test_without_ray_the_engine_says_how_to_install_it(conv_dir, tmp_path):
    make_pictures(tmp_path / "in", 1)
    code = ("import sys; sys.modules['ray'] = None\nfrom edgezoo.cli import main\n"
            f"sys.exit(main(['batch', {str(conv_dir)!r}, {str(tmp_path / 'in')!r}, '-o', {str(tmp_path / 'o')!r}, "
            "'--engine', 'ray']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.strip() == "edgezoo: error: --engine ray needs Ray: pip install 'edgezoo[ray]' (or pip install 'ray[data]')"
    assert not (tmp_path / "o").exists()
