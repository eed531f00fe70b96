"""TIP's two graphs through every converter and the parity gate, and what the adaptor costs.

    python benchmarks/tip_export.py --run RUN [--side 128] [--out benchmarks/results/tip_export.json]

``text_encoder`` (token ids and numbers -> instruction embedding) and ``net`` (image and
embedding -> image) of the trained model are converted by the zoo's converters
(``edgezoo.export.formats``) with their contracts (``edgezoo.zoo.variants.tip.components``)
inside them, fp32 at a static ``--side`` x ``--side``, and each artifact's outputs are
compared with PyTorch's on fresh inputs by the export's own parity gate (every output,
by role; ONNX Runtime, LiteRT and OpenVINO execute; Core ML is converted and its spec
checked, not run: that needs macOS). Then ONNX Runtime times, on the same picture and in
the same run, the prior alone (``maxim-tiny-denoise``) against the text encoder + net:
the median of ``--repeats`` calls each, in rounds of rotating order, so the ratio is the adaptor's cost.
``edgezoo export tip-tiny-restore`` builds and gates the same two graphs through the export
pipeline (with the task quality of the whole program); this script adds the timing
against the prior on one picture.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgezoo.export.formats import converter  # noqa: E402
from edgezoo.files import atomic_write_text  # noqa: E402
from edgezoo.export.parity import measure_parity, parity_inputs, reference_outputs  # noqa: E402
from edgezoo.manifests.schema import IOContract  # noqa: E402
from edgezoo.runtimes.latency import time_round_robin  # noqa: E402
from edgezoo.runtimes.profile import device_profile  # noqa: E402
from edgezoo.tasks.feeds import example_feeds  # noqa: E402
from edgezoo.tasks.instructions import tokenize  # noqa: E402
from edgezoo.zoo.train_tip import SHIPPED, load_tip  # noqa: E402
from edgezoo.zoo.variants.tip import TINY, components  # noqa: E402

SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml", "coreml": ".mlpackage"}


def _metadata(component: Any, fmt: str) -> dict[str, Any]:
    io = IOContract(inputs=component.inputs, outputs=component.outputs)
    return {"model": "tip-tiny-restore", "component": component.name, "format": fmt, "precision": "fp32",
            "io": io.model_dump(mode="json"), "licence": "Apache-2.0",
            "description": "TIP (edge): instruction-driven restoration, frozen maxim-tiny-denoise + adaptor"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=None,
                        help="a train_tip run folder or its tip.safetensors (default: the shipped tip-tiny-restore, "
                             "the weights the README measured)")
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--formats", default="onnx,tflite,openvino,coreml")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/tip_export.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_tip(args.run)
    graphs = {"text_encoder": model.text_encoder.eval(), "net": model.net.eval()}
    result: dict[str, Any] = {"device_profile": device_profile().id, "side": args.side, "threads": args.threads,
                              "run": str(args.run or SHIPPED), "artifacts": []}
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[tuple[str, str], Path] = {}
        for component in components(TINY, (args.side, args.side)):
            module = graphs[component.name]
            io = IOContract(inputs=component.inputs, outputs=component.outputs)
            requests = parity_inputs(args.side, args.side, seed=7, n_random=2, n_photos=1, tensors=io.inputs)
            refs = reference_outputs(module, requests, [t.name for t in io.outputs])
            example = {k: torch.from_numpy(v) for k, v in example_feeds(io.inputs, rng=0).items()}
            for fmt in args.formats.split(","):
                path = Path(tmp) / f"tip-{component.name}{SUFFIX[fmt]}"
                began = time.perf_counter()
                converter(fmt).convert(module, example, path, _metadata(component, fmt))
                report = measure_parity(path, fmt, "fp32", module, requests, expected_io=io.model_dump(mode="json"),
                                        references=refs)
                files[(component.name, fmt)] = path
                row = {"component": component.name, "format": fmt, "passed": report.passed,
                       "executed": report.executed, "psnr_db": report.psnr_db, "max_abs": report.max_abs,
                       "note": report.note, "seconds": round(time.perf_counter() - began, 1)}
                result["artifacts"].append(row)
                print(json.dumps(row))
                if not report.passed:
                    raise SystemExit(f"parity gate failed: {component.name} {fmt}: {report.note}")
        if "onnx" in args.formats.split(","):
            import onnxruntime as ort

            from edgezoo.export import onnx_export

            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            prior_path = Path(tmp) / "prior.onnx"
            picture = np.random.default_rng(0).random((1, 3, args.side, args.side), dtype=np.float32)
            net_spec = components(TINY, (args.side, args.side))[1]
            prior_io = IOContract(inputs=net_spec.inputs[:1], outputs=net_spec.outputs)
            onnx_export.convert(model.net.prior.eval(), {"image": torch.from_numpy(picture)}, prior_path,
                                {**_metadata(net_spec, "onnx"), "model": "maxim-tiny-denoise",
                                 "io": prior_io.model_dump(mode="json"), "description": "the prior alone, for timing"})
            open_ = lambda p: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])  # noqa: E731
            prior, encoder, net = open_(prior_path), open_(files[("text_encoder", "onnx")]), open_(files[("net", "onnx")])
            ids, numbers = tokenize("denoise, sigma 25", 0.7)

            def tip_call() -> None:
                embedding = encoder.run(None, {"tokens": ids, "numbers": numbers})[0]
                net.run(None, {"image": picture, "instruction": embedding})

            times = time_round_robin({  # rounds of rotating order: load drift hits all three alike
                "prior_ms": lambda: prior.run(None, {prior.get_inputs()[0].name: picture}),
                "text_encoder_ms": lambda: encoder.run(None, {"tokens": ids, "numbers": numbers}),
                "tip_ms": tip_call}, runs=args.repeats, warmup=1)
            timing = {name: round(statistics.median(ms), 3) for name, ms in times.items()}
            timing["tip_over_prior"] = round(timing["tip_ms"] / timing["prior_ms"], 3)
            result["onnxruntime_latency"] = timing
            print(json.dumps(timing))
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
