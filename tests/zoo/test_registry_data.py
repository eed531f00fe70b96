"""The registry is data: listing and describing models needs no torch. Checked for real
in the torch-free venv that ``.ci/run`` builds for the tflite-runtime fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TORCH_FREE_PYTHON = os.environ.get("EDGEZOO_TFLITE_RUNTIME_PYTHON")


def test_importing_the_zoo_and_listing_imports_no_torch(python):
    code = ("import sys\nfrom edgezoo.zoo import get_entry, list_models\n"
            "names = list_models()\nspecs = [get_entry(n).spec() for n in names]\n"
            "print(len(names), 'torch' in sys.modules)")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, torch_loaded = result.stdout.split()
    assert int(count) >= 41 and torch_loaded == "False"


@pytest.mark.skipif(not TORCH_FREE_PYTHON or not Path(TORCH_FREE_PYTHON).is_file(),
                    reason="EDGEZOO_TFLITE_RUNTIME_PYTHON names no interpreter (.ci/run builds that torch-free venv)")
def test_list_and_info_work_in_the_runtime_only_install():
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TORCH_FREE_PYTHON, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=120)

    probe = subprocess.run([TORCH_FREE_PYTHON, "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "True", "the runtime-only venv must not have torch"
    listed = cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["maxvit-tiny-fmnist"]["task"] == "classify" and rows["maxvit-tiny-fmnist"]["metric"] == "top1"
    denoise = rows["maxim-tiny-denoise"]
    assert denoise["metric"] == "psnr_db" and denoise["weights"] == "yes" and denoise["quality"] > 30
    info = cli("info", "maxvit-tiny-fmnist", "--json")
    assert info.returncode == 0, info.stderr
    card = json.loads(info.stdout)
    component = card["spec"]["components"][0]
    assert [t["role"] for t in component["outputs"]] == ["logits"] and card["spec"]["program"]["kind"] == "single"
    assert len(card["spec"]["labels"]) == 10
    typo = cli("info", "maxvit-tiny-fmnst")
    assert typo.returncode == 2 and "did you mean maxvit-tiny-fmnist" in typo.stderr and "Traceback" not in typo.stderr


def test_each_family_module_is_imported_only_when_a_model_is_built(python):
    code = ("import sys\nfrom edgezoo.zoo import create_model\n"
            "before = 'edgezoo.zoo.maxvit' in sys.modules\ncreate_model('maxvit-tiny-fmnist', pretrained=False)\n"
            "print(before, 'edgezoo.zoo.maxvit' in sys.modules, 'edgezoo.zoo.maxim' in sys.modules)")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "False"]
