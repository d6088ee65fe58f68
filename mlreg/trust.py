"""A trust file kept outside the registry: the sha256 values each model may load.

The hash recorded in a version's ``version.toml`` proves only that the artifact
did not change after deploy; whoever can rewrite the registry can rewrite both.
A trust file, committed in the repository of the service that calls the
model, lists the artifacts that service accepts, so a tampered registry fails
closed::

    # mlreg trust file: the artifacts each model may load
    [models]
    iris-classifier = ["3b1f...64 hex digits", "..."]
    "Diabetes Progression" = ["..."]
    churn = ["ARTIFACT_SHA256+CODE_SHA256"]   # a version deployed with --code

Keys are model names or folder names. A version with code of its own
(``deploy --code``) is vouched for only by an entry naming both its artifact's
sha256 and its ``code_sha256``: an artifact's hash alone never vouches for
code, since whoever can write the registry could swap the code beside it. A model missing from the file may not be
loaded at all, and a trust file that cannot be read stops every load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import IntegrityError, InvalidName
from .metadata import MAX_METADATA_BYTES, parse_toml
from .names import folder as folder_name

_ENTRY = re.compile(r"^[0-9a-f]{64}(\+[0-9a-f]{64})?$")


@dataclass(frozen=True)
class TrustList:
    path: str
    allowed: dict[str, frozenset[str]]

    def check(self, model: str, version: str, sha256: str, code_sha256: str | None = None) -> None:
        """Raises: IntegrityError unless ``sha256`` (with ``code_sha256``, for a version
        with code) is allowed for ``model``."""
        entry = sha256 if code_sha256 is None else f"{sha256}+{code_sha256}"
        if entry not in self.allowed.get(folder_name(model), frozenset()):
            what = f"sha256 {sha256}" if code_sha256 is None else f"artifact+code {entry}"
            hint = "" if code_sha256 is None else (
                f"; a version with --code is trusted only as ARTIFACT_SHA256+CODE_SHA256, e.g. {entry!r}")
            raise IntegrityError(
                f"{model} {version} ({what}) is not in the trust file {self.path}; refusing to load it{hint}"
            )


def load_trust(path: str) -> TrustList:
    """Read a trust file, failing closed.

    Raises:
        IntegrityError: the file is missing, unreadable, or not in the format above.
    """
    import os
    import stat

    try:
        # The trust file is the user's own (it may well be a symlink into a
        # dotfiles folder), but it must be a regular file: a FIFO would hang.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise IntegrityError(f"trust file {path} is not a regular file; refusing to load any model")
        with open(path, "rb") as f:
            data: dict[str, Any] = parse_toml(f.read(MAX_METADATA_BYTES + 1), path)
    except FileNotFoundError:
        raise IntegrityError(f"trust file {path} does not exist; refusing to load any model") from None
    except OSError as e:
        raise IntegrityError(f"cannot read the trust file {path}: {e.strerror}; refusing to load any model") from None
    models = data.get("models")
    if not isinstance(models, dict):
        raise IntegrityError(f"trust file {path} has no [models] table")
    allowed: dict[str, frozenset[str]] = {}
    for key, values in models.items():
        try:
            folder = folder_name(key)
        except InvalidName as e:
            raise IntegrityError(f"trust file {path}: {e}") from None
        if not isinstance(values, list) or not all(isinstance(v, str) and _ENTRY.match(v.lower()) for v in values):
            raise IntegrityError(f"trust file {path}: {key!r} must be a list of sha256 values (64 hex digits, "
                                 "or ARTIFACT_SHA256+CODE_SHA256 for a version with --code)")
        allowed[folder] = allowed.get(folder, frozenset()) | {v.lower() for v in values}
    return TrustList(path, allowed)
