"""Instruction-driven restoration (TIP) through the whole product: the protocol turns a
request's instruction into tensors, the export builds and gates both graphs in every
format, the runtime runs the text encoder once per request and feeds its embedding to
every tile exactly as the PyTorch reference restores, the planner costs both, and
`edgezoo run restore --instruction ... --strength ...` plans and writes the picture."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.errors import BadInputError  # noqa: E402
from edgezoo.manifests import load_manifest  # noqa: E402
from edgezoo.runtimes import Inventory, load, plan, target  # noqa: E402
from edgezoo.runtimes.serving import serve  # noqa: E402
from edgezoo.tasks import protocol_for  # noqa: E402
from edgezoo.tasks.instructions import tokenize  # noqa: E402
from edgezoo.zoo import create_model, get_entry  # noqa: E402

SIDE = 64  # the static export's tile (the model's multiple is 32)
RUNNABLE = ("onnx-fp32-static", "onnx-fp32-dynamic", "tflite-fp32-static", "openvino-fp32-static")
PROFILE = "test-host-2c-00000000"


def _photos():
    """Two evaluation photos, cropped small: enough for the program's quality figure."""
    from edgezoo.zoo.data import evaluation_images

    return {k: v[:96, :96] for k, v in sorted(evaluation_images().items())[:2]}


@pytest.fixture(scope="module")
def tip_export(tmp_path_factory):
    """tip-tiny-restore (its shipped weights) exported to every format, fp32, by the pipeline."""
    from edgezoo.export.pipeline import export_model

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("store") / "tip-tiny-restore"
    export_model("tip-tiny-restore", formats="all", precisions="fp32", out_dir=out, height=SIDE, width=SIDE,
                 quality_images=_photos(), workers=1)
    return out


@pytest.fixture(scope="module")
def model():
    return create_model("tip-tiny-restore").eval()


def test_the_contract_is_a_tiled_net_fed_by_a_text_encoder_called_once_per_request():
    spec = get_entry("tip-tiny-restore").spec()
    assert spec.protocol == "instruct-restore" and [c.name for c in spec.components] == ["text_encoder", "net"]
    assert spec.program.kind == "tiled" and spec.program.component == "net" and spec.program.once == ["text_encoder"]
    encoder, net = spec.components
    assert [t.name for t in encoder.outputs] == ["instruction"]
    assert [(t.name, t.role) for t in net.inputs] == [("image", "image"), ("instruction", "embedding")]


def test_the_protocol_turns_a_request_into_the_text_encoders_inputs():
    protocol = protocol_for("restore")
    spec = get_entry("tip-tiny-restore").spec()
    feeds = protocol.request_feeds(spec, {"instruction": "remove the noise", "strength": 0.7})
    ids, numbers = tokenize("remove the noise", 0.7)
    assert np.array_equal(feeds["tokens"], ids) and np.array_equal(feeds["numbers"], numbers)
    blind = protocol.request_feeds(spec, {"instruction": None, "strength": None})
    assert np.array_equal(blind["tokens"], tokenize("remove all degradation")[0])
    for request, words in (({"instruction": "  "}, "the instruction is empty"),
                           ({"instruction": "make it pop"}, "no word this model knows"),
                           ({"strength": 2.0}, "outside 0 to 1"),
                           ({"seed": 3}, "not seed")):
        with pytest.raises(BadInputError, match=words) as caught:
            protocol.request_feeds(spec, request)
        assert "\n" not in str(caught.value)
    # a model whose task takes no instruction refuses one, in one line
    denoise = get_entry("maxim-tiny-denoise")
    with pytest.raises(BadInputError, match="takes no instruction"):
        denoise.protocol.request_feeds(denoise.spec(), {"instruction": "remove the noise", "strength": None})
    assert denoise.protocol.request_feeds(denoise.spec(), {"instruction": None, "strength": None}) == {}


