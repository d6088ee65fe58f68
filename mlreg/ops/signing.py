"""Signing a version and checking its signatures: the one home of both (SPEC §11).

What is signed is what never changes once a version is published: its
artifact, every file of its ``code/``, and ``signed.toml`` (model folder,
version, version ID, format and sha256, written once), so that a signature can
be moved neither to other bytes nor to another version or model, and a later
``tag`` or ``promote`` never breaks it. A signature is checked against what the
version's record says it holds (the artifact's recorded sha256, which every
load checks against the bytes, and the code's files as they are), so a valid
signature proves the bytes that will load.

Who may vouch is the reader's alone to say: the trust file's ``[signers]``, or,
without that table, the user's own key (``mlreg keys init``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import names
from ..errors import IntegrityError, UsageError
from ..layout import CODE_DIR, SIGNED_FILE
from ..metadata import VersionRecord
from ..repo import Repository
from ..signatures import Signatures, read_signed, signed_toml

if TYPE_CHECKING:
    from ..signing import PublicKey, Signer
    from ..trust import TrustList


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of a version, checked."""

    key: str  # the fingerprint of the key it claims
    valid: bool
    signer: str | None  # the trust file's name for the key (None: unnamed, or the user's own)
    trusted_key: bool  # whether this reader trusts the key
    problem: str = ""  # why it is not valid

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "valid": self.valid, "signer": self.signer}


def trusted_keys(trust: TrustList | None) -> dict[str, str | None]:
    """The keys this reader trusts to vouch (hex fingerprint -> name): the trust file's
    ``[signers]`` when it has that table, else the user's own key."""
    if trust is not None and trust.signers is not None:
        return {key.hex: name for name, key in trust.signers.items()}
    from ..signing import own_public

    own = own_public()
    return {} if own is None else {own.hex: None}


def known_keys(trust: TrustList | None) -> list[PublicKey]:
    """The public keys this reader knows: the trust file's signers, and the user's own."""
    from ..signing import own_public

    found = list(trust.signers.values()) if trust is not None and trust.signers is not None else []
    own = own_public()
    return found + ([own] if own is not None else [])


def read_signature(path: str | os.PathLike[str], key: str | os.PathLike[str] | None,
                   trust: TrustList | None) -> tuple[bytes, PublicKey]:
    """A signature file made elsewhere, and the public key that made it: the PEM file
    ``key``, else the key this reader knows (``known_keys``) whose hint it carries.

    Raises:
        UsageError: a file cannot be read, or no known key made it.
        IntegrityError: it is no Sigstore bundle.
    """
    from ..signing import MAX_BUNDLE_BYTES, BadSignature, public_key, read_bundle

    try:
        with open(path, "rb") as f:
            bundle = f.read(MAX_BUNDLE_BYTES + 1)
        if key is not None:
            with open(key, "rb") as f:
                return bundle, public_key(f.read(MAX_BUNDLE_BYTES), os.fspath(key))
    except OSError as e:
        raise UsageError(f"cannot read {e.filename}: {e.strerror}") from None
    try:
        hint = read_bundle(bundle).hint
    except BadSignature as e:
        raise IntegrityError(f"{os.fspath(path)}: {e}") from None
    found = next((k for k in known_keys(trust) if k.hint == hint), None)
    if found is None:
        raise UsageError(f"{os.fspath(path)} was made by a key this reader does not know (not yours, nor one under "
                         "[signers] in the trust file); give its public key with --key PUBLIC.pem")
    return bundle, found


def signed_files(repo: Repository, record: VersionRecord, signed: bytes, code_dir: str | None = None) -> dict[str, str]:
    """What a signature of ``record`` must list (name -> sha256): the artifact, ``signed.toml``
    (``signed``: its bytes) and each file of the code (read from ``code_dir``, else the
    version's own, checked against its digest first)."""
    import hashlib  # (here: listing versions without signatures never imports it, 5 ms)

    files = {record.artifact: record.sha256, SIGNED_FILE: hashlib.sha256(signed).hexdigest()}
    if record.code_sha256 is not None:
        from ..usercode import file_digests, verify

        root = code_dir if code_dir is not None else verify(repo.code_path(record), record.code_sha256)
        assert root is not None
        files.update({f"{CODE_DIR}/{name}": digest for name, digest in file_digests(root).items()})
    return files


def _signed_toml_problem(data: bytes, record: VersionRecord, where: str) -> str:
    """'' when ``signed.toml`` names ``record`` (its folder, number, ID, format, sha256)."""
    try:
        table = read_signed(data, where)
    except IntegrityError as e:
        return str(e)
    wanted = {"model": names.folder(record.model), "version": record.version, "version_id": record.version_id,
              "format": record.format, "sha256": record.sha256}
    for key, value in wanted.items():
        if table[key] != value:
            return f"{SIGNED_FILE} names {key} {table[key][:80]!r}, not this version's {value!r}"
    return ""


