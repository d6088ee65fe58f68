"""Integrity, in one place: whether a version's bytes are what was deployed, and whether
this reader may load them.

Every path that loads or checks a version goes through here: ``predict``,
``load`` and ``serve`` (through the predictor, ``mlreg.predictor``), ``verify``,
``doctor`` and ``import``. What is checked:

- the artifact's size and sha256 against its ``version.toml`` (``open_verified``:
  never through a link, only a regular file inside the registry);
- the code's digest (``deploy --code``, ``usercode.verify``);
- that the version may be called here: Active, the artifact the caller expects
  (``--expect-sha256``), and vouched for by the trust file, read afresh.
"""

from __future__ import annotations

from typing import BinaryIO

from .errors import IntegrityError, NotActive
from .metadata import VersionRecord
from .repo import Repository


def problem(repo: Repository, record: VersionRecord) -> str:
    """'' when what the store holds now (read afresh, never from a cache) is what was
    deployed: the artifact's size and sha256, and the code's digest; else the problem."""
    from .predict import open_verified
    from .usercode import verify

    try:
        open_verified(repo.artifact_path(record, cached=False), record.size, record.sha256).close()
        verify(repo.code_path(record, cached=False), record.code_sha256)
    except IntegrityError as e:
        return str(e)
    return ""


def check_callable(record: VersionRecord, trust_file: str | None = None, expect_sha256: str | None = None) -> None:
    """Check that ``record`` may be called by this reader: it is Active, its artifact is
    the one expected (``expect_sha256``), and the trust file (read afresh, so that a
    version taken out of it stops answering at once, in ``serve`` too) lists it.

    Raises:
        NotActive, IntegrityError.
    """
    from . import names

    if record.status != "active":
        raise NotActive(f"{record.model!r} {record.version} is {record.status_label}; only Active versions can be called")
    if expect_sha256 is not None and expect_sha256.strip().lower() != record.sha256:
        raise IntegrityError(f"{record.model} {record.version} has sha256 {record.sha256}, "
                             f"not the expected {expect_sha256.strip()}; refusing to load it")
    if trust_file is not None:
        from .trust import load_trust

        # The folder the version lies in (its record was checked to name it), never a claim.
        load_trust(trust_file).check(names.folder(record.model), record.version, record.sha256,
                                     record.code_sha256)


def open_for_load(repo: Repository, record: VersionRecord) -> tuple[BinaryIO, str, str | None]:
    """The artifact, opened and verified, the path it was read from, and the version's
    code folder, verified (None without code): everything a load needs, checked.

    Raises:
        IntegrityError: the artifact or the code is not what was deployed.
    """
    from .usercode import verify

    code_dir = verify(repo.code_path(record), record.code_sha256)
    f, path = repo.open_artifact(record)
    return f, path, code_dir
