"""The contract carries models with several inputs and outputs through every converter
and the parity gate, with no special case: an (image, condition, timestep, text tokens)
-> (noise estimate, logits) model, the shape of the diffusion and text-driven families."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from edgezoo.export.parity import inputs_for_artifact, measure_parity, parity_inputs, reference_outputs  # noqa: E402
from edgezoo.manifests.schema import IOContract, TensorSpec  # noqa: E402
from edgezoo.tasks.feeds import example_feeds  # noqa: E402

VOCAB, CLASSES = 10, 5


class StepModel(nn.Module):
    """A small conditional step graph: every input changes both outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 8, 3, padding=1)
        self.out = nn.Conv2d(8, 3, 3, padding=1)
        self.time = nn.Linear(1, 8)
        self.tokens = nn.Embedding(VOCAB, 8)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, image, condition, timestep, tokens):
        h = self.conv(torch.cat([image, condition], dim=1))
        h = torch.relu(h + (self.time(timestep.view(-1, 1)) + self.tokens(tokens).mean(1))[:, :, None, None])
        return self.out(h), self.head(h.mean(dim=(2, 3)))


def contract(sides: list) -> IOContract:
    image = TensorSpec(name="image", role="image", shape=[1, 3, *sides], multiple_of=4)
    return IOContract(
        inputs=[
            image,
            image.model_copy(update={"name": "condition", "role": "condition"}),
            TensorSpec(name="timestep", role="timestep", shape=[1], layout="N", color=None),
            TensorSpec(name="tokens", role="text_tokens", shape=[1, 4], dtype="int32", layout="NL",
                       range=(0, VOCAB - 1), color=None),
        ],
        outputs=[
            image.model_copy(update={"name": "eps", "multiple_of": None, "shape_rule": "same:image"}),
            TensorSpec(name="logits", role="logits", shape=[1, CLASSES], layout="NC", range=None, color=None,
                       shape_rule="fixed"),
        ],
    )


def metadata(io: IOContract, fmt: str) -> dict:
    return {"model": "step-test", "description": "multi-input contract test", "format": fmt, "precision": "fp32",
            "io": io.model_dump(mode="json"), "licence": "Apache-2.0"}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return StepModel().eval()


def test_example_feeds_follow_roles():
    feeds = example_feeds(contract(["H", "W"]).inputs, {"H": 8, "W": 12}, rng=3)
    assert list(feeds) == ["image", "condition", "timestep", "tokens"]
    assert feeds["image"].shape == (1, 3, 8, 12) and feeds["image"].dtype == np.float32
    assert 0.0 <= feeds["image"].min() and feeds["image"].max() <= 1.0
    assert feeds["tokens"].dtype == np.int32 and 0 <= feeds["tokens"].min() and feeds["tokens"].max() < VOCAB
    again = example_feeds(contract(["H", "W"]).inputs, {"H": 8, "W": 12}, rng=3)
    assert all(np.array_equal(feeds[k], again[k]) for k in feeds)  # seeded


def test_photo_requests_fill_every_picture_input():
    requests = parity_inputs(8, 12, seed=0, n_random=1, n_photos=1, tensors=contract(["H", "W"]).inputs)
    photo = requests[-1]
    assert photo.name.startswith("photo:")
    assert photo.feeds["image"].shape == photo.feeds["condition"].shape == (1, 3, 8, 12)
    assert photo.feeds["timestep"].shape == (1,)


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "openvino", "coreml"])
def test_every_converter_carries_every_input_and_output(fmt, model, tmp_path):
    from edgezoo.export.formats import converter

    io = contract([8, 12])
    requests = parity_inputs(8, 12, seed=1, n_random=2, n_photos=1, tensors=io.inputs)
    refs = reference_outputs(model, requests, ["eps", "logits"])
    example = {k: torch.from_numpy(v) for k, v in example_feeds(io.inputs, rng=0).items()}
    suffix = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml", "coreml": ".mlpackage"}[fmt]
    path = tmp_path / f"step{suffix}"
    converter(fmt).convert(model, example, path, metadata(io, fmt))
    report = measure_parity(path, fmt, "fp32", model, requests, expected_io=io.model_dump(mode="json"),
                            references=refs)
    assert report.passed, report.note
    if fmt == "coreml":
        assert not report.executed  # no Core ML prediction off macOS; the spec's 4 inputs and 2 outputs were checked
    else:
        assert report.executed and report.psnr_db >= 100.0


def test_dynamic_onnx_shares_symbolic_dims_across_inputs(model, tmp_path):
    from edgezoo.export import onnx_export

    io = contract(["H", "W"])
    path = tmp_path / "step-dynamic.onnx"
    example = {k: torch.from_numpy(v) for k, v in example_feeds(io.inputs, {"H": 8, "W": 8}, rng=0).items()}
    onnx_export.convert(model, example, path, metadata(io, "onnx"), dynamic_multiple_of=4)
    requests = inputs_for_artifact(8, 12, 4, static_shape=False, seed=2, tensors=io.inputs)
    assert {r.feeds["image"].shape for r in requests} == {(1, 3, 8, 12), (1, 3, 12, 20)}
    report = measure_parity(path, "onnx", "fp32", model, requests, expected_io=io.model_dump(mode="json"))
    assert report.passed and report.psnr_db >= 100.0, report.note


def test_parity_judges_every_output(model, tmp_path):
    """An artifact whose image output is exact but whose logits are off fails, and says
    which output."""
    from edgezoo.export import onnx_export

    io = contract([8, 12])
    path = tmp_path / "step.onnx"
    example = {k: torch.from_numpy(v) for k, v in example_feeds(io.inputs, rng=0).items()}
    onnx_export.convert(model, example, path, metadata(io, "onnx"))
    changed = StepModel().eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.head.bias.add_(0.05 * torch.randn(CLASSES))
    requests = parity_inputs(8, 12, seed=4, n_random=2, n_photos=0, tensors=io.inputs)
    report = measure_parity(path, "onnx", "fp32", changed, requests, expected_io=io.model_dump(mode="json"))
    assert not report.passed
    assert "(logits)" in (report.worst_input or "")