def check_signatures(repo: Repository, record: VersionRecord, trust: TrustList | None,
                     code_dir: str | None = None) -> list[SignatureCheck]:
    """Every signature of ``record``, each proven or not (never raises for a bad one).

    Raises:
        IntegrityError: the version's code is not what was deployed (its files are
            what a signature is checked against).
    """
    store = repo.signatures(record)
    keys = store.keys()
    if not keys:
        return []
    trusted = trusted_keys(trust)
    signed = store.signed()
    problem = f"the version has no {SIGNED_FILE}" if signed is None else \
        _signed_toml_problem(signed, record, store.where(SIGNED_FILE))
    expected = signed_files(repo, record, signed, code_dir) if signed is not None and not problem else {}
    return [_check_one(store, hex_key, expected, problem, trusted) for hex_key in keys]


def _check_one(store: Signatures, hex_key: str, expected: dict[str, str], problem: str,
               trusted: dict[str, str | None]) -> SignatureCheck:
    from ..signing import BadSignature, check_signed_files, public_key, verify

    fingerprint = f"sha256:{hex_key}"
    name, is_trusted = trusted.get(hex_key), hex_key in trusted
    if problem:
        return SignatureCheck(fingerprint, False, name, is_trusted, problem)
    bundle, pem = store.read(hex_key)
    if bundle is None or pem is None:
        return SignatureCheck(fingerprint, False, name, is_trusted, "its bundle or its public key is missing")
    try:
        key = public_key(pem, store.where())
        if key.hex != hex_key:
            raise BadSignature(f"the key filed as {fingerprint} is {key.fingerprint}")
        problem = check_signed_files(verify(bundle, key), expected)
    except (BadSignature, UsageError) as e:
        problem = str(e)
    return SignatureCheck(fingerprint, not problem, name, is_trusted, problem)


def vouched_by_signature(checks: list[SignatureCheck]) -> bool:
    """Whether a valid signature by a key this reader trusts vouches for the version."""
    return any(c.valid and c.trusted_key for c in checks)


def sign(repo: Repository, record: VersionRecord, trust: TrustList | None,
         key: str | os.PathLike[str] | None = None, signature: str | os.PathLike[str] | None = None
         ) -> SignatureCheck:
    """``Registry.sign`` (which checks the version's bytes first): sign ``record`` with
    the private key ``key`` (default the user's own), or file the reference CLI's
    ``signature`` made with the public ``key``. Returns the signature as a reader with
    ``trust`` checks it.

    Raises:
        UsageError (no key), IntegrityError (a signature that does not sign the version).
    """
    if signature is not None:
        made = import_signature(repo, record, *read_signature(signature, key, trust))
    else:
        from ..signing import load_signer, own_signer

        signer = load_signer(os.fspath(key)) if key is not None else own_signer()
        if signer is None:
            raise UsageError("you have no signing key: run `mlreg keys init` (or give --key PRIVATE.pem)")
        made = sign_version(repo, record, signer)
    return next(c for c in check_signatures(repo, record, trust) if c.key == made.key)


def sign_version(repo: Repository, record: VersionRecord, signer: Signer, code_dir: str | None = None) -> SignatureCheck:
    """Sign ``record`` with ``signer`` (writing its ``signed.toml`` first when it has none).
    Signing again with the same key replaces that key's signature; the version is
    otherwise never changed.

    Raises:
        IntegrityError: its ``signed.toml`` names another version, or its code is not
            what was deployed.
    """
    from ..signing import sign

    store = repo.signatures(record)
    signed = _signed_toml(store, record)
    files = signed_files(repo, record, signed, code_dir)
    store.add(signer.public.hex, sign(signer, names.folder(record.model), files), signer.public.pem)
    return SignatureCheck(signer.public.fingerprint, True, None, False)


def import_signature(repo: Repository, record: VersionRecord, bundle: bytes, key: PublicKey) -> SignatureCheck:
    """File a signature made elsewhere (the reference ``model_signing sign key``, over a
    folder holding the version's signed files) once it is proven to be ``key``'s over
    exactly those files.

    Raises:
        IntegrityError: it does not verify, or signs other files.
    """
    from ..signing import BadSignature, check_signed_files, verify

    store = repo.signatures(record)
    signed = _signed_toml(store, record)
    what = f"{record.model} {record.version}"
    try:
        problem = check_signed_files(verify(bundle, key), signed_files(repo, record, signed))
    except BadSignature as e:
        problem = str(e)
    if problem:
        raise IntegrityError(f"the signature does not sign {what}: {problem}; sign a folder holding exactly "
                             f"{record.artifact}, {SIGNED_FILE}{' and code/' if record.code_sha256 else ''} "
                             f"(`mlreg sign --help` shows how)")
    store.add(key.hex, bundle, key.pem)
    return SignatureCheck(key.fingerprint, True, None, False)


def _signed_toml(store: Signatures, record: VersionRecord) -> bytes:
    """The version's ``signed.toml``, written now when it has none.

    Raises:
        IntegrityError: the one there names another version.
    """
    data = store.signed()
    if data is None:
        data = signed_toml(names.folder(record.model), record.version, record.version_id, record.format,
                           record.sha256)
        if not store.write_signed(data):
            data = store.signed() or b""
    problem = _signed_toml_problem(data, record, store.where(SIGNED_FILE))
    if problem:
        raise IntegrityError(f"{record.model} {record.version}: {problem}; refusing to sign it")
    return data


__all__ = ["SignatureCheck", "check_signatures", "import_signature", "known_keys", "read_signature", "sign_version", "signed_files",
           "trusted_keys", "vouched_by_signature"]
