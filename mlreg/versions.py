"""Semantic versions: parsing, folder names, ordering and the next number. Pure, no IO.

Versions are strings at the edges and are never sorted as strings (``0.10.0`` >
``0.9.0``). Numbers that differ only in build metadata (``1.0.0+a``,
``1.0.0+b``) are the same number, so a version's folder name leaves the build
metadata out.

Reading (is this a version? its folder, its place in the order) needs only the
regular expression of the semver specification below, so that `mlreg status`
and `mlreg versions` start without importing ``semver`` (its package import,
with its command-line module and ``argparse``, is about 3.5 ms of a start-up
that has 12 ms to spend). A plain ``X.Y.Z``, what nearly every version is, is
told without even compiling that expression (about 0.8 ms, in every read); the
expression is compiled the first time another text comes. Making numbers (bumps,
exact versions) uses ``semver.Version``; tests check that all agree on what is a
version.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import InvalidVersion, UsageError

if TYPE_CHECKING:
    from semver import Version

BUMPS = ("major", "minor", "patch")
# A version ID: short, random, lowercase letters and digits (SPEC §1).
ID_LENGTH = 8
_ID = r"^[a-z0-9]{%d}$" % ID_LENGTH  # (patterns: compiled on first use, by re's own cache)
# semver.org's grammar, as semver.Version.parse applies it (ASCII only, no
# trailing newline).
_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = (
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)


def _plain(text: str) -> list[str] | None:
    """The three numbers of a plain ``X.Y.Z`` (ASCII digits, no leading zeros) as text,
    else None: a version the grammar accepts with no pre-release and no build metadata."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and (p == "0" or p[0] != "0") for p in parts):
        return None
    return parts


def _semver(text: str) -> re.Match[str] | None:
    """The grammar's match of the whole of ``text``, or None."""
    return re.fullmatch(_SEMVER, text)


def _valid(text: str) -> bool:
    return _plain(text) is not None or _semver(text) is not None


def parse(text: str) -> Version:
    """Parse a strict semver string (``1.2.3``, ``1.0.0-rc.1``, ``1.0.0+build``).

    Raises:
        InvalidVersion: ``text`` is not valid semver (``1.2``, ``01.2.3``, ``v1.2.3``).
    """
    from semver import Version

    # semver 3.2 refuses strings over 255 characters as "not valid": say what is wrong first.
    if isinstance(text, str) and len(text.encode("utf-8", "surrogateescape")) > MAX_FOLDER_BYTES:
        raise InvalidVersion(f"version {text[:40]}... is {len(text)} characters: too long "
                             f"(at most {MAX_FOLDER_BYTES})")
    try:
        version = Version.parse(text)
    except (ValueError, TypeError):
        raise _invalid(text) from None
    return _fitting(version)


# A version's folder name must fit one path component (255 bytes on most
# filesystems): a number that cannot be a folder is refused before anything is written.
MAX_FOLDER_BYTES = 255


def _fitting(version: Version) -> Version:
    """Raises: InvalidVersion when ``version``'s folder name is too long for a filesystem."""
    name = folder(version)
    if len(name.encode("utf-8")) > MAX_FOLDER_BYTES:
        raise InvalidVersion(f"version {name[:40]}... is {len(name)} characters: too long for a folder name "
                             f"(at most {MAX_FOLDER_BYTES})")
    return version


def _invalid(text: str) -> InvalidVersion:
    return InvalidVersion(f"{text!r} is not a valid version: use semver such as 1.2.3 or 1.0.0-rc.1")


def folder(version: Version | str) -> str:
    """The folder name of a version (a number, or its text): the number without build
    metadata. The one answer to "which folder": ``names.folder`` is a model's.

    Raises:
        InvalidVersion: text that is not valid semver.
    """
    if isinstance(version, str):
        if not _valid(version):
            raise _invalid(version)
        return version.partition("+")[0]
    return str(version.replace(build=None))


def is_version(text: str) -> bool:
    """True when ``text`` parses as semver (so it names a version, not an ID)."""
    return _valid(text)


def is_version_id(text: str) -> bool:
    return re.match(_ID, text) is not None


def normalize_bump(bump: str) -> str:
    """Accept ``major``/``minor``/``patch`` in any case (the client takes ``"PATCH"``).

    Raises:
        UsageError: any other value.
    """
    value = str(bump).lower()
    if value not in BUMPS:
        raise UsageError(f"unknown version bump {bump!r}: use major, minor or patch")
    return value


def same(a: str | None, b: str | None) -> bool:
    """Whether two version strings (or None for "no version") name the same number;
    build metadata is ignored, and text that is not semver compares as text.
    Semver text is canonical (no leading zeros), so equal numbers are equal text."""
    if a is None or b is None:
        return a is b
    if not _valid(a) or not _valid(b):
        return a == b
    return a.partition("+")[0] == b.partition("+")[0]


def sort_key(text: str) -> tuple | None:
    """A key that orders version strings as semver does (None when ``text`` is not
    semver): a release after its pre-releases, numeric identifiers numerically and
    before alphanumeric ones, and more identifiers after fewer. Build metadata is
    ignored."""
    plain = _plain(text)
    if plain is not None:
        return (int(plain[0]), int(plain[1]), int(plain[2]), 1, ())
    m = _semver(text)
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)


def higher(a: str, b: str) -> bool:
    """Whether version ``a`` is higher than version ``b`` (both semver)."""
    return sort_key(a) > sort_key(b)


def next_version(highest: Version | None, bump: str = "minor") -> Version:
    """The version after ``highest`` (``0.0.0`` when the model has none)."""
    from semver import Version

    base = highest if highest is not None else Version(0, 0, 0)
    return _fitting(getattr(base, f"bump_{normalize_bump(bump)}")())

