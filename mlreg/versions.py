"""Semantic versions: parsing, folder names and the next number. Pure, no IO.

Versions are ``semver.Version`` inside and strings at the edges, and are never
sorted as strings (``0.10.0`` > ``0.9.0``). Numbers that differ only in build
metadata (``1.0.0+a``, ``1.0.0+b``) are the same number, so a version's folder
name leaves the build metadata out.
"""

from __future__ import annotations

import re

import semver

from .errors import InvalidVersion, UsageError

Version = semver.Version
BUMPS = ("major", "minor", "patch")
FIRST_BASE = Version(0, 0, 0)
# A version ID: short, random, lowercase letters and digits (SPEC §1).
ID_LENGTH = 8
_ID = re.compile(r"^[a-z0-9]{%d}$" % ID_LENGTH)


def parse(text: str) -> Version:
    """Parse a strict semver string (``1.2.3``, ``1.0.0-rc.1``, ``1.0.0+build``).

    Raises:
        InvalidVersion: ``text`` is not valid semver (``1.2``, ``01.2.3``, ``v1.2.3``).
    """
    try:
        return Version.parse(text)
    except (ValueError, TypeError):
        raise InvalidVersion(
            f"{text!r} is not a valid version: use semver such as 1.2.3 or 1.0.0-rc.1"
        ) from None


def folder(version: Version) -> str:
    """The folder name of a version: the number without build metadata."""
    return str(version.replace(build=None))


def is_version(text: str) -> bool:
    """True when ``text`` parses as semver (so it names a version, not an ID)."""
    try:
        Version.parse(text)
    except (ValueError, TypeError):
        return False
    return True


def is_version_id(text: str) -> bool:
    return bool(_ID.match(text))


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
    build metadata is ignored, and text that is not semver compares as text."""
    if a is None or b is None:
        return a is b
    try:
        return Version.parse(a) == Version.parse(b)
    except (ValueError, TypeError):
        return a == b


def sort_key(version: Version) -> tuple:
    """A key that orders versions as semver does, without semver's slow comparisons:
    a release after its pre-releases, numeric identifiers numerically and before
    alphanumeric ones, and more identifiers after fewer. Build metadata is ignored."""
    pre = version.prerelease
    if not pre:
        return (version.major, version.minor, version.patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (version.major, version.minor, version.patch, 0, parts)


def next_version(highest: Version | None, bump: str = "minor") -> Version:
    """The version after ``highest`` (``0.0.0`` when the model has none)."""
    base = highest if highest is not None else FIRST_BASE
    return getattr(base, f"bump_{normalize_bump(bump)}")()

