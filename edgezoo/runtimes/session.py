"""``load(name) -> Session``: the runtime's one entry point.

A session holds the plan (what was chosen and why) and a loaded runner; calling it
on an image does the manifest's preprocessing, runs the artifact by the model's
program (``tiled``: tiles for fixed-shape artifacts, reflect-padding to the model's
multiple for dynamic ones; ``single``: one call on the picture fitted to the input) and
returns the image in the layout and dtype it was given (restored, or at the size its
output's shape rule gives), or the task's answer (a classifier's labels); a ``sampler``
program generates (``session.generate``) by a numpy scheduler's loop around the
exported step graph, or, for a predict-and-refine model, restores a picture by its
predictor then that loop over the residual (``edgezoo.runtimes.refine``). Sessions are
thread-safe: they hold no per-call state and every backend runner is.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Sequence

import numpy as np

from edgezoo.errors import ArtifactIntegrityError, BackendUnavailableError, BadInputError
from edgezoo.files import sha256_file
from edgezoo.manifests import Manifest
from edgezoo.runtimes.backends import get_backend
from edgezoo.runtimes.backends.base import Runner
from edgezoo.runtimes.inventory import Inventory
from edgezoo.runtimes.planner import DEFAULT_IMAGE_SIZE, DEFAULT_PREFER, Plan, is_static, multiple_of, plan, refine_program
from edgezoo.runtimes.preprocess import fit_to_tensor
from edgezoo.runtimes.serving import PAD_MODES, serve
from edgezoo.runtimes.store import ExportDir, export_lock, resolve

_LAYOUTS = ("HWC", "CHW", "NHWC", "NCHW")


def _channels_axis(shape: tuple[int, ...], last: int, first: int) -> int | None:
    """Which axis holds the channels: RGB wins (the layouts before grey and alpha were
    accepted read exactly as they did), then 1 (grey), 2 (grey + alpha) or 4 (RGBA)."""
    for counts in ((3,), (1, 2, 4)):
        if shape[last] in counts:
            return last
        if shape[first] in counts:
            return first
    return None


def to_batch(image: Any) -> tuple[np.ndarray, str, bool]:
    """Validate a picture and return (N x C x H x W float32 in [0, 1]-ish, layout, was_uint8).

    Accepts uint8 (0-255) or float (0-1) arrays laid out HW (grey), HWC, CHW, NHWC or
    NCHW with C = 3 (RGB), 1 (grey), 2 (grey + alpha) or 4 (RGBA), or a PIL image.
    Anything else raises a one-line :class:`BadInputError`."""
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        mode = image.mode if image.mode in ("L", "LA", "RGB", "RGBA") else (
            "RGBA" if "A" in image.getbands() or "transparency" in getattr(image, "info", {}) else "RGB")
        image = np.asarray(image.convert(mode))
    if not isinstance(image, np.ndarray):
        raise BadInputError(
            f"expected an image as a numpy array (HxW, HxWx3, 3xHxW, NxHxWx3 or Nx3xHxW; 1, 2 or 4 channels "
            f"for grey, grey + alpha, RGBA) or a PIL image, got {type(image).__name__}"
        )
    if image.dtype == np.uint8:
        was_uint8 = True
    elif image.dtype in (np.float16, np.float32, np.float64):
        was_uint8 = False
    else:
        raise BadInputError(f"image dtype {image.dtype} is not supported: give uint8 (0-255) or float (0-1)")
    shape = image.shape
    axis = _channels_axis(shape, -1, -3) if image.ndim in (3, 4) else None
    if image.ndim == 2:
        layout, batch = "HW", image[None, None]
    elif image.ndim == 3 and axis == -1:
        layout, batch = "HWC", image.transpose(2, 0, 1)[None]
    elif image.ndim == 3 and axis == -3:
        layout, batch = "CHW", image[None]
    elif image.ndim == 4 and axis == -1:
        layout, batch = "NHWC", image.transpose(0, 3, 1, 2)
    elif image.ndim == 4 and axis == -3:
        layout, batch = "NCHW", image
    else:
        raise BadInputError(
            f"image shape {list(shape)} is not a picture in HW, HWC, CHW, NHWC or NCHW "
            "(3 channels for RGB, 1 grey, 2 grey + alpha, 4 RGBA)"
        )
    if min(batch.shape) == 0:
        raise BadInputError(f"image shape {list(shape)} is empty")
    if was_uint8:
        batch = batch.astype(np.float32) * np.float32(1 / 255)
    else:
        batch = batch.astype(np.float32, copy=False)
        if not np.isfinite(batch).all():
            raise BadInputError("image has NaN or infinite values")
    return batch, layout, was_uint8


def from_batch(batch: np.ndarray, layout: str, as_uint8: bool) -> np.ndarray:
    """Inverse of :func:`to_batch`'s layout and dtype change."""
    out = {"HW": lambda b: b[0, 0], "HWC": lambda b: b[0].transpose(1, 2, 0), "CHW": lambda b: b[0],
           "NHWC": lambda b: b.transpose(0, 2, 3, 1), "NCHW": lambda b: b}[layout](batch)
    if as_uint8:
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(out, dtype=np.float32)


