"""Keys and signatures in the OpenSSF Model Signing format v1.0 (SPEC §11).

A signature is a Sigstore bundle (media type v0.3) whose DSSE envelope carries an
in-toto statement: the predicate ``https://model_signing/signature/v1.0`` lists
each signed file by name with its sha256, and the subject's digest is the sha256
of those digests in order. It is what the reference ``model_signing sign key``
writes and ``model_signing verify key`` reads: the signature is ECDSA over the
envelope's pre-authentication encoding, the bundle names the key only by a hint
(the sha256 of its PEM), and no transparency log is involved.

This module knows bytes, not registries: what a version's signed files are,
and where they live, is ``mlreg.signatures`` and ``mlreg.ops.signing``'s.
``cryptography`` (a dependency of mlreg) is imported only here, and only by a
call that signs or checks a signature: reading commands never import it.

A key is named by its fingerprint, ``sha256:`` and the hex sha256 of its
public key's DER encoding; the user's own key pair lives in the per-user config
folder (``mlreg keys init``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
MAX_BUNDLE_BYTES = 1 << 20  # a bundle lists a few files: a megabyte is far beyond any real one
_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----")
PRIVATE_FILE = "signing-key.pem"
PUBLIC_FILE = "signing-key.pub.pem"
_CURVES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}
# An EC public key's DER (SubjectPublicKeyInfo), per curve: this header, then the uncompressed point.
_SPKI_HEADERS = {
    bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"): ("SECP256R1", 65),
    bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"): ("SECP384R1", 97),
    bytes.fromhex("30819b301006072a8648ce3d020106052b8104002303818600"): ("SECP521R1", 133),
}


class BadSignature(Exception):
    """A signature that does not hold: the text says why."""


def _crypto_missing() -> UsageError:
    return UsageError("signatures need the cryptography package: pip install 'cryptography>=42'")


@dataclass(frozen=True)
class PublicKey:
    """A public key, by its DER encoding (SubjectPublicKeyInfo)."""

    der: bytes

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.der).hexdigest()

    @property
    def hex(self) -> str:
        """The fingerprint's hex digits: a file name for the key."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def pem(self) -> bytes:
        """The canonical PEM (what ``cryptography`` writes), whose sha256 is a bundle's hint."""
        body = base64.b64encode(self.der)
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return b"-----BEGIN PUBLIC KEY-----\n" + b"\n".join(lines) + b"\n-----END PUBLIC KEY-----\n"

    @property
    def hint(self) -> str:
        return hashlib.sha256(self.pem).hexdigest()

    def _loaded(self) -> Any:
        """The key for ``cryptography`` (an ECDSA key on one of ``_CURVES``), built from its
        point: the DER of an EC key is a fixed header per curve, then the point, which
        spares the import of ``cryptography``'s serialization (20 ms and more)."""
        try:
            from cryptography.hazmat.primitives.asymmetric import ec
        except ImportError:
            raise _crypto_missing() from None
        for header, (curve, size) in _SPKI_HEADERS.items():
            if self.der.startswith(header) and len(self.der) == len(header) + size:
                try:
                    return ec.EllipticCurvePublicKey.from_encoded_point(getattr(ec, curve)(), self.der[len(header):])
                except ValueError:
                    break
        raise BadSignature(f"the key {self.fingerprint} is not an ECDSA key on P-256, P-384 or P-521")


