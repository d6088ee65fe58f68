"""Model names and the folder names derived from them (SPEC §1, §3a). Pure, no IO.

A name holds letters, marks and digits of any script (Unicode categories L, M,
N), spaces, and ``-``, ``_``, ``.``; it starts and ends with a letter or digit
and is NFC-normalised. Two names are one model when their folder names are
equal: the NFC, case-folded name with each run of spaces turned into ``-``.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidName

MAX_LENGTH = 64
# Most filesystems cap one path component at 255 bytes; case folding can
# lengthen a name (``ß`` -> ``ss``), so the folder is checked too.
MAX_FOLDER_BYTES = 255
_PUNCTUATION = frozenset("-_. ")
_SPACES = re.compile(r" +")


def _is_alnum(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _describe(char: str) -> str:
    name = unicodedata.name(char, None)
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def normalize(name: str) -> str:
    """Return ``name`` NFC-normalised if it is a valid model name.

    Raises:
        InvalidName: the name is empty, too long, holds a character outside
            SPEC's set, or does not start and end with a letter or digit.
    """
    if not isinstance(name, str):
        raise InvalidName(f"a model name must be text, not {type(name).__name__}")
    text = unicodedata.normalize("NFC", name)
    if not text:
        raise InvalidName("a model name cannot be empty")
    if len(text) > MAX_LENGTH:
        raise InvalidName(f"a model name has at most {MAX_LENGTH} characters (got {len(text)})")
    for char in text:
        if char in _PUNCTUATION or unicodedata.category(char)[0] in "LMN":
            continue
        raise InvalidName(
            f"invalid character {_describe(char)} in model name {ascii(text)}: "
            "use letters, digits, spaces, '-', '_' and '.'"
        )
    if not (_is_alnum(text[0]) and _is_alnum(text[-1])):
        raise InvalidName(f"a model name must start and end with a letter or digit: {ascii(text)}")
    if len(_fold(text).encode("utf-8")) > MAX_FOLDER_BYTES:
        raise InvalidName(f"model name {ascii(text)} is too long for a folder name")
    return text


def _fold(name: str) -> str:
    """The folder name of a valid, NFC model name: case-folded, spaces to ``-``."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return _SPACES.sub("-", folded)


def folder(name: str) -> str:
    """The folder name of a model name (case-folded, spaces to ``-``), the name checked
    first. The one answer to "which folder": ``versions.folder`` is a version's.

    Raises:
        InvalidName: see ``normalize``.
    """
    return _fold(normalize(name))
