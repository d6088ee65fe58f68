"""A version's signatures as files (SPEC §11): ``signed.toml``, written once, and
``signatures/HEX.sig`` (the Sigstore bundle, exactly as signed) beside
``signatures/HEX.pem`` (the public key that made it), one pair per key, named by
the key's fingerprint. ``Repository.signatures`` hands them out.

Everything here is as hostile as the rest of the registry: the files say which
key claims to have signed, ``mlreg.ops.signing`` proves it, and only the
reader's trust file (or own key) says whether that key is trusted.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import IntegrityError
from .folders import Folder
from .layout import SIGNATURES, SIGNED_FILE
from .metadata import MAX_METADATA_BYTES, dump_toml, parse_toml

_NAME = re.compile(r"^([0-9a-f]{64})\.sig$")
SIGNED_KEYS = ("model", "version", "version_id", "format", "sha256")


def signed_toml(model_folder: str, version: str, version_id: str, format: str, sha256: str) -> bytes:
    """``signed.toml``: what a signature binds the version's bytes to."""
    return dump_toml({"model": model_folder, "version": version, "version_id": version_id,
                      "format": format, "sha256": sha256}).encode("utf-8")


class Signatures:
    """The signature files of one version's folder."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder

    def where(self, name: str = SIGNATURES) -> str:
        return self.folder.where(name)

    def signed(self) -> bytes | None:
        """``signed.toml``'s bytes; None when the version has none (deployed unsigned by an
        earlier mlreg, or never signed)."""
        return self.folder.read(SIGNED_FILE, MAX_METADATA_BYTES)

    def write_signed(self, data: bytes) -> bool:
        """Create ``signed.toml``; False when it holds other bytes already."""
        return self.folder.create(SIGNED_FILE, data) or self.folder.read(SIGNED_FILE, MAX_METADATA_BYTES) == data

    def keys(self) -> list[str]:
        """The hex fingerprints of the keys that signed, sorted."""
        return sorted(m.group(1) for name in self.folder.names(SIGNATURES) if (m := _NAME.match(name)))

    def read(self, hex_key: str) -> tuple[bytes | None, bytes | None]:
        """The bundle and the public key filed under ``hex_key`` (None where absent)."""
        from .signing import MAX_BUNDLE_BYTES

        return (self.folder.read(f"{SIGNATURES}/{hex_key}.sig", MAX_BUNDLE_BYTES),
                self.folder.read(f"{SIGNATURES}/{hex_key}.pem", MAX_BUNDLE_BYTES))

    def add(self, hex_key: str, bundle: bytes, pem: bytes) -> None:
        """File a signature: the key first, then the bundle, each whole (a reader finds a
        bundle only once its key is there). Another signature by the same key is replaced."""
        self.folder.write(f"{SIGNATURES}/{hex_key}.pem", pem)
        self.folder.write(f"{SIGNATURES}/{hex_key}.sig", bundle)


def read_signed(data: bytes, where: str) -> dict[str, Any]:
    """``signed.toml`` parsed, its keys checked.

    Raises:
        IntegrityError: unreadable, or a key missing or not a string.
    """
    table = parse_toml(data, where)
    for key in SIGNED_KEYS:
        if not isinstance(table.get(key), str):
            raise IntegrityError(f"{where}: {key!r} is missing or not a string")
    return table
