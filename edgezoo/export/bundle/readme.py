"""The short README.md of a bundle: what is inside and the calling sequence, in the
platform's language, with the names from ``contract.json``."""

from __future__ import annotations

from typing import Any


def bundle_readme(contract: dict[str, Any]) -> str:
    """README text for ``contract`` (see :func:`edgezoo.export.bundle.contract.build_contract`)."""
    platform = contract["platform"]
    lines = [f"# {contract['model']} for {platform}", "", contract.get("description") or "", "",
             "Files (sha256 in `SHA256SUMS` and `contract.json`; check with `sha256sum -c SHA256SUMS`):", ""]
    for artifact in contract["artifacts"]:
        ins = ", ".join(f"`{t['name']}` {t.get('dtype')} {t.get('layout')} {t['shape']}" for t in artifact["inputs"])
        outs = ", ".join(f"`{t['name']}` {t.get('dtype')} {t.get('layout')} {t['shape']}" for t in artifact["outputs"])
        lines.append(f"- `{artifact['file']}` ({artifact['format']} {artifact['precision']}, {artifact['signature']}): "
                     f"{ins} -> {outs}")
    lines += ["- `contract.json`: tensors, pre/post-processing, tiling or sampler, quality, latency, licences", ""]
    sampler = contract.get("sampler")
    if sampler:
        lines += _sampler_sequence(contract, sampler)
    else:
        lines += _image_sequence(contract)
    licences = contract.get("licences", {})
    lines += ["", f"Licence of the weights: {licences.get('weights')}. Code: {licences.get('code')}.", ""]
    return "\n".join(lines)


def _first(contract: dict[str, Any], signature: str | None = None) -> dict[str, Any]:
    for artifact in contract["artifacts"]:
        if signature is None or artifact["signature"] == signature:
            return artifact
    return contract["artifacts"][0]


def _image_sequence(contract: dict[str, Any]) -> list[str]:
    platform = contract["platform"]
    serving = _first(contract).get("serving", {})
    tiled = serving.get("kind") == "tiled"
    tile_line = (f"Pictures of any size: tiles of {serving['tile'][0]}x{serving['tile'][1]} with {serving['overlap']} "
                 f"pixels of overlap, starts aligned to {serving['align']}, blended as `serving.blend` in "
                 "contract.json says." if tiled else "")
    labels = " Class names: `labels` in contract.json, in output order." if contract.get("labels") else ""
    lines = ["## Calling sequence", ""]
    art = _first(contract, "uint8_nhwc" if platform == "android" else None)
    inp, out = art["inputs"][0]["name"], art["outputs"][0]["name"]
    if platform == "android":
        lines += ["```kotlin",
                  f"val interpreter = Interpreter(loadModelFile(\"{art['file']}\"))  // LiteRT / TFLite",
                  f"// input '{inp}': uint8 NHWC {art['inputs'][0]['shape']} (Bitmap pixels, RGB)",
                  "val input = ByteBuffer.allocateDirect(h * w * c).also { copyRgbBytes(bitmap, it) }",
                  f"val output = ByteBuffer.allocateDirect({_count(art['outputs'][0]['shape'])})",
                  "interpreter.runSignature(mapOf(\"" + inp + "\" to input), mapOf(\"" + out + "\" to output))",
                  "```"]
    elif platform == "ios":
        lines += ["```swift",
                  f"let model = try MLModel(contentsOf: compiledURL)  // MLModel.compileModel(at: \"{art['file']}\")",
                  f"let input = try MLDictionaryFeatureProvider(dictionary: [\"{inp}\": MLFeatureValue(pixelBuffer: tile)])",
                  f"let result = try model.prediction(from: input).featureValue(for: \"{out}\")",
                  "```"]
    else:
        lines += ["```python",
                  f"session = onnxruntime.InferenceSession(\"{art['file']}\")  # or openvino: core.compile_model(\"*.xml\")",
                  f"x = pixels.astype(float32) * {contract['preprocessing']['scale']:.8g}  # HWC -> 1 x C x H x W",
                  f"y = session.run([\"{out}\"], {{\"{inp}\": x}})[0]",
                  str(contract["postprocessing"].get("to_pixels", "probabilities = softmax(y)")),
                  "```"]
    if tile_line:
        lines += ["", tile_line]
    degradation = contract.get("expected_degradation")
    if degradation:
        lines += ["", f"Expected input: {degradation.get('kind')}"
                  + (f", sigma {degradation['sigma_range'][0]:g}-{degradation['sigma_range'][1]:g} on 0-255"
                     if "sigma_range" in degradation else "") + "."]
    if labels:
        lines += ["", labels.strip()]
    return lines


def _sampler_sequence(contract: dict[str, Any], sampler: dict[str, Any]) -> list[str]:
    steps = str(sampler["default_steps"])
    return [
        "## Calling sequence (diffusion sampler)", "",
        f"`sampler.tables[\"{steps}\"]` in contract.json holds, per step, the timestep and the coefficients; "
        "no other schedule code is needed:", "",
        "```",
        f"x = standard normal, shape {sampler['sample_shape']}",
        "for k in 0 ..< steps:",
        f"    out = run(model, {sampler['sample_input']}: x, {sampler['timestep_input']}: [timesteps[k]])  "
        f"// output '{sampler['output']}'",
        "    x0 = clip(x0_from_sample[k] * x + x0_from_output[k] * out, -clip_sample, clip_sample)",
        "    x = next_from_x0[k] * x0 + next_from_sample[k] * x",
        "    if fresh_noise[k]: x += noise_std[k] * standard normal",
        "y = x  // the final sample",
        str(contract["postprocessing"].get("to_pixels")),
        "```",
    ]


def _count(shape: list[Any]) -> str:
    total = 1
    for d in shape:
        if not isinstance(d, int):
            return "h * w * c"
        total *= d
    return str(total)
