"""Instruction-driven restoration (TIP, issue 12): a picture and a restoration
instruction in ("denoise, sigma 25", "remove blur of 2 px", "remove all degradation"),
with a strength from 0 to 1, the restored picture out.

Two components (``edgezoo.zoo.variants.tip``): ``text_encoder`` (``tokens`` and
``numbers``, made from the instruction by the torch-free tokenizer of
:mod:`edgezoo.tasks.instructions`) -> ``instruction``, an embedding; and ``net``
(``image`` and ``instruction``) -> ``restored``. The program is ``tiled`` over ``net``
with ``once: [text_encoder]``: the text encoder runs once per request and its embedding
feeds every tile (:mod:`edgezoo.runtimes.compose`). A request without an instruction is
blind: "remove all degradation", strength 1.

Quality: PSNR/SSIM on the evaluation photos blurred by 1.5 px and noised at sigma 15
(:data:`edgezoo.zoo.degradations.INSTRUCTED_DEGRADATIONS`), the model told the blind
default, through the whole program as the runtime serves it; reduced precisions within
0.3 dB of fp32's. Each component is int8-calibrated on its own inputs in service: the
tokens of instructions drawn as training draws them, and pictures degraded as those
instructions describe with the embedding the fp32 text encoder gives them."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.manifests.schema import Metric, ModelSpec, Program, QualityResult
from edgezoo.tasks.base import Contract, QualitySet, QualityTolerance, RunFunction, TaskProtocol

INT8_TOLERANCE_DB = 0.3
DEFAULT_INSTRUCTION = "remove all degradation"  # a request that says nothing is blind
QUALITY_SETTING = "noise-15+blur-1.5"  # the measured degradation (edgezoo.zoo.degradations)


class InstructRestoreProtocol(TaskProtocol):
    name = "instruct-restore"
    tasks = ("restore",)
    metrics = (Metric(name="psnr_db", unit="dB", note=f"blur 1.5 px + noise sigma 15, told {DEFAULT_INSTRUCTION!r}"),
               Metric(name="ssim"))
    request_options = ("instruction", "strength")

    def spec(self, entry: Any, height: int | None = None, width: int | None = None, dynamic: bool = False) -> ModelSpec:
        from edgezoo.zoo.variants.tip import components

        sides: tuple[int | str, int | str] = ("H", "W") if dynamic or height is None else (height, width)
        return ModelSpec(
            protocol=self.name, components=components(entry.config, sides, entry.input_spec.multiple_of),
            program=Program(kind="tiled", component="net", once=["text_encoder"]), metrics=list(self.metrics),
        )

    def request_feeds(self, spec: ModelSpec, request: dict[str, Any]) -> dict[str, np.ndarray]:
        """``tokens`` and ``numbers`` of the request's ``instruction`` (default: blind,
        :data:`DEFAULT_INSTRUCTION`) with its ``strength`` (0 to 1; default: the full
        instruction); anything else the request sets is refused in one line."""
        from edgezoo.errors import BadInputError
        from edgezoo.tasks.instructions import tokenize

        unknown = sorted(k for k, v in request.items() if v is not None and k not in self.request_options)
        if unknown:
            raise BadInputError(f"an instruction-driven restoration takes an instruction and a strength, not "
                                f"{', '.join(unknown)}")
        instruction = request.get("instruction")
        if instruction is not None and not str(instruction).strip():
            raise BadInputError("the instruction is empty: say what to fix, like 'remove the noise', or leave it "
                                f"out for {DEFAULT_INSTRUCTION!r}")
        strength = request.get("strength")
        encoder = spec.component(spec.program.once[0])
        width = int(encoder.inputs[0].shape[-1])
        ids, numbers = tokenize(DEFAULT_INSTRUCTION if instruction is None else str(instruction),
                                None if strength is None else float(strength), width)
        tokens, values = (t.name for t in encoder.inputs)
        return {tokens: ids, values: numbers}

    def describe_request(self, request: dict[str, Any]) -> str:
        instruction = request.get("instruction")
        told = repr(instruction) if instruction is not None else f"{DEFAULT_INSTRUCTION!r} (the default)"
        strength = request.get("strength")
        return f"instruction: {told}, strength {1.0 if strength is None else float(strength):g}"

    def postprocess(self, outputs: dict[str, np.ndarray], spec: ModelSpec, top_k: int = 5) -> dict[str, Any]:
        name = spec.component().outputs[0].name
        return {"image": outputs[name] if name in outputs else next(iter(outputs.values()))}

    # --- reduced precision --------------------------------------------------------------

    def int8_tolerance(self, task: str) -> QualityTolerance | None:
        return QualityTolerance("psnr_db", "dB", INT8_TOLERANCE_DB) if task in self.tasks else None

    def quality_problem(self, task: str) -> str | None:
        from edgezoo.tasks.conditional import ConditionalRestoreProtocol

        return ConditionalRestoreProtocol().quality_problem(task)

    def calibration_samples(self, contract: Contract, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """What one component sees in service: instructions drawn as training draws them
        (``edgezoo.zoo.train_tip.draw_example``), tokenized; for the net, a view of the
        bundled calibration photos degraded as the drawn instruction's example is, with the
        embedding the model's text encoder (PyTorch, fp32) gives the instruction. Sample i
        depends only on (seed, i)."""
        import torch

        from edgezoo.export.quantize.calibration import clean_mosaic
        from edgezoo.tasks.base import contract_inputs
        from edgezoo.tasks.instructions import tokenize
        from edgezoo.zoo.degradations import blur_then_noise
        from edgezoo.zoo.registry import create_model
        from edgezoo.zoo.train_tip import draw_example

        spec = ModelSpec.model_validate(contract["spec"])
        encoder_name = spec.program.once[0]
        inputs = contract_inputs(contract)
        encoder = None if contract.get("component") == encoder_name else create_model(contract["model"]).text_encoder
        samples = []
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            noise, blur, instruction = draw_example(rng)
            ids, numbers = tokenize(instruction.text, instruction.strength)
            if encoder is None:
                samples.append({inputs[0].name: ids, inputs[1].name: numbers})
                continue
            image = next(t for t in inputs if t.role == "image")
            height, width = (int(d) for d in image.shape[-2:])
            degraded, _ = blur_then_noise(clean_mosaic(height, width, rng), rng, noise=noise, blur=blur)
            with torch.no_grad():
                embedding = encoder(torch.from_numpy(ids), torch.from_numpy(numbers)).numpy()
            other = next(t for t in inputs if t.role != "image")
            samples.append({image.name: np.ascontiguousarray(degraded.transpose(2, 0, 1)[None], np.float32),
                            other.name: embedding.astype(np.float32)})
        return samples

    def describe_calibration(self, contract: Contract, count: int) -> str:
        return (f"{count} instructions drawn as training draws them (the net: views of the bundled calibration "
                "photos degraded as each instruction's example, with its fp32 embedding)")

    # --- task quality, through the whole program ------------------------------------------

    def quality_set(self, contract: Contract, split: str, data: Any = None) -> QualitySet:
        from edgezoo.tasks.restore import RestoreProtocol

        return RestoreProtocol().quality_set(contract, split, data)

    def measure_quality(
        self, contract: Contract, run: RunFunction, data: QualitySet, *, tile: tuple[int, int] | None = None,
        align: int = 1, seed: int = 0,
    ) -> QualityResult:
        """PSNR/SSIM on ``data``'s photos blurred by 1.5 px and noised at sigma 15 (photo
        ``i`` of the sorted set from ``default_rng(seed + i)``), told the blind default.
        ``run`` is the whole program on one tile (``{image, tokens, numbers} ->
        {restored}``: :func:`edgezoo.runtimes.compose.program_run`), tiled at ``tile``
        (None: whole photos padded to ``align``)."""
        from edgezoo.tasks.base import pick_output
        from edgezoo.zoo.degradations import INSTRUCTED_DEGRADATIONS
        from edgezoo.zoo.evaluate import nchw_restorer, score_degradation

        spec = ModelSpec.model_validate(contract["spec"])
        component = spec.component()
        image = next(t.name for t in component.inputs if t.role == "image")
        output = component.outputs[0].name
        request = self.request_feeds(spec, {})

        def program(batch: np.ndarray) -> np.ndarray:
            return pick_output(run({image: np.ascontiguousarray(batch, np.float32), **request}), output)

        restore = nchw_restorer(program, align, None if tile is None else (int(tile[0]), int(tile[1])))
        result = score_degradation(restore, data.data, INSTRUCTED_DEGRADATIONS[QUALITY_SETTING], seed,
                                   what=f"told {DEFAULT_INSTRUCTION!r}")
        assert result.mean is not None
        return result.model_copy(update={"note": f"told {DEFAULT_INSTRUCTION!r}"})


__all__ = ["DEFAULT_INSTRUCTION", "INT8_TOLERANCE_DB", "InstructRestoreProtocol", "QUALITY_SETTING"]
