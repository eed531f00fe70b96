"""The manifest schema: what every model and every artifact says about itself.

One YAML file per model ships in this folder; ``edgezoo export`` writes one more beside
the artifacts it builds. Both validate against :class:`Manifest`. This module needs
only pydantic and PyYAML, so the runtime reads manifests on a device without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from edgezoo.errors import ManifestError
from edgezoo.files import atomic_write_text

SCHEMA_VERSION = 1

Format = Literal["onnx", "tflite", "coreml", "openvino"]
Precision = Literal["fp32", "fp16", "int8"]
FORMATS: tuple[str, ...] = ("onnx", "tflite", "coreml", "openvino")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What a tensor means to the model: how a runtime fills an input and reads an output.
Role = Literal["image", "condition", "timestep", "noise", "text_tokens", "text_numbers", "embedding", "logits"]


class TensorSpec(_Strict):
    """One input or output tensor. Symbolic dims are strings (``"H"``). An output's
    ``shape_rule`` says how its size follows from the inputs: ``same:<input>`` (same
    spatial size), ``scale:<k>:<input>`` (k times it), or ``fixed``."""

    name: str
    role: Role = "image"
    shape: list[Union[int, str]]
    dtype: str = "float32"
    layout: str = "NCHW"
    range: Optional[tuple[float, float]] = (0.0, 1.0)
    color: Optional[str] = "RGB"
    multiple_of: Optional[int] = None
    shape_rule: Optional[str] = None

    @field_validator("shape_rule")
    @classmethod
    def _rule_is_readable(cls, rule: Optional[str]) -> Optional[str]:
        if rule is not None:
            try:
                parse_shape_rule(rule)
            except ManifestError as exc:  # pydantic reports ValueErrors as validation errors
                raise ValueError(str(exc)) from None
        return rule

    def output_sides(self, input_sides: dict[str, tuple[int, int]]) -> tuple[int, int]:
        """The (height, width) this output has when the inputs have ``input_sides``
        (input name -> (height, width)), by its ``shape_rule``: ``fixed`` takes its own
        shape, ``same:<input>`` that input's sides, ``scale:<k>:<input>`` k times them.
        No rule reads as ``fixed`` when the shape is all numbers."""
        kind, factor, source = parse_shape_rule(self.shape_rule or "fixed")
        if kind == "fixed":
            sides = self.shape[-2:]
            if len(sides) != 2 or not all(isinstance(d, int) for d in sides):
                raise ManifestError(f"output '{self.name}' has shape rule 'fixed' but symbolic sides {sides}")
            return int(sides[0]), int(sides[1])
        if source not in input_sides:
            raise ManifestError(f"output '{self.name}': shape rule '{self.shape_rule}' names no input of the call "
                                f"(inputs: {', '.join(input_sides) or 'none'})")
        height, width = input_sides[source]
        return round(height * factor), round(width * factor)


def parse_shape_rule(rule: str) -> tuple[str, float, Optional[str]]:
    """``fixed`` -> ("fixed", 1, None); ``same:image`` -> ("same", 1, "image");
    ``scale:2:image`` or ``scale:4/7:image`` -> ("scale", k, "image"). Anything else
    raises :class:`ManifestError`: a runtime must be able to compute every output's size."""
    parts = rule.split(":")
    if parts == ["fixed"]:
        return "fixed", 1.0, None
    if len(parts) == 2 and parts[0] == "same" and parts[1]:
        return "same", 1.0, parts[1]
    if len(parts) == 3 and parts[0] == "scale" and parts[2]:
        num, _, den = parts[1].partition("/")
        try:
            factor = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            factor = 0.0
        if factor > 0:
            return "scale", factor, parts[2]
    raise ManifestError(f"shape rule '{rule}' is not one of fixed, same:<input>, scale:<k>:<input> "
                        "(k a positive number or a fraction like 4/7)")


class IOContract(_Strict):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class Metric(_Strict):
    """A quality figure of a task: ``psnr_db`` (dB, higher is better), ``top1`` (%)..."""

    name: str
    unit: str = ""
    higher_is_better: bool = True
    note: Optional[str] = None  # how the figure is obtained, where the name alone does not say