def public_key(pem: bytes | str, where: str) -> PublicKey:
    """The public key of a PEM text (``-----BEGIN PUBLIC KEY-----``), read without
    checking its curve (``verify`` does, with ``cryptography``).

    Raises:
        UsageError: naming ``where``: the text holds no public key.
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    found = _PEM.search(data)
    try:
        der = base64.b64decode(b"".join(found.group(1).split()), validate=True) if found else b""
    except binascii.Error:
        der = b""
    if not der:
        raise UsageError(f"{where} holds no public key (a PEM block '-----BEGIN PUBLIC KEY-----'); "
                         "`mlreg keys show` prints one")
    return PublicKey(der)


@dataclass(frozen=True)
class Signer:
    """A private key that signs, and its public key."""

    private: Any  # cryptography's EllipticCurvePrivateKey
    public: PublicKey
    path: str


def load_signer(path: str) -> Signer:
    """The private key in the PEM file ``path`` (ECDSA P-256, P-384 or P-521, unencrypted).

    Raises:
        UsageError: the file is missing, unreadable or holds no such key.
    """
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise _crypto_missing() from None
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES)
    except OSError as e:
        raise UsageError(f"cannot read the signing key {path}: {e.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{path} is not an unencrypted PEM private key ({e}); `mlreg keys init` makes one") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise UsageError(f"{path}: signing keys are ECDSA keys on P-256, P-384 or P-521")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Signer(key, PublicKey(der), path)


# ---------------------------------------------------------------- the user's own key

def key_folder() -> str:
    """Where the user's own key pair lives (``mlreg keys init``)."""
    from .location import user_folder

    return os.path.join(user_folder("config"), "keys")


def own_public() -> PublicKey | None:
    """The user's own public key, None when they have made none."""
    path = os.path.join(key_folder(), PUBLIC_FILE)
    try:
        with open(path, "rb") as f:
            return public_key(f.read(MAX_BUNDLE_BYTES), path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"cannot read your public key {path}: {e.strerror}") from None


def own_signer() -> Signer | None:
    """The user's own key, None when they have made none."""
    path = os.path.join(key_folder(), PRIVATE_FILE)
    return load_signer(path) if os.path.exists(path) else None


def make_keys() -> tuple[PublicKey, str, bool]:
    """The user's key pair, made when there is none (ECDSA P-256, the private key
    mode 0600): the public key, the folder, and whether it was made now."""
    folder = key_folder()
    found = own_public()
    if found is not None and os.path.exists(os.path.join(folder, PRIVATE_FILE)):
        return found, folder, False
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise _crypto_missing() from None
    from .atomic import write_atomic

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = PublicKey(key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, PRIVATE_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} exists but its public key {PUBLIC_FILE} does not; remove it to make a new "
                         "pair, or put its public key beside it") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private)
        f.flush()
        os.fsync(f.fileno())
    write_atomic(os.path.join(folder, PUBLIC_FILE), public.pem)
    return public, folder, True


# ---------------------------------------------------------------- statements and bundles

def statement(name: str, files: dict[str, str]) -> bytes:
    """The in-toto statement over ``files`` (name -> hex sha256), as the reference writes it."""
    resources = [{"name": n, "algorithm": "sha256", "digest": files[n]} for n in sorted(files)]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    body = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"hash_type": "sha256", "ignore_paths": [], "allow_symlinks": False, "method": "files"},
            "resources": resources,
        },
    }
    return json.dumps(body, indent=2).encode("utf-8")


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is over."""
    return b"DSSEv1 %d %s %d " % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload)) + payload


def sign(signer: Signer, name: str, files: dict[str, str]) -> bytes:
    """A signature (a Sigstore bundle, JSON) by ``signer`` over ``files``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = statement(name, files)
    algorithm = getattr(hashes, _CURVES[signer.private.curve.name])()
    sig = signer.private.sign(_pae(payload), ec.ECDSA(algorithm))
    bundle = {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": signer.public.hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode("ascii"), "keyid": ""}],
        },
    }
    return json.dumps(bundle, indent=2).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class Bundle:
    """A bundle's parts, parsed but not verified."""

    hint: str | None
    payload: bytes
    signature: bytes