def test_both_graphs_are_exported_in_every_format_and_gated_through_the_whole_program(tip_export):
    manifest = load_manifest(tip_export)
    by_key = {a.key: a for a in manifest.artifacts}
    formats = [f"{f}-fp32-static" for f in ("onnx", "tflite", "coreml", "openvino")] + ["onnx-fp32-dynamic"]
    assert set(by_key) == {f"{c}-{f}" for c in ("text_encoder", "net") for f in formats}
    assert by_key["text_encoder-onnx-fp32-static"].input_shape == [1, 16]
    assert by_key["net-onnx-fp32-static"].input_shape == [1, 3, SIDE, SIDE]
    for key, art in by_key.items():
        if "coreml" in key:  # converted and its spec read back; prediction needs macOS
            assert art.parity is not None and not art.parity.executed and art.parity.passed, key
            continue
        assert art.parity.executed and art.parity.passed and art.parity.psnr_db >= 100, key
        # the task figure is the whole program's, told the blind default, measured with its partner
        assert art.quality is not None and art.quality.mean.psnr_db > art.quality.baselines["degraded"].psnr_db + 2
        assert "through the whole program with its" in art.quality.note, key


def _reference(model, picture, instruction, strength, tile):
    ids, numbers = tokenize(instruction, strength)
    with torch.no_grad():
        embedding = model.text_encoder(torch.from_numpy(ids), torch.from_numpy(numbers))

        def one(x):
            return model.net(torch.from_numpy(x), embedding).numpy()

    return serve(lambda x: one(x), picture, 32, tile, None, "reflect")


@pytest.mark.parametrize("artifact", RUNNABLE)
def test_the_runtime_restores_as_the_pytorch_reference_does(tip_export, model, artifact):
    session = load(tip_export, artifact=f"net-{artifact}")
    assert set(session.partners) == {"text_encoder"}
    picture = np.random.default_rng(3).random((1, 3, 80, 100), dtype=np.float32)
    fixed = session.request_outputs({"instruction": "remove blur of 2 px", "strength": 0.6})
    restored = session.run_nchw(picture, fixed)
    tile = None if "dynamic" in artifact else (SIDE, SIDE)
    with torch.no_grad():
        expected = _reference(model, picture, "remove blur of 2 px", 0.6, tile)
    assert restored.shape == picture.shape
    assert np.abs(restored - expected).max() < 2e-3


def test_the_text_encoder_runs_once_per_request_and_feeds_every_tile(tip_export):
    session = load(tip_export, artifact="net-onnx-fp32-static")
    calls = {"text_encoder": 0, "net": 0}

    class Counted:
        def __init__(self, runner, name):
            self.runner, self.name, self.inputs = runner, name, runner.inputs

        def run(self, feeds):
            calls[self.name] += 1
            return self.runner.run(feeds)

        def describe(self):
            return self.runner.describe()

    session.partners["text_encoder"] = Counted(session.partners["text_encoder"], "text_encoder")
    session.runner = Counted(session.runner, "net")
    picture = (np.random.default_rng(0).random((150, 130, 3)) * 255).astype(np.uint8)
    out = session(picture, instruction="denoise, sigma 25")
    assert out.shape == picture.shape and out.dtype == np.uint8
    assert calls["text_encoder"] == 1 and calls["net"] > 1  # several 64 px tiles, one instruction
    assert "the text_encoder once per request" in session.describe()["tiling"]


def test_strength_steers_the_served_picture_monotonically(tip_export):
    """On the bundled noisy sample (sigma 25), told 'remove the noise': the more strength,
    the closer to the clean photo."""
    from PIL import Image

    from edgezoo.metrics import psnr

    assets = __import__("pathlib").Path(__import__("edgezoo").__file__).parent / "assets"
    noisy = np.asarray(Image.open(assets / "sample_noisy.png"))[:128, :160]
    clean = np.asarray(Image.open(assets / "sample_clean.png"))[:128, :160].astype(np.float32) / 255
    session = load(tip_export, artifact="net-onnx-fp32-dynamic")
    scores = [psnr(clean, session(noisy, instruction="remove the noise", strength=s).astype(np.float32) / 255)
              for s in (0.0, 0.5, 1.0)]
    assert scores[0] < scores[1] < scores[2] and scores[2] > psnr(clean, noisy.astype(np.float32) / 255) + 5