class Program(_Strict):
    """How the runtime serves one request from the components. ``single``: one call of
    ``component`` on the input as given (resized to a fixed size if the component has
    one); ``tiled``: images of any size through overlapping tiles of a fixed-shape
    artifact (``halo`` pixels of context, output ``scale`` pixels per input pixel);
    ``sampler``: a multi-step loop over a step graph, its scheduler given as data.

    ``once`` names components called once per request, before ``component``: their
    inputs are the request's parameters, made into tensors by the task protocol
    (``request_feeds``: an instruction's tokens), and their outputs feed every call of
    ``component`` (every tile) by name (the instruction's embedding)."""

    kind: Literal["single", "tiled", "sampler"]
    component: str = "net"
    halo: int = 0
    scale: int = 1
    sampler: Optional[dict] = None
    once: list[str] = []


class Component(_Strict):
    """One named graph of a model, exported, gated and benchmarked on its own."""

    name: str = "net"
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class ModelSpec(_Strict):
    """The model contract every layer reads instead of assuming "one RGB image in, a
    same-size image out": components, how a request is served, the task protocol that
    supplies data, metrics and post-processing, and class labels where there are any."""

    protocol: str
    components: list[Component]
    program: Program
    metrics: list[Metric]
    labels: list[str] = []

    def component(self, name: str | None = None) -> Component:
        """The component called ``name`` (default: the one the program calls)."""
        wanted = name or self.program.component
        for component in self.components:
            if component.name == wanted:
                return component
        raise KeyError(f"no component '{wanted}' in this model spec")

    @property
    def metric(self) -> Metric:
        """The primary metric: what the planner compares variants by."""
        return self.metrics[0]


class Preprocessing(_Strict):
    """How a caller turns a picture into the model's input and back."""

    color: str = "RGB"
    scale: float = Field(1 / 255, description="multiply uint8 pixels by this")
    layout: str = "NCHW"
    pad_to_multiple_of: int = 1
    pad_mode: str = "reflect"
    clip_output: tuple[float, float] = (0.0, 1.0)


class Paper(_Strict):
    title: str
    url: str


class TrainingPhoto(_Strict):
    """One file of a training run's photo pool, by the sha256 of its bytes."""

    file: str
    sha256: str
    role: Literal["train", "held-out"]  # gradient steps, or only the checkpoint choice


class TrainingRecord(_Strict):
    """What a training run was, as it recorded itself: enough to run it again and to
    know whether the photos are the same ones."""

    command: str  # every option spelled out; the photo folders as DIR
    config: dict[str, Any]  # the run's full configuration (its folders included, as they were there)
    seed: int
    code_commit: Optional[str] = None  # git HEAD of the source tree (-dirty with local changes); None: not a checkout
    photos: list[TrainingPhoto] = []
    log: Optional[str] = None  # the run's log shipped beside the weights (edgezoo/weights/...)
    note: Optional[str] = None  # how the record was made when the run itself did not write it


class Weights(_Strict):
    file: str
    sha256: str
    bytes: int
    params: int
    trained_on: str
    recipe: str
    licence: str
    steps: Optional[int] = None
    dtype: str = "float32"  # how the floating-point tensors are stored; loading casts to the model's
    training: Optional[TrainingRecord] = None


class ImageScore(_Strict):
    psnr_db: float
    ssim: float


class QualityResult(_Strict):
    """Task quality on data never used for training or selection. Restoration fills
    ``mean`` (PSNR/SSIM on RGB in [0, 1]); other tasks fill ``metrics`` by metric name."""

    dataset: str
    degradation: str
    seed: int
    mean: Optional[ImageScore] = None
    metrics: dict[str, float] = {}
    per_image: dict[str, ImageScore] = {}
    baselines: dict[str, ImageScore] = {}
    baselines_per_image: dict[str, dict[str, ImageScore]] = {}
    note: Optional[str] = None
    # per-example outcomes (a classifier's right/wrong per image), kept in memory for a
    # paired comparison of two artifacts on the same examples; never written
    _outcomes: Optional[list[bool]] = PrivateAttr(default=None)

    def value(self, metric: str) -> Optional[float]:
        """The mean figure of ``metric`` (``psnr_db``, ``ssim`` or a ``metrics`` key)."""
        if metric in self.metrics:
            return self.metrics[metric]
        if self.mean is not None and metric in ("psnr_db", "ssim"):
            return getattr(self.mean, metric)
        return None