def read_bundle(data: bytes) -> Bundle:
    """Parse a bundle.

    Raises:
        BadSignature: not a Sigstore bundle v0.3 with an in-toto DSSE envelope.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise BadSignature("the signature file is larger than any bundle")
    try:
        bundle = json.loads(data)
        if bundle["mediaType"] != MEDIA_TYPE:
            raise BadSignature(f"not a Sigstore bundle v0.3 (media type {str(bundle['mediaType'])[:80]!r})")
        envelope = bundle["dsseEnvelope"]
        if envelope["payloadType"] != PAYLOAD_TYPE:
            raise BadSignature("the envelope does not carry an in-toto statement")
        hint = ((bundle.get("verificationMaterial") or {}).get("publicKey") or {}).get("hint")
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
    except BadSignature:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        raise BadSignature("not a Sigstore bundle with a DSSE envelope (unreadable JSON or a missing field)") from None
    if hint is not None and not isinstance(hint, str):
        raise BadSignature("the bundle's key hint is not a string")
    return Bundle(hint, payload, signature)


def verify(data: bytes, key: PublicKey) -> dict[str, str]:
    """The files a signature signs (name -> hex sha256), once it is proven made by ``key``.

    Raises:
        BadSignature: why it does not hold (another key, a forged or torn statement).
        UsageError: ``cryptography`` is not installed.
    """
    bundle = read_bundle(data)
    if bundle.hint is not None and bundle.hint != key.hint:
        raise BadSignature(f"made by another key than {key.fingerprint}")
    seen = _verified_mark(data, key)
    if not os.path.exists(seen):
        _verify_ecdsa(bundle, key)
        _remember(seen)
    return _signed_files(bundle.payload)


def _verified_mark(data: bytes, key: PublicKey) -> str:
    """Where this user marks a (bundle, key) pair proven: the per-user cache, which no
    registry writer controls, so a later load of the same version needs no ECDSA (nor
    the import of ``cryptography``)."""
    from .location import user_folder

    name = hashlib.sha256(hashlib.sha256(data).digest() + key.der).hexdigest()
    return os.path.join(user_folder("cache"), "verified", name[:2], name)


def _remember(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "xb"):
            pass
    except OSError:  # a cache: a mark not written costs one more ECDSA later
        pass


def _verify_ecdsa(bundle: Bundle, key: PublicKey) -> None:
    loaded = key._loaded()
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        loaded.verify(bundle.signature, _pae(bundle.payload), ec.ECDSA(getattr(hashes, _CURVES[loaded.curve.name])()))
    except InvalidSignature:
        raise BadSignature(f"the signature does not verify with the key {key.fingerprint}") from None


def _signed_files(payload: bytes) -> dict[str, str]:
    """The files an (authentic) statement lists, checked to be consistent.

    Raises:
        BadSignature: not a v1.0 model-signing statement over sha256 file digests.
    """
    try:
        body = json.loads(payload)
        if body["_type"] != STATEMENT_TYPE or body["predicateType"] != PREDICATE_TYPE:
            raise BadSignature("not an OpenSSF model-signing v1.0 statement")
        (subject,) = body["subject"]
        root = subject["digest"]["sha256"]
        serialization = body["predicate"]["serialization"]
        if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
            raise BadSignature("the statement does not sign whole files by sha256 (method 'files')")
        files: dict[str, str] = {}
        digests = b""
        for resource in body["predicate"]["resources"]:
            name, digest = resource["name"], resource["digest"]
            if resource["algorithm"] != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", digest) or name in files:
                raise BadSignature(f"the statement's entry for {str(name)[:80]!r} is not one sha256")
            files[name] = digest
            digests += bytes.fromhex(digest)
    except BadSignature:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadSignature("the statement is not readable as a model-signing statement") from None
    if hashlib.sha256(digests).hexdigest() != root:
        raise BadSignature("the statement's root digest does not match the files it lists")
    return files


def check_signed_files(files: dict[str, str], expected: dict[str, str]) -> str:
    """'' when a signature signs exactly ``expected`` (name -> sha256); else what differs."""
    for name in sorted(expected):
        if name not in files:
            return f"it does not sign {name}"
        if files[name] != expected[name]:
            return f"it signs other bytes as {name}"
    extra = sorted(set(files) - set(expected))
    return f"it signs {extra[0]}, which the version does not hold" if extra else ""