def test_the_planner_costs_the_text_encoder_once_beside_the_tiles(tip_export):
    manifest = load_manifest(tip_export)
    inventory = Inventory([target("onnxruntime", "cpu", "cpu", ("onnx",))])
    result = plan([(manifest, tip_export)], image_size=(200, 300), inventory=inventory, profile=PROFILE,
                  fallback_gflops=lambda: 100.0, measured_elsewhere=[], artifact="net-onnx-fp32-static")
    chosen = result.chosen
    assert set(chosen.partners) == {"text_encoder"} and chosen.artifact.component == "net"
    assert "+ the text_encoder once:" in chosen.basis and "(1x16)" in chosen.basis
    # nothing measured here: each part is its FLOPs at the fallback rate, the net once per
    # tile and the encoder once, and the option costs their sum
    from edgezoo.runtimes.planner import FALLBACK_EFFICIENCY, _pixels

    rate = 100.0 * FALLBACK_EFFICIENCY
    net = chosen.artifact.gflops_per_mpix * _pixels(chosen.call_shape) / 1e6 / rate * 1000 * chosen.calls
    encoder = chosen.partners["text_encoder"].gflops_per_mpix * 16 / 1e6 / rate * 1000
    assert chosen.calls > 1 and chosen.p90_ms == pytest.approx(net + encoder, rel=1e-6)


def test_a_missing_text_encoder_file_rejects_the_option_and_says_how_to_fix_it(tip_export, tmp_path):
    import shutil

    copy = tmp_path / "tip-tiny-restore"
    shutil.copytree(tip_export, copy)
    manifest = load_manifest(copy)
    for art in manifest.artifacts:
        if art.component == "text_encoder" and art.format == "onnx":
            (copy / art.file).unlink()
    inventory = Inventory([target("onnxruntime", "cpu", "cpu", ("onnx",))])
    with pytest.raises(BadInputError, match="is missing; re-export it"):
        plan([(manifest, copy)], inventory=inventory, profile=PROFILE, fallback_gflops=lambda: 100.0,
             measured_elsewhere=[], artifact="onnx")


def _cli(*args, store):
    env = {**os.environ, "EDGEZOO_ARTIFACTS": str(store)}
    return subprocess.run([sys.executable, "-m", "edgezoo", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_run_restore_follows_the_instruction_and_prints_its_plan(tip_export, tmp_path):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((70, 90, 3)) * 255).astype(np.uint8)).save(tmp_path / "in.png")
    done = _cli("run", "restore", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--instruction",
                "remove the noise", "--strength", "0.7", "--budget-ms", "100000", store=tip_export.parent)
    assert done.returncode == 0, done.stderr
    assert "plan: tip-tiny-restore text_encoder-" in done.stdout
    assert "instruction: 'remove the noise', strength 0.7" in done.stdout
    assert Image.open(tmp_path / "out.png").size == (90, 70)
    blind = _cli("run", "tip-tiny-restore", str(tmp_path / "in.png"), "-o", str(tmp_path / "blind.png"), "--json",
                 store=tip_export.parent)
    assert blind.returncode == 0, blind.stderr
    assert '"instruction": null' in blind.stdout and (tmp_path / "blind.png").is_file()


@pytest.mark.parametrize("args, words", [
    (("--instruction", "make it pop"), "no word this model knows"),
    (("--strength", "1.5"), "outside 0 to 1"),
])
def test_a_bad_instruction_fails_in_one_line_before_any_picture_is_written(tip_export, tmp_path, args, words):
    from PIL import Image

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "in.png")
    done = _cli("run", "restore", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), *args,
                store=tip_export.parent)
    assert done.returncode != 0 and words in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_int8_calibration_feeds_each_graph_what_it_sees_in_service(model):
    from edgezoo.export.contract import artifact_metadata, io_contract, preprocessing

    entry = get_entry("tip-tiny-restore")
    protocol = entry.protocol
    samples = {}
    for component in ("text_encoder", "net"):
        io = io_contract(entry, SIDE, SIDE, False, component)
        contract = artifact_metadata(entry, io, preprocessing(entry), "onnx", "int8", None, component)
        samples[component] = protocol.calibration_samples(contract, 4, seed=1)
        assert protocol.calibration_samples(contract, 2, seed=1)[1].keys() == samples[component][1].keys()
    for tokens, image in zip(samples["text_encoder"], samples["net"]):
        assert tokens["tokens"].dtype == np.int32 and tokens["tokens"].shape == (1, 16)
        assert image["image"].shape == (1, 3, SIDE, SIDE) and image["instruction"].shape == (1, 64)
        with torch.no_grad():  # the net's embedding is what the encoder gives the same drawn instruction
            expected = model.text_encoder(torch.from_numpy(tokens["tokens"]), torch.from_numpy(tokens["numbers"]))
        assert np.allclose(image["instruction"], expected.numpy(), atol=1e-6)
    assert len({s["tokens"].tobytes() for s in samples["text_encoder"]}) > 1


