"""Typed errors. Each message says what went wrong and how to fix it; the CLI maps
``exit_code`` to the process status (2 usage or bad input, 1 failure)."""

from __future__ import annotations


class EdgezooError(Exception):
    """Base class for every error edgezoo raises on purpose."""

    exit_code = 1


class BadInputError(EdgezooError):
    """The caller passed something unusable (wrong image, shape, dtype, option)."""

    exit_code = 2


class UnknownModelError(BadInputError):
    """No model or task of that name is registered."""


class UnknownFormatError(BadInputError):
    """An export format or precision that edgezoo does not know."""


class OutputWriteError(EdgezooError):
    """An output could not be written (a full disk, a folder that turned read-only);
    nothing partial was left."""


class ArtifactIntegrityError(EdgezooError):
    """An artifact is missing, truncated, or its sha256 differs from its manifest."""


class ManifestError(EdgezooError):
    """A manifest is missing or does not validate against the schema."""


class BackendUnavailableError(EdgezooError):
    """An optional backend package is not installed or cannot load the artifact."""


class ExportError(EdgezooError):
    """A converter failed; no artifact was written."""


class ValidatorError(ExportError):
    """An artifact is rejected by its own format's validator (onnx.checker, LiteRT's
    analyzer, OpenVINO's compiler, coremltools' spec loader)."""


class ParityError(EdgezooError):
    """An artifact's output is too far from the PyTorch reference."""


class BudgetUnreachableError(EdgezooError):
    """No option fits the latency budget."""


class WeightsError(EdgezooError):
    """Weights are missing, corrupt, or would need the network."""


class WeightsNotImportedError(WeightsError):
    """A model's weights come from an upstream package that was not imported here yet;
    the message says how to fetch and import it."""

    exit_code = 2


class FigureMismatchError(EdgezooError):
    """A figure recomputed from shipped weights differs from the one its manifest records."""
