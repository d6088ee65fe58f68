"""Publishing a version: the one home of that protocol, used by ``deploy`` and by
every copy from another registry (``push``, ``pull``, ``import``).

A writer first records the number as taken in model.toml (a compare-and-swap,
so that no later deploy reuses it even if this writer dies), then claims the
version's folder by creating its lease (``Folder.claim``: a create that fails if
another claimed it), fills the folder, and finally creates ``version.toml``
here: a version is there for readers once its version.toml is, and never before.
A writer paused past its lease publishes nothing (its folder may be another's
now); one whose create finds other bytes there lost its claim to damage.
"""

from __future__ import annotations

import contextlib

from ..errors import LeaseLost, VersionExists
from ..folders import Folder
from ..layout import VERSION_FILE
from ..leases import Lease
from ..repo import Repository


def claim_version(repo: Repository, folder: str, vfolder: str, leases: contextlib.ExitStack) -> tuple[Folder, Lease] | None:
    """The version's folder, claimed by this writer until ``leases`` closes; None when
    another writer claimed that number first."""
    claimed = repo.version_folder(folder, vfolder)
    lease = claimed.claim(leases)
    return None if lease is None else (claimed, lease)


def publish_version(claimed: Folder, lease: Lease, record: bytes, what: str) -> None:
    """Create the claimed version's ``version.toml`` (``record``), making it a version.

    Raises:
        LeaseLost: this writer was paused past its lease; nothing was published.
        VersionExists: the folder's version.toml holds other bytes.
    """
    if not lease.held():
        raise LeaseLost(f"{what}: this writer was paused past its lease (MLREG_DEPLOY_LEASE seconds); it "
                        "published nothing. Try again.")
    if not claimed.create_once(VERSION_FILE, record):
        raise VersionExists(f"{claimed.where(VERSION_FILE)} holds another version's record; nothing was published")


def discard_claimed(claimed: Folder, leases: contextlib.ExitStack) -> None:
    """Remove a claimed version that was never published (its lease first)."""
    leases.close()
    claimed.remove()


__all__ = ["claim_version", "discard_claimed", "publish_version"]
