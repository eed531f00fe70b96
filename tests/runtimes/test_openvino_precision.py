"""OpenVINO compiles an artifact at the precision the artifact means: fp32 in f32 (never
the CPU plugin's silent bf16), fp16 in f16 where the device has FP16 compute, else f32.
Read back from the compiled model, on a real (small, torch-free) IR."""

from pathlib import Path

import numpy as np
import pytest

from edgezoo.metrics import psnr
from edgezoo.runtimes.backends import get_backend
from edgezoo.runtimes.backends.openvino_backend import inference_precision
from artifacts import conv_onnx, have

pytestmark = pytest.mark.skipif(not have("openvino"), reason="openvino is not installed")


@pytest.fixture(scope="module")
def conv_irs(tmp_path_factory) -> dict[str, Path]:
    """The 3-layer conv net as OpenVINO IR, weights stored fp32 and fp16."""
    import openvino as ov

    out = tmp_path_factory.mktemp("ov-precision")
    conv_onnx(out / "conv.onnx", 32)
    model = ov.convert_model(str(out / "conv.onnx"))
    paths = {"fp32": out / "conv-fp32.xml", "fp16": out / "conv-fp16.xml"}
    for precision, path in paths.items():
        ov.save_model(model, str(path), compress_to_fp16=precision == "fp16")
    return paths


def _cpu_has_fp16() -> bool:
    import openvino as ov
    import openvino.properties as props

    return "FP16" in ov.Core().get_property("CPU", props.device.capabilities)


def test_compiled_inference_precision_follows_the_artifact(conv_irs):
    import openvino as ov
    import openvino.properties.hint as hints

    backend = get_backend("openvino")
    want_fp16 = ov.Type.f16 if _cpu_has_fp16() else ov.Type.f32
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    outputs = {}
    for precision, path, want in (("fp32", conv_irs["fp32"], ov.Type.f32), (None, conv_irs["fp32"], ov.Type.f32),
                                  ("fp16", conv_irs["fp16"], want_fp16)):
        runner = backend.load(path, "cpu", threads=1, precision=precision)
        assert runner.compiled.get_property(hints.inference_precision) == want, precision
        info = runner.describe()
        assert info["inference_precision"] == want.to_string(), info
        assert info["precision_reason"].startswith(f"{precision or 'fp32'} artifact: {want.to_string()}"), info
        outputs[precision] = runner.run({"image": x})["restored"]
    assert np.array_equal(outputs["fp32"], outputs[None])
    assert psnr(outputs["fp32"], outputs["fp16"], data_range=float(np.ptp(outputs["fp32"]))) >= 40.0


def test_the_choice_without_fp16_compute_and_off_cpu():
    assert inference_precision("fp32", "cpu", ["BF16", "FP32", "FP16"])[0] == "f32"
    assert inference_precision(None, "gpu", ())[0] == "f32"
    assert inference_precision("fp16", "cpu", ["BF16", "FP32", "FP16", "INT8"])[0] == "f16"
    hint, reason = inference_precision("fp16", "cpu", ["BF16", "FP32", "INT8"])  # a CPU without AVX512-FP16
    assert hint == "f32" and "no FP16 compute" in reason
    assert inference_precision("fp16", "npu", ["FP16"])[0] is None  # the NPU takes no hint
    assert inference_precision("int8", "cpu", ["FP16"])[0] is None  # int8 stays as gated
