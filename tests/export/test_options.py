"""Options, names and the I/O contract: no conversion, no torch."""

import pytest

from edgezoo.errors import BadInputError, UnknownFormatError
from edgezoo.export.contract import artifact_metadata, io_contract, metadata_json, parse_metadata, preprocessing
from edgezoo.export.formats import artifact_filename, check_precision, parse_formats, parse_precisions


def test_formats_accept_all_and_comma_lists_in_canonical_order():
    assert parse_formats("all") == ("onnx", "tflite", "coreml", "openvino")
    assert parse_formats("openvino, ONNX") == ("onnx", "openvino")
    assert parse_formats(["tflite", "tflite"]) == ("tflite",)


def test_unknown_format_or_precision_names_the_choices():
    with pytest.raises(UnknownFormatError, match="unknown format 'tensorrt'.*onnx, tflite, coreml, openvino"):
        parse_formats("onnx,tensorrt")
    with pytest.raises(UnknownFormatError, match="unknown precision 'bf16'"):
        parse_precisions("fp32,bf16")
    assert UnknownFormatError.exit_code == 2


def test_unsupported_precision_is_a_clear_not_yet():
    with pytest.raises(UnknownFormatError, match="onnx export at int8 is not supported yet.*--precision fp32"):
        check_precision("onnx", "int8", ("fp32",))


def test_artifact_names_say_model_size_precision_and_format():
    assert artifact_filename("maxim-tiny-denoise", "onnx", "fp32", 256, 256) == "maxim-tiny-denoise-256x256-fp32.onnx"
    assert artifact_filename("m", "onnx", "fp32", 64, 64, dynamic=True) == "m-dynamic-fp32.onnx"
    assert artifact_filename("m", "coreml", "fp32", 64, 96).endswith("64x96-fp32.mlpackage")
    assert artifact_filename("m", "openvino", "fp32", 64, 64).endswith(".xml")


def test_contract_and_metadata_describe_the_tensors():
    from edgezoo.zoo import get_entry

    entry = get_entry("maxim-tiny-denoise")
    io = io_contract(entry, 64, 96)
    (image,), (restored,) = io.inputs, io.outputs
    assert (image.name, image.shape, image.dtype, image.layout, image.color) == ("image", [1, 3, 64, 96], "float32", "NCHW", "RGB")
    assert image.range == (0.0, 1.0) and image.multiple_of == 32
    assert (restored.name, restored.shape) == ("restored", [1, 3, 64, 96])
    assert io_contract(entry, 64, 64, dynamic=True).inputs[0].shape == [1, 3, "H", "W"]
    prep = preprocessing(entry)
    assert prep.pad_to_multiple_of == 32 and prep.clip_output == (0.0, 1.0)
    meta = artifact_metadata(entry, io, prep, "onnx", "fp32", "ab" * 32)
    back = parse_metadata(metadata_json(meta), "x.onnx")
    assert back["model"] == "maxim-tiny-denoise" and back["task"] == "denoise" and back["precision"] == "fp32"
    assert back["io"]["inputs"][0]["shape"] == [1, 3, 64, 96] and back["edgezoo_version"]


def test_size_must_be_a_multiple_and_the_error_gives_the_fix():
    from edgezoo.export.pipeline import check_size
    from edgezoo.zoo import get_entry

    entry = get_entry("maxim-tiny-denoise")
    assert check_size(entry, None, None) == tuple(entry.export_size)
    with pytest.raises(BadInputError, match="height 100 is not a multiple of 32.*use 96 or 128"):
        check_size(entry, 100, 64)
    with pytest.raises(BadInputError, match="width must be a positive integer"):
        check_size(entry, 64, 0)