class Parity(_Strict):
    """Artifact output vs the PyTorch reference on fresh inputs."""

    executed: bool
    psnr_db: Optional[float] = None
    max_abs: Optional[float] = None
    threshold_db: float
    passed: bool
    backend: Optional[str] = None
    inputs: list[str] = []
    note: Optional[str] = None


class Latency(_Strict):
    device_profile: str
    backend: str
    device: str
    input_shape: list[int]
    p50_ms: float
    p90_ms: float
    peak_mb: Optional[float] = None
    runs: int


class ValidatorResult(_Strict):
    """One verdict of the artifact's own ecosystem's validator (onnx.checker, LiteRT's
    analyzer, OpenVINO's reader and compiler, coremltools' spec loader)."""

    validator: str
    passed: bool
    message: str
    details: dict[str, Union[str, int, float, bool, list[str]]] = {}


class Artifact(_Strict):
    # the model component this file implements (a predict-and-refine model has a
    # ``predictor`` and a ``denoiser``); None: the one component the program calls
    component: Optional[str] = None
    format: Format
    precision: Precision
    file: str
    sha256: str
    bytes: int
    static_shape: bool = True
    input_shape: list[Union[int, str]]
    tool_versions: dict[str, str] = {}
    quantization: Optional[dict[str, Union[str, int, float, bool, list[str]]]] = None
    parity: Optional[Parity] = None
    quality: Optional[QualityResult] = None
    latency: list[Latency] = []
    validators: list[ValidatorResult] = []
    # forward GFLOPs per megapixel of this graph's first input, for one component of a
    # model of several (the manifest's gflops_per_mpix is the model's as a whole)
    gflops_per_mpix: Optional[float] = None
    delegates: Optional[list[str]] = None  # tflite: delegates LiteRT's analyzer finds it compatible with

    @property
    def key(self) -> str:
        """A short unique name: component (where the model has several), format,
        precision and shape kind."""
        shape = "static" if self.static_shape else "dynamic"
        prefix = f"{self.component}-" if self.component else ""
        return f"{prefix}{self.format}-{self.precision}-{shape}"


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    name: str
    family: str
    task: str
    description: str = ""
    paper: Paper
    config: dict
    params: int
    gflops_per_mpix: Optional[float] = Field(None, description="forward GFLOPs per megapixel")
    io: IOContract
    spec: Optional[ModelSpec] = None  # absent in exports made before the model contract: see model_spec()
    preprocessing: Preprocessing
    weights: Optional[Weights] = None
    quality: list[QualityResult] = []
    artifacts: list[Artifact] = []

    def model_spec(self) -> ModelSpec:
        """The model contract; for manifests written before it existed, the restoration
        contract they all followed (one image in, a same-size image out, tiled)."""
        if self.spec is not None:
            return self.spec
        return ModelSpec(
            protocol="restore", components=[Component(name="net", inputs=self.io.inputs, outputs=self.io.outputs)],
            program=Program(kind="tiled"), metrics=[Metric(name="psnr_db", unit="dB"), Metric(name="ssim")],
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, width=100)

    def save(self, path: str | Path) -> Path:
        """Validate and write atomically."""
        return atomic_write_text(path, self.to_yaml())


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file; raise :class:`ManifestError` naming the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.yaml"
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: export one with `edgezoo export MODEL --out DIR`")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid YAML ({exc.__class__.__name__}); re-export it") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{path}: field '{where}': {first['msg']} ({exc.error_count()} error(s))") from None