# Where the G and B channels of a grey picture sample it (dy, dx): see grey_as_colour.
_GREY_NEIGHBOURS = ((0, 0), (0, 1), (1, 0))


def _shifted(planes: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[..., y, x] = planes[..., y + dy, x + dx]``, edges repeated outside."""
    height, width = planes.shape[-2:]
    pad = [(0, 0)] * (planes.ndim - 2) + [(max(0, -dy), max(0, dy)), (max(0, -dx), max(0, dx))]
    padded = np.pad(planes, pad, mode="edge")
    y0, x0 = max(0, dy), max(0, dx)
    return padded[..., y0:y0 + height, x0:x0 + width]


def grey_as_colour(grey: np.ndarray, neighbours: bool) -> np.ndarray:
    """N x 1 x H x W grey to N x 3 x H x W for a colour model.

    With ``neighbours``, G and B hold each pixel's right and lower neighbours. A colour
    denoiser learned that noise differs between channels while the picture agrees; a
    grey picture copied three times has the same noise in every channel, which the
    model keeps as detail (sample photo, sigma 25: 21.7 dB). Neighbours agree almost
    as well as copies but carry independent noise (29.3 dB)."""
    if not neighbours:
        return np.repeat(grey, 3, axis=1)
    return np.concatenate([_shifted(grey, dy, dx) for dy, dx in _GREY_NEIGHBOURS], axis=1)


def colour_to_grey(out: np.ndarray, neighbours: bool) -> np.ndarray:
    """Inverse of :func:`grey_as_colour`: each channel's answer moved back to its own
    pixel and the three averaged (the first row and column have fewer answers: no
    pixel has them as its lower or right neighbour)."""
    if not neighbours:
        return out.mean(axis=1, keepdims=True, dtype=np.float32)
    total = np.zeros_like(out[:, :1])
    count = np.zeros(out.shape[-2:], np.float32)
    height, width = out.shape[-2:]
    for channel, (dy, dx) in enumerate(_GREY_NEIGHBOURS):
        # the answer for pixel (y, x) sits at (y - dy, x - dx) of this channel
        total[..., dy:, dx:] += out[:, channel:channel + 1, :height - dy, :width - dx]
        count[dy:, dx:] += 1
    return total / count


def _resized_plane(plane: np.ndarray, sides: tuple[int, int]) -> np.ndarray:
    """A (1, 1, H, W) float plane in [0, 1] (an alpha channel) resized to ``sides``, bilinear."""
    from PIL import Image

    height, width = sides
    if plane.shape[-2:] == (height, width):
        return plane.astype(np.float32)
    picture = Image.fromarray(np.ascontiguousarray(plane[0, 0], dtype=np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.float32)[None, None]


class Session:
    """A loaded choice. ``session(image)`` restores one image or a batch; ``session.plan``
    says what runs where and why; ``session.describe()`` adds what the backend reports."""

    def __init__(self, plan: Plan, runner: Runner, manifest: Manifest, tile_overlap: int | None = None,
                 partners: dict[str, Runner] | None = None) -> None:
        from edgezoo.tasks import protocol_named

        self.plan, self.runner, self.manifest = plan, runner, manifest
        self.partners = dict(partners or {})  # the other components' runners (a predictor, a text encoder)
        self.refine = refine_program(manifest)
        self.seed = 0  # a predict-and-refine request's noise: sample_rng(seed, 0), the same for every tile
        self.steps: int | None = None  # overrides the plan's number of refinement steps (0: the predictor alone)
        self.spec = manifest.model_spec()
        self.protocol = protocol_named(self.spec.protocol)
        self.option = plan.chosen
        self.artifact = plan.chosen.artifact
        self.static = is_static(self.artifact)
        self.multiple_of = multiple_of(manifest)
        self.tile_overlap = tile_overlap
        self._dtype = np.dtype(runner.inputs[0].dtype) if runner.inputs else np.dtype(np.float32)
        pre = manifest.preprocessing
        self._pad_mode = pre.pad_mode if pre.pad_mode in PAD_MODES else "reflect"
        self._clip = pre.clip_output

    # ---- running ---------------------------------------------------------------------
    def _call(self, x: np.ndarray) -> np.ndarray:
        out = self.runner.run(x.astype(self._dtype, copy=False))
        return next(iter(out.values())).astype(np.float32, copy=False)

    def run_nchw(self, x: np.ndarray, fixed: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """One 1x3xHxW float32 image through the artifact (tiles or padding as needed),
        by :func:`edgezoo.runtimes.serving.serve`, the path evaluation also scores.
        ``fixed``: the outputs of the program's once-per-request components
        (:meth:`request_outputs`), fed to every tile."""
        if self.refine is not None:
            return self._run_refine(x)
        call = self._call
        if self.spec.program.once:
            from edgezoo.runtimes.compose import tile_function

            call = tile_function(self.spec, self.runner, self.request_outputs({}) if fixed is None else fixed)
        tile = (int(self.artifact.input_shape[-2]), int(self.artifact.input_shape[-1])) if self.static else None
        return serve(call, x, self.multiple_of, tile, self.tile_overlap, self._pad_mode)

    def request_outputs(self, request: dict[str, Any]) -> dict[str, np.ndarray]:
        """What a request's parameters (``instruction``, ``strength``: the task protocol's
        ``request_options``) become: the protocol makes them tensors (refusing, in one
        line, any this model does not take), and each once-per-request component of the
        program runs on them once (:func:`edgezoo.runtimes.compose.once_outputs`)."""
        feeds = self.protocol.request_feeds(self.spec, request)
        if not self.spec.program.once:
            return {}
        from edgezoo.runtimes.compose import once_outputs

        return once_outputs(self.spec, self.partners, feeds)

    # ---- predict-and-refine ----------------------------------------------------------
    def _run_refine(self, x: np.ndarray) -> np.ndarray:
        """A predict-and-refine request: per tile of the predictor's fixed input (or the
        padded picture, for dynamic artifacts), the predictor once, then the plan's
        number of steps of the step graph on the residual (zero: the predictor alone)."""
        from edgezoo.runtimes.refine import refine_run

        program = self.refine
        predictor = self.option.partners[program.predictor]
        steps = self.option.steps if self.steps is None else self.steps
        scheduler = None if steps == 0 else self.scheduler(steps)
        run = refine_run(program, self.spec.component(), self.partners[program.predictor], self.runner, scheduler,
                         self.seed)

        def one_tile(tile: np.ndarray) -> np.ndarray:
            return run({program.predictor_input: tile})["restored"]

        tile = (int(predictor.input_shape[-2]), int(predictor.input_shape[-1])) if is_static(predictor) else None
        return serve(one_tile, x, max(1, self.manifest.preprocessing.pad_to_multiple_of), tile, self.tile_overlap,
                     self._pad_mode, self.spec.program.scale)

    @property
    def returns_image(self) -> bool:
        """Whether a request answers with a picture (the program's component's first
        output has the ``image`` role) rather than, say, a classifier's labels."""
        outputs = self.spec.component().outputs
        return bool(outputs) and outputs[0].role == "image"

    def _single_input(self) -> Any:
        tensor = self.spec.component().inputs[0]
        if not all(isinstance(d, int) for d in tensor.shape):
            tensor = tensor.model_copy(update={"shape": list(self.artifact.input_shape)})
        return tensor

    def _single_call(self, picture: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(outputs, model input) of one call on one (1, C, H, W) picture fitted to the input."""
        x = fit_to_tensor(picture, self._single_input())
        outputs = self.runner.run(x.astype(self._dtype, copy=False))
        return {k: v.astype(np.float32, copy=False) for k, v in outputs.items()}, x

    def run_single(self, image: Any) -> dict[str, Any]:
        """A ``single`` program: one call on ``image`` fitted to the component's fixed
        input, post-processed by the task protocol (a classifier's label and top-5)."""
        batch, _, _ = to_batch(image)
        outputs, _ = self._single_call(batch[:1])
        return self.protocol.postprocess(outputs, self.spec)

    def run_single_image(self, image: Any) -> Any:
        """A ``single`` program whose output is an image (a learned resizer): each picture
        fitted to the component's fixed input, one call, the output at the size its shape
        rule gives (checked: an artifact that disagrees with its contract is an error),
        clipped, in the caller's layout and dtype. The output has the model's channels
        (a grey model answers grey); an alpha channel is resized (bilinear) and kept."""
        batch, layout, was_uint8 = to_batch(image)
        component = self.spec.component()
        rule_output = component.outputs[0]
        outs = []
        for i in range(batch.shape[0]):
            outputs, x = self._single_call(batch[i:i + 1])
            out = self.protocol.postprocess(outputs, self.spec)["image"]
            want = rule_output.output_sides({component.inputs[0].name: (int(x.shape[-2]), int(x.shape[-1]))})
            if out.ndim != 4 or tuple(out.shape[-2:]) != want:
                raise ArtifactIntegrityError(
                    f"{self.artifact.file} returned shape {list(out.shape)}, but its contract's shape rule "
                    f"'{rule_output.shape_rule or 'fixed'}' gives {want[0]}x{want[1]}: re-export it")
            if batch.shape[1] in (2, 4):
                out = np.concatenate([out, _resized_plane(batch[i:i + 1, -1:], want)], axis=1)
            outs.append(out)
        out = np.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
        lo, hi = self._clip
        np.clip(out, lo, hi, out=out)
        return from_batch(out, layout, was_uint8)

    # ---- sampler programs --------------------------------------------------------------
    def scheduler(self, steps: int | None = None) -> Any:
        """The scheduler of the model's sampler program (``edgezoo.runtimes.samplers``),
        with ``steps`` sampling steps (default: the plan's choice, when the planner chose
        a step count for the budget, else the program's)."""
        from edgezoo.runtimes.samplers import scheduler_from_dict

        if self.spec.program.kind != "sampler":
            raise BadInputError(f"{self.manifest.name} is served by a '{self.spec.program.kind}' program, not a sampler")
        return scheduler_from_dict(self.spec.program.sampler or {}, steps or self.option.steps)

    def generate(self, count: int = 1, seed: int = 0, steps: int | None = None, raw: bool = False) -> np.ndarray:
        """``count`` samples of a ``sampler`` program: the starting noise drawn from ``seed``
        (sample i from ``samplers.sample_rng(seed, i)``, as the PyTorch reference draws it),
        then one call of the exported step graph per step of the program's scheduler
        (``steps`` overrides the plan's or program's number of steps). Returns (count, C, H, W) float32
        pictures in [0, 1], or with ``raw`` the final samples in the sampler's range."""
        from edgezoo.runtimes.samplers import generate, step_inputs

        scheduler = self.scheduler(steps)
        component = self.spec.component()
        sample, timestep = step_inputs(component.inputs)
        output = component.outputs[0].name
        shape = tuple(int(d) for d in (sample.shape if all(isinstance(d, int) for d in sample.shape)
                                       else self.artifact.input_shape))

        def denoise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
            feeds = {sample.name: x.astype(self._dtype, copy=False),
                     timestep.name: t.astype(np.dtype(timestep.dtype), copy=False)}
            out = self.runner.run(feeds)
            return (out[output] if output in out else next(iter(out.values()))).astype(np.float32, copy=False)

        samples = generate(denoise, scheduler, shape, count, seed, np.dtype(timestep.dtype))
        return samples if raw else self.protocol.postprocess({"sample": samples}, self.spec)["image"]

    def __call__(self, image: Any, **request: Any) -> Any:
        """Serve one request.

        ``request`` holds what the request says besides its picture, for a task that
        takes it (an instruction-driven restorer's ``instruction`` and ``strength``, 0 to
        1; left out: "remove all degradation", in full); a model that takes none refuses
        any in one line.

        A model whose program is ``single`` answers from one call on the picture fitted
        to its input: a classifier (logits out) with its task's post-processed outputs,
        e.g. ``{"label": ..., "index": ..., "top": [...]}``; a model whose output is an
        image (a learned resizer) with that image, at the size its output's shape rule
        gives, in the caller's layout and dtype (see :meth:`run_single_image`).

        A restoration model restores ``image`` (uint8 or float; HW, HWC, CHW, NHWC or
        NCHW; or a PIL image) and returns the result in the same layout, channels and
        dtype: uint8 for uint8 input, float32 otherwise. RGB runs as it is. Grey (1
        channel) runs as colour and comes back grey: for a denoiser the colour channels
        hold each pixel and its right and lower neighbours (see :func:`grey_as_colour`),
        for other tasks three copies; the restored channels are averaged. An alpha
        channel (grey + alpha, RGBA) is not restored but copied back unchanged."""
        fixed = self.request_outputs(request)
        if self.spec.program.kind == "single":
            return self.run_single_image(image) if self.returns_image else self.run_single(image)
        if self.spec.program.kind == "sampler" and self.refine is None:
            raise BadInputError(f"{self.manifest.name} generates from noise (a sampler program) and takes no "
                                "picture: call session.generate(count, seed, steps)")
        batch, layout, was_uint8 = to_batch(image)
        channels = batch.shape[1]
        neighbours = self.manifest.task == "denoise"  # the trick is about noise; others get copies
        colour = batch[:, :3] if channels >= 3 else grey_as_colour(batch[:, :1], neighbours)
        outs = [self.run_nchw(colour[i:i + 1], fixed) for i in range(colour.shape[0])]
        out = np.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
        lo, hi = self._clip
        np.clip(out, lo, hi, out=out)
        if channels < 3:
            out = colour_to_grey(out, neighbours)
        if channels in (2, 4):
            out = np.concatenate([out, batch[:, channels - 1:]], axis=1)
        return from_batch(out, layout, was_uint8)

    def describe(self) -> dict[str, Any]:
        """The plan's choice plus what the backend says actually executes where."""
        if self.spec.program.kind == "single":
            serving = f"one call per image, fitted to {'x'.join(str(d) for d in self.artifact.input_shape)}"
            output = self.spec.component().outputs[0]
            if self.returns_image:
                h, w = output.output_sides({self.spec.component().inputs[0].name:
                                            tuple(int(d) for d in self._single_input().shape[-2:])})
                serving += f"; output {h}x{w} (shape rule {output.shape_rule or 'fixed'})"
        elif self.refine is not None:
            predictor = self.option.partners[self.refine.predictor]
            tiles = ("overlapping tiles of " + "x".join(str(d) for d in predictor.input_shape[-2:])
                     if is_static(predictor) else "the padded picture whole")
            count = self.option.steps if self.steps is None else self.steps
            steps = "" if count == 0 else f", then {count} steps of the {self.spec.program.component} on the residual"
            serving = f"predict-and-refine over {tiles}: the {self.refine.predictor} once per tile{steps}"
        elif self.spec.program.kind == "sampler":
            sampler = self.spec.program.sampler or {}
            shape = "x".join(str(d) for d in self.artifact.input_shape)
            serving = (f"sampler: {sampler.get('kind')} over {sampler.get('steps')} steps, one call of the "
                       f"{self.spec.program.component} at {shape} per step")
        elif self.static:
            serving = "fixed shape: overlapping tiles, blended"
        else:
            serving = f"dynamic shape: reflect-padded to a multiple of {self.multiple_of}"
        if self.spec.program.once:
            serving += f"; the {' and the '.join(self.spec.program.once)} once per request, its output fed to every call"
        described = {**self.option.to_dict(), "runtime": self.runner.describe(), "tiling": serving}
        if self.partners:
            described["partner_runtimes"] = {name: r.describe() for name, r in self.partners.items()}
        return described

    def __repr__(self) -> str:
        return f"Session({self.plan.summary()})"


def load(
    name_or_dir: str | os.PathLike,
    budget_ms: float | None = None,
    prefer: Sequence[str] = DEFAULT_PREFER,
    backend: str | None = None,
    precision: str | None = None,
    search: list[str | os.PathLike] | None = None,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    inventory: Inventory | None = None,
    threads: int | None = None,
    verify: bool = True,
    tile_overlap: int | None = None,
    artifact: str | None = None,
    max_memory_mb: float | None = None,
) -> Session:
    """Load the best way to run a model, a task or an export dir within a budget.

    Parameters
    ----------
    name_or_dir : a model (``maxim-tiny-denoise``), a task (``denoise``) or an export dir.
    budget_ms : p90 latency allowed for one image of ``image_size`` (None: fastest).
    prefer : device kinds in order of preference; kinds left out are not used.
    backend, precision : restrict the choice to one backend / artifact precision.
    search : folders searched before ``EDGEZOO_ARTIFACTS`` and the cache (see ``store``).
    image_size : the (height, width) the budget is for; any size runs.
    inventory : the backends x devices to choose from (default: probed on this host).
    threads : intra-op threads for the backend (default: the backend's own choice).
    verify : check the artifact's sha256 against its manifest before loading.
    tile_overlap : override the tile overlap for fixed-shape artifacts (pixels).
    artifact : restrict to one artifact (key such as ``onnx-fp32-static``, file name or format).
    max_memory_mb : peak memory (MB) one call may use (None: half the host's available
        memory where psutil is installed, else no limit; see :func:`planner.plan`).

    Returns
    -------
    Session. If the chosen option fails to load, the next plan is tried and the
    failure is stated first in ``session.plan.reasons``; if every option fails, the
    first failure is raised.
    """
    with contextlib.ExitStack() as held:
        # shared locks on the export dirs, then their manifests read again: an export
        # that was committing meanwhile has finished, and none starts until the load is done
        for export in resolve(name_or_dir, search):
            held.enter_context(export_lock(export.path, exclusive=False))
        exports = resolve(name_or_dir, search)
        return _load_from(exports, budget_ms, prefer, backend, precision, image_size, inventory, threads, verify,
                          tile_overlap, artifact, max_memory_mb)


def _load_from(exports: list[ExportDir], budget_ms: float | None, prefer: Sequence[str], backend: str | None,
               precision: str | None, image_size: tuple[int, int], inventory: Inventory | None, threads: int | None,
               verify: bool, tile_overlap: int | None, artifact: str | None, max_memory_mb: float | None) -> Session:
    manifests = {(e.manifest.name, e.path): e.manifest for e in exports}
    exclude: dict[str, str] = {}
    failures: list[tuple[str, Exception]] = []
    while True:
        try:
            chosen_plan = plan(exports, budget_ms, prefer, backend, precision, image_size, inventory,
                               exclude=exclude, artifact=artifact, max_memory_mb=max_memory_mb)
        except BadInputError:
            if failures:  # every runnable option failed to load: that is the error
                raise failures[0][1] from None
            raise
        option = chosen_plan.chosen
        assert option.export_dir is not None
        try:
            runner = _load_runner(option, option.artifact, threads, verify)
            partners = {name: _load_runner(option, art, threads, verify) for name, art in option.partners.items()}
        except (ArtifactIntegrityError, BackendUnavailableError) as exc:
            exclude[option.label] = f"failed to load here: {exc}"
            failures.append((option.label, exc))
            continue
        for label, exc in reversed(failures):
            chosen_plan.reasons.insert(0, f"fell back: {label} failed to load ({exc})")
        manifest = manifests[(option.model, option.export_dir)]
        return Session(chosen_plan, runner, manifest, tile_overlap, partners)


def _load_runner(option: Any, artifact: Any, threads: int | None, verify: bool) -> Runner:
    """An artifact of the chosen option (its own, or a predict-and-refine partner), its
    sha256 checked against the manifest, loaded on the option's backend and device."""
    path = option.export_dir / artifact.file
    if verify and artifact.sha256 and path.is_file():
        digest = sha256_file(path)
        if digest != artifact.sha256:
            raise ArtifactIntegrityError(
                f"{path} has sha256 {digest[:12]}..., its manifest says {artifact.sha256[:12]}...: re-export it")
    return get_backend(option.backend).load(path, option.target.device, threads, precision=artifact.precision)
