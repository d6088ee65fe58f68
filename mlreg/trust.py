"""The trust file: kept outside the registry, it says what this reader loads (SPEC §11).

Nothing a registry writer controls decides what is trusted: the trust file is
the reader's own (committed in the repository of the service that calls the
models, or in the user's config), named by ``--trust-file`` or
``MLREG_TRUST_FILE``::

    # mlreg trust file
    [policy]
    load = "allowlist"                 # the default; or "safe-only", or "pickle"
    allow_imports = ["mypackage.features.Clipper"]

    [models]                           # optional: vouched-for artifacts, per model
    iris-classifier = ["3b1f...64 hex digits", "..."]
    churn = ["ARTIFACT_SHA256+CODE_SHA256"]   # a version deployed with --code

    [signers]                          # optional: the keys whose signatures vouch
    alice = "-----BEGIN PUBLIC KEY----- ..."  # or a path to a PEM file (relative: to this file)

``[policy]`` sets the load policy (``mlreg.policy``); without a trust file the
default holds (``allowlist``, nothing added). ``[models]``, when present, pins:
a model it names loads only the artifacts listed for it, and a model it does not
name loads nothing, so a tampered registry fails closed; each listed artifact is
vouched for and loads as any pickle, whatever the policy. A version with code of
its own (``deploy --code``) is vouched for only by an entry naming both its
artifact's sha256 and its ``code_sha256``: an artifact's hash alone never vouches
for code, since whoever can write the registry could swap the code beside it.
``[signers]`` names the keys whose signatures vouch for a version (without the
table, the user's own key does). A trust file that cannot be read stops every load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import IntegrityError, InvalidName
from .metadata import MAX_METADATA_BYTES, parse_toml
from .names import folder as folder_name
from .policy import DEFAULT, POLICIES, Policy

if TYPE_CHECKING:
    from .signing import PublicKey

_ENTRY = re.compile(r"^[0-9a-f]{64}(\+[0-9a-f]{64})?$")
_IMPORT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True)
class TrustList:
    path: str
    allowed: dict[str, frozenset[str]] | None  # [models]; None: the file has none (nothing pinned)
    policy: Policy = field(default_factory=Policy)
    signers: dict[str, PublicKey] | None = None  # [signers]; None: the file has none (the user's own key vouches)

    def vouches(self, model: str, sha256: str, code_sha256: str | None = None) -> bool:
        """Whether ``[models]`` lists this artifact (with its code, for a version with code)."""
        entry = sha256 if code_sha256 is None else f"{sha256}+{code_sha256}"
        return self.allowed is not None and entry in self.allowed.get(folder_name(model), frozenset())

    def check(self, model: str, version: str, sha256: str, code_sha256: str | None = None) -> None:
        """Raises: IntegrityError when ``[models]`` pins and does not list ``sha256`` (with
        ``code_sha256``, for a version with code) for ``model``."""
        entry = sha256 if code_sha256 is None else f"{sha256}+{code_sha256}"
        if self.allowed is not None and not self.vouches(model, sha256, code_sha256):
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
    unknown = sorted(set(data) - {"models", "policy", "signers"})
    if unknown:
        raise IntegrityError(f"trust file {path}: unknown table [{unknown[0]}] (it holds [policy], [models] and "
                             "[signers]); refusing to load any model")
    models = data.get("models")
    if models is not None and not isinstance(models, dict):
        raise IntegrityError(f"trust file {path}: [models] must be a table")
    policy = _policy(path, data.get("policy", {}))
    signers = _signers(path, data["signers"]) if "signers" in data else None
    if models is None:
        return TrustList(path, None, policy, signers)
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
    return TrustList(path, allowed, policy, signers)


def _signers(path: str, table: Any) -> dict[str, PublicKey]:
    """The ``[signers]`` table: name -> public key (PEM text, or a path to a PEM file,
    relative to the trust file's folder).

    Raises:
        IntegrityError: naming the entry that holds no public key.
    """
    import os

    from .errors import UsageError
    from .signing import public_key

    if not isinstance(table, dict):
        raise IntegrityError(f"trust file {path}: [signers] must be a table of name = public key")
    found = {}
    for name, value in table.items():
        if not isinstance(value, str):
            raise IntegrityError(f"trust file {path}: [signers] {name!r} must be a PEM public key or a path to one")
        where = f"trust file {path}: [signers] {name!r}"
        try:
            if "-----BEGIN" in value:
                found[name] = public_key(value, where)
                continue
            pem_path = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(value))
            with open(pem_path, "rb") as f:
                found[name] = public_key(f.read(1 << 16), f"{where} ({pem_path})")
        except OSError as e:
            raise IntegrityError(f"{where}: cannot read {value}: {e.strerror}; refusing to load any model") from None
        except UsageError as e:
            raise IntegrityError(f"{e}; refusing to load any model") from None
    return found


def _policy(path: str, table: Any) -> Policy:
    """The ``[policy]`` table, checked.

    Raises:
        IntegrityError: naming what is wrong.
    """
    if not isinstance(table, dict):
        raise IntegrityError(f"trust file {path}: [policy] must be a table")
    unknown = sorted(set(table) - {"load", "allow_imports"})
    if unknown:
        raise IntegrityError(f"trust file {path}: [policy] has no setting {unknown[0]!r} (it has load and "
                             "allow_imports); refusing to load any model")
    mode = table.get("load", DEFAULT)
    if mode not in POLICIES:
        raise IntegrityError(f"trust file {path}: [policy] load = {mode!r}; use one of {', '.join(POLICIES)}")
    imports = table.get("allow_imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) and _IMPORT.match(i) for i in imports):
        raise IntegrityError(f"trust file {path}: [policy] allow_imports must be a list of exact names, "
                             "module.qualname (e.g. \"mypackage.features.Clipper\")")
    return Policy(mode, imports, source=path)