@pytest.mark.slow
def test_int8_calibrates_each_graph_on_what_it_sees_and_is_gated_through_the_program(tmp_path):
    from edgezoo.export.pipeline import export_model

    torch.set_num_threads(1)
    manifest = export_model("tip-tiny-restore", formats="openvino", precisions="fp32,int8", out_dir=tmp_path / "x",
                            height=SIDE, width=SIDE, dynamic=False, quality_images=_photos(), workers=1)
    by_key = {a.key: a for a in manifest.artifacts}
    # the text encoder is calibrated on tokenized instructions; the net (MAXIM inside) misses
    # the parity gate with int8 activations here and falls back to int8 weights
    encoder = by_key["text_encoder-openvino-int8-static"].quantization
    assert "instructions drawn as training draws them" in encoder["calibration_set"]
    for component in ("text_encoder", "net"):
        art = by_key[f"{component}-openvino-int8-static"]
        assert art.parity.executed and art.parity.passed
        assert art.quantization["quality_delta_db"] >= -0.3
        assert "the whole program" in art.quantization["quality_basis"]


def test_batch_gives_every_picture_the_instruction_and_remakes_outputs_when_it_changes(tip_export, tmp_path):
    from PIL import Image

    pictures = tmp_path / "in"
    pictures.mkdir()
    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((40, 50, 3)) * 255).astype(np.uint8)).save(pictures / f"{i}.png")
    out = tmp_path / "out"
    first = _cli("batch", "restore", str(pictures), "-o", str(out), "--workers", "1", "--instruction",
                 "remove the noise", "--strength", "0.5", store=tip_export.parent)
    assert first.returncode == 0, first.stderr
    assert "2 made, 0 skipped" in first.stdout
    again = _cli("batch", "restore", str(pictures), "-o", str(out), "--workers", "1", "--instruction",
                 "remove the noise", "--strength", "0.5", store=tip_export.parent)
    assert "0 made, 2 skipped" in again.stdout
    told = np.asarray(Image.open(out / "0.png"))
    other = _cli("batch", "restore", str(pictures), "-o", str(out), "--workers", "1", store=tip_export.parent)
    assert "2 made, 0 skipped" in other.stdout  # another instruction is another output
    assert not np.array_equal(told, np.asarray(Image.open(out / "0.png")))
    bad = _cli("batch", "restore", str(pictures), "-o", str(tmp_path / "bad"), "--instruction", "make it pop",
               store=tip_export.parent)
    assert bad.returncode == 2 and "no word this model knows" in bad.stderr and not (tmp_path / "bad").exists()


def test_openvino_feeds_an_fp16_onnx_of_several_inputs_by_their_own_names(tip_export, tmp_path):
    """The fp16 ONNX keeps float32 I/O through casts, whose tensor names OpenVINO also
    gives the ports; the runner must still answer to the contract's names."""
    from edgezoo.export.quantize.onnx import to_fp16
    from edgezoo.export.quantize.quality import artifact_contract
    from edgezoo.runtimes.backends import get_backend

    pytest.importorskip("openvino")
    source = tip_export / next(a.file for a in load_manifest(tip_export).artifacts if a.key == "net-onnx-fp32-static")
    half = tmp_path / "net-fp16.onnx"
    to_fp16(source, half, artifact_contract(source, "onnx"))
    runner = get_backend("openvino").load(half, "CPU", 1, precision="fp16")
    assert [i.name for i in runner.inputs] == ["image", "instruction"] and [o.name for o in runner.outputs] == ["restored"]
    feeds = {"image": np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32),
             "instruction": np.zeros((1, 64), np.float32)}
    assert runner.run(feeds)["restored"].shape == (1, 3, SIDE, SIDE)


def test_bench_times_a_dynamic_groups_text_encoder_at_its_own_shape(tip_export):
    from edgezoo.runtimes import bench_export, resolve

    [export] = resolve(str(tip_export))
    rows = bench_export(export, backend="onnxruntime", runs=1, warmup=0, save=False)
    shapes = {r.artifact: r.input_shape for r in rows if not r.error}
    assert shapes["text_encoder-onnx-fp32-dynamic"] == [1, 16] == shapes["text_encoder-onnx-fp32-static"]
    assert shapes["net-onnx-fp32-dynamic"] == [1, 3, 256, 256] and shapes["net-onnx-fp32-static"] == [1, 3, SIDE, SIDE]
