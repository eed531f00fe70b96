"""Restoration instructions as tensors: the tokenizer of the instruction-driven restorer (TIP).

An instruction is words and numbers ("denoise, sigma 25", "remove blur of 3 px",
"remove all degradation"); a strength knob is appended as words too ("... strength 0.7"),
so the text encoder is the one place that reads it. Each word becomes its index in a
fixed vocabulary (unknown words one ``<unk>`` id), each number the ``<num>`` id with its
value in a second, parallel tensor. Both are padded to ``MAX_TOKENS``. The vocabulary is
data (:data:`VOCABULARY`), stored with the model, so an app can tokenize without Python.
Imports numpy only: the runtime tokenizes on the device.
"""

from __future__ import annotations

import re

import numpy as np

from edgezoo.errors import BadInputError

PAD, UNK, NUM = "<pad>", "<unk>", "<num>"
# every word of the training instructions and their common paraphrases; order is the id
VOCABULARY: tuple[str, ...] = (
    PAD, UNK, NUM,
    "remove", "reduce", "fix", "clean", "restore", "denoise", "deblur", "sharpen", "undo",
    "noise", "noisy", "grain", "blur", "blurry", "blurriness", "degradation", "degradations", "everything",
    "sigma", "level", "px", "pixel", "pixels", "radius", "of", "by", "with", "and", "the", "a", "an", "all",
    "it", "this", "photo", "image", "picture", "up", "please", "strength",
)
MAX_TOKENS = 16
_WORD_OR_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+|[a-z]+")
_IDS = {word: i for i, word in enumerate(VOCABULARY)}
# the words that say what to do or what is wrong (an instruction needs one of them)
_CONTENT = frozenset(VOCABULARY[VOCABULARY.index("remove"):VOCABULARY.index("sigma")])


def instruction_text(instruction: str, strength: float | None = None) -> str:
    """The instruction as the encoder reads it: ``strength`` (0 to 1) appended in words."""
    if strength is None:
        return instruction
    if not 0.0 <= strength <= 1.0:
        raise BadInputError(f"strength {strength} is outside 0 to 1: pass a value like 0.7 (1: the full instruction)")
    return f"{instruction}, strength {strength:g}"


def tokenize(instruction: str, strength: float | None = None,
             max_tokens: int = MAX_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, numbers): two (1, ``max_tokens``) arrays, int32 and float32. A number
    is the ``<num>`` id with its value in the second array (zero elsewhere); words not in
    :data:`VOCABULARY` are ``<unk>``. An instruction with no word the model knows for an action or a
    degradation, or with
    more than ``max_tokens`` words and numbers, is refused in one line."""
    own = _WORD_OR_NUMBER.findall(instruction.lower())
    if not any(piece in _CONTENT for piece in own):
        raise BadInputError(f"instruction {instruction!r} has no word this model knows: say what to fix, like "
                            "'remove the noise', 'denoise, sigma 25', 'remove blur of 2 px', 'remove all degradation'")
    pieces = _WORD_OR_NUMBER.findall(instruction_text(instruction, strength).lower())
    if len(pieces) > max_tokens:
        raise BadInputError(f"instruction {instruction!r} has {len(pieces)} words and numbers (strength included); "
                            f"the model reads at most {max_tokens}: say it shorter")
    ids = np.zeros((1, max_tokens), np.int32)
    values = np.zeros((1, max_tokens), np.float32)
    for i, piece in enumerate(pieces):
        if piece[0].isdigit() or piece[0] == ".":
            ids[0, i], values[0, i] = _IDS[NUM], float(piece)
        else:
            ids[0, i] = _IDS.get(piece, _IDS[UNK])
    return ids, values


__all__ = ["MAX_TOKENS", "NUM", "PAD", "UNK", "VOCABULARY", "instruction_text", "tokenize"]
