"""Integrity, in one place: whether a version's bytes are what was deployed, and whether
this reader may load them.

Every path that loads or checks a version goes through here: ``predict``,
``load`` and ``serve`` (through the predictor, ``mlreg.predictor``), ``verify``,
``doctor`` and ``import``. What is checked:

- the artifact's size and sha256 against its ``version.toml`` (``open_verified``:
  never through a link, only a regular file inside the registry);
- the code's digest (``deploy --code``, ``usercode.verify``);
- that the version may be called here: Active, the artifact the caller expects
  (``--expect-sha256``), and, where the trust file (read afresh) pins a model's
  artifacts under ``[models]``, one of those;
- what the load policy lets it import (``load_rule``, then ``predict.load_verified``
  walks the pickle before a byte is unpickled and loads it through an unpickler
  that imports only what the policy allows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Sequence

from ..errors import IntegrityError, NotActive
from ..metadata import VersionRecord
from ..repo import Repository

if TYPE_CHECKING:
    from .signing import SignatureCheck
    from ..policy import Policy
    from ..trust import TrustList


def problem(repo: Repository, record: VersionRecord) -> str:
    """'' when what the store holds now (read afresh, never from a cache) is what was
    deployed: the artifact's size and sha256, and the code's digest; else the problem."""
    from ..predict import open_verified
    from ..usercode import verify

    try:
        open_verified(repo.artifact_path(record, cached=False), record.size, record.sha256).close()
        verify(repo.code_path(record, cached=False), record.code_sha256)
    except IntegrityError as e:
        return str(e)
    return ""


def check_callable(record: VersionRecord, trust_file: str | None = None,
                   expect_sha256: str | None = None) -> TrustList | None:
    """Check that ``record`` may be called by this reader: it is Active, its artifact is
    the one expected (``expect_sha256``), and the trust file (read afresh, so that a
    version taken out of it stops answering at once, in ``serve`` too) does not pin
    the model to other artifacts. Returns the trust file read (None without one).

    Raises:
        NotActive, IntegrityError.
    """
    from .. import names

    if record.status != "active":
        raise NotActive(f"{record.model!r} {record.version} is {record.status_label}; only Active versions can be called")
    if expect_sha256 is not None and expect_sha256.strip().lower() != record.sha256:
        raise IntegrityError(f"{record.model} {record.version} has sha256 {record.sha256}, "
                             f"not the expected {expect_sha256.strip()}; refusing to load it")
    if trust_file is None:
        return None
    from ..trust import load_trust

    trust = load_trust(trust_file)
    # The folder the version lies in (its record was checked to name it), never a claim.
    trust.check(names.folder(record.model), record.version, record.sha256, record.code_sha256)
    return trust


def load_rule(repo: Repository, record: VersionRecord, trust: TrustList | None,
              checks: list[SignatureCheck] | None = None) -> Policy | None:
    """How this reader may load ``record``'s artifact: None, as any pickle (the policy is
    ``pickle``, or the version is vouched for: listed under ``[models]``, or signed by a
    signer this reader trusts); else the policy whose allowlist its imports must pass
    (``predict.load_verified`` enforces it).

    Here signatures are checked (unless ``checks`` holds them checked already) only for a
    version the policy refuses whatever it imports (code of its own, a pickle under
    ``safe-only``); a pickle whose imports the walk refuses asks them at load
    (``Registry.load_version``). A plain scikit-learn model loads under the allowlist
    with no cryptography at all.

    Raises:
        IntegrityError (exit 7): refused whatever it imports: a version with code of
        its own (``--code``) nobody vouched for, or a pickle under ``safe-only``.
    """
    from .. import names
    from ..policy import default_policy

    policy = trust.policy if trust is not None else default_policy()
    if policy.mode == "pickle" or (trust is not None and trust.vouches(
            names.folder(record.model), record.sha256, record.code_sha256)):
        return None
    if _needs_vouching(record, policy):
        from .signing import check_signatures, vouched_by_signature

        if vouched_by_signature(check_signatures(repo, record, trust) if checks is None else checks):
            return None
    where = f"the trust file {trust.path}" if trust is not None else "a trust file (--trust-file / MLREG_TRUST_FILE)"
    sign = f"or have a signer you trust sign it (`mlreg sign {record.model} {record.version}`)"
    if record.code_sha256 is not None:
        raise IntegrityError(
            f"{record.model} {record.version} was deployed with --code, and code shipped with a version runs when it "
            f"loads: it loads only when vouched for: {sign}, or list \"{record.sha256}+{record.code_sha256}\" for "
            f"{names.folder(record.model)} under [models] in {where}; nothing of it has run")
    if policy.mode == "safe-only" and record.format == "joblib":
        raise IntegrityError(
            f"{record.model} {record.version} is a pickle (joblib) and the load policy of {where} is safe-only "
            f"(ONNX and skops only): {sign}, or list its sha256 under [models] there; nothing of it has run")
    return policy


def _needs_vouching(record: VersionRecord, policy: Policy) -> bool:
    """Whether the policy refuses ``record`` whatever it imports: code of its own, or a
    pickle under ``safe-only``. (What a pickle imports is judged by the walk at load, and
    a refused load asks the signatures then: ``Registry.load_version``.)"""
    return record.code_sha256 is not None or (policy.mode == "safe-only" and record.format == "joblib")


def judge(repo: Repository, record: VersionRecord, trust: TrustList | None,
          trust_readable: bool = True, unsigned: bool = False) -> tuple[list[SignatureCheck], bool]:
    """The version's signatures, each checked, and whether this reader would load it
    under its trust file and policy (``trusted``, SPEC §11): by the rules a load
    applies (``check_callable``'s pins, ``load_rule``), its imports as recorded
    (read from the artifact when its record has none; a load reads them again, and
    judges scikit-learn's names exactly, which this forecast does by their form, so
    that a reading command never imports scikit-learn).
    A trust file that cannot be read (``trust_readable`` False) trusts nothing.
    ``unsigned``: the caller knows the version holds no signature files (a listing of
    many versions found them in one look: ``Repository.signed_folders``)."""
    from .. import names

    checks: list[SignatureCheck] = []
    if not unsigned:  # (else signing's module is never imported: a listing's JSON needs none of it)
        from .signing import check_signatures

        try:
            checks = check_signatures(repo, record, trust)
        except IntegrityError:  # its code is not what was deployed
            return [], False
    if not trust_readable:
        return checks, False
    try:
        if trust is not None:
            trust.check(names.folder(record.model), record.version, record.sha256, record.code_sha256)
        policy = load_rule(repo, record, trust, checks)
    except IntegrityError:
        return checks, False
    if policy is None or record.format == "onnx":
        return checks, True
    imports = record.imports if record.imports is not None else _imports_read(repo, record)
    allowed = imports is not None and policy.first_refused(imports, forecast=True) is None
    if allowed or not checks:
        return checks, allowed
    from .signing import vouched_by_signature

    return checks, vouched_by_signature(checks)


def judge_all(repo: Repository, records: Sequence[VersionRecord], trust: TrustList | None,
              trust_readable: bool = True) -> list[tuple[list[SignatureCheck], bool]]:
    """``judge`` of each of ``records`` (a listing's JSON). Which versions hold signatures
    is one listing a model, not one each; and without a trust file, an unsigned version's
    judgment depends only on its format, whether it has code, and its recorded imports:
    judged once for all the versions that share them."""
    from .. import names, versions

    signed: dict[str, set[str]] | None = None
    if len(records) > 8:
        try:
            signed = {m: repo.signed_folders(names.folder(m)) for m in {r.model for r in records}}
        except OSError:
            signed = None  # each version's own listing says what is wrong
    judged: dict[tuple[Any, ...], bool] = {}
    found = []
    for record in records:
        # (a version's folder is worked out only when its model has signed versions at all)
        unsigned = signed is not None and (not signed[record.model]
                                           or versions.folder(record.version) not in signed[record.model])
        alike = (record.format, record.code_sha256 is None, tuple(record.imports)) \
            if unsigned and trust is None and record.imports is not None else None
        if alike is not None and alike in judged:
            found.append(([], judged[alike]))
            continue
        checks, trusted = judge(repo, record, trust, trust_readable, unsigned)
        if alike is not None:
            judged[alike] = trusted
        found.append((checks, trusted))
    return found


def _imports_read(repo: Repository, record: VersionRecord) -> list[str] | None:
    """What the artifact would import, read from its bytes (None: unreadable, or not what
    was deployed)."""
    from ..pickles import Unreadable, imports_of
    from ..predict import open_verified

    try:
        with open_verified(repo.artifact_path(record), record.size, record.sha256) as f:
            return sorted(imports_of(f))
    except (IntegrityError, Unreadable, OSError):
        return None


def open_for_load(repo: Repository, record: VersionRecord) -> tuple[BinaryIO, str, str | None]:
    """The artifact, opened and verified, the path it was read from, and the version's
    code folder, verified (None without code): everything a load needs, checked.

    Raises:
        IntegrityError: the artifact or the code is not what was deployed.
    """
    from ..usercode import verify

    code_dir = verify(repo.code_path(record), record.code_sha256)
    f, path = repo.open_artifact(record)
    return f, path, code_dir
