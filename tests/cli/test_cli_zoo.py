import json
import subprocess


def run_cli(python, *args, timeout=300):
    return subprocess.run([python, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands_without_importing_torch(python):
    probe = (
        "import sys\nfrom click.testing import CliRunner\nfrom edgezoo.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0 and 'export' in r.output and 'demo' in r.output, r.output\n"
        "heavy = [m for m in ('torch', 'coremltools', 'onnxruntime', 'openvino', 'litert_torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_list_json_names_the_tiny_denoiser(python):
    result = run_cli(python, "list", "--task", "denoise", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert "maxim-tiny-denoise" in {r["name"] for r in rows}
    assert all(r["task"] == "denoise" for r in rows)


def test_info_json_reports_parameters_and_input_contract(python):
    result = run_cli(python, "info", "maxim-tiny-denoise", "--json")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert 0 < card["params"] < 1_000_000
    assert card["input"]["multiple_of"] == 32 and card["input"]["layout"] == "NCHW"


def test_unknown_model_is_one_line_exit_2_no_traceback(python):
    result = run_cli(python, "info", "no-such-model")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown model 'no-such-model'" in result.stderr and "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error(python):
    result = run_cli(python, "frobnicate")
    assert result.returncode == 2 and "No such command" in result.stderr


def test_info_says_how_to_train_a_restoration_model_that_ships_no_weights(python):
    result = run_cli(python, "info", "maxim-small-deblur")
    assert result.returncode == 0, result.stderr
    assert "weights: none shipped: train them with `edgezoo train maxim-small-deblur --images DIR`" in result.stdout
    listed = json.loads(run_cli(python, "list", "--task", "deblur", "--json").stdout)
    assert {"name": "maxim-small-deblur", "weights": "-", "quality": None}.items() <= {
        k: v for r in listed if r["name"] == "maxim-small-deblur" for k, v in r.items()}.items()
