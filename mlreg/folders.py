"""One folder of a registry, as the repository hands it out: a model's, a version's,
a deploy's staging area, the ID index. The door through which operations and
doctor touch files they own, by name, without building a storage key or calling
storage themselves (``Repository.version_folder``, ``.model_folder``, ``.staging``,
``.id_folder``). Records (model.toml, version.toml) change through the repository's
own methods (``Repository.update``, ``.update_version``), never through here.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, BinaryIO, Callable

from .atomic import UnsafeFile
from .errors import IntegrityError
from .layout import DEPLOY_LOCK, LOG_FILE
from .leases import Lease
from .storage.base import CREATE, Object, Precondition, Storage


def get_checked(storage: Storage, key: str, limit: int, what: str = "") -> Object | None:
    """``storage.get``, None when the key is absent; the one translation of what makes a
    registry file unreadable (the repository's reads and a folder's alike).

    Raises:
        IntegrityError: larger than ``limit``, or unsafe to read (a link, a FIFO), naming it.
    """
    try:
        return storage.get(key, limit)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise IntegrityError(f"{what + ' ' if what else ''}{storage.where(key)} is {e.strerror}; "
                             "refusing to read it") from None
    except ValueError as e:
        raise IntegrityError(f"cannot read {storage.where(key)}: {e}") from None


def put_checked(storage: Storage, key: str, data: bytes, *mode: Any) -> None:
    """``storage.put`` (``mode``: CREATE or an Update, else overwrite), an unsafe file (a
    link, a FIFO) an IntegrityError naming it."""
    try:
        storage.put(key, data, *mode)
    except UnsafeFile as e:
        raise IntegrityError(f"{storage.where(key)} is {e.strerror}; nothing was changed") from None


class Folder:
    """The keys below ``prefix`` of ``storage``, by name (``name`` may hold ``/``)."""

    def __init__(self, storage: Storage, prefix: str) -> None:
        self._storage = storage
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where()!r})"

    def key(self, name: str = "") -> str:
        return f"{self.prefix}/{name}" if name else self.prefix

    def where(self, name: str = "") -> str:
        """The folder, or a file in it, as a person finds it (a path or a URL)."""
        return self._storage.where(self.key(name))

    def exists(self, name: str = "") -> bool:
        """Whether the file ``name`` (or, without it, anything in the folder) is there."""
        return self._storage.exists(self.key(name))

    def names(self, name: str = "") -> list[str]:
        """What is just below the folder (or its subfolder ``name``), hidden names left out;
        [] when there is nothing.

        Raises:
            OSError: the folder is unsafe to read (a link).
        """
        return [e for e in self._storage.children(self.key(name)) if not e.startswith(".")]

    def files(self, name: str) -> list[str]:
        """The names (relative to the folder) of every file below its subfolder ``name``."""
        return [key[len(self.prefix) + 1:] for key in self._storage.list(self.key(name) + "/")]

    def read(self, name: str, limit: int) -> bytes | None:
        """The file's bytes, None when it is absent.

        Raises:
            IntegrityError: larger than ``limit``, or unsafe to read (a link, a FIFO).
        """
        found = get_checked(self._storage, self.key(name), limit)
        return None if found is None else found.data

    def write(self, name: str, data: bytes) -> None:
        """Replace the file whole (readers see the old bytes or the new)."""
        put_checked(self._storage, self.key(name), data)

    def create(self, name: str, data: bytes) -> bool:
        """Create the file; False (and nothing written) when it exists already."""
        try:
            self._storage.put(self.key(name), data, CREATE)
            return True
        except Precondition:
            return False

    def create_once(self, name: str, data: bytes) -> bool:
        """Create a file this writer owns (it holds the folder's claim): a create retried
        after its answer was lost finds its own bytes, which is success. False when
        the file holds other bytes."""
        try:
            self._storage.create_once(self.key(name), data)
            return True
        except Precondition:
            return False

    def append(self, name: str, data: bytes) -> None:
        """Add to the end of a file one writer owns (a deploy log)."""
        self._storage.append(self.key(name), data)

    def remove(self, name: str = "") -> None:
        """Remove the file ``name``, or, without it, the whole folder."""
        if name:
            self._storage.delete(self.key(name))
        else:
            self._storage.delete_folder(self.prefix)

    def remove_tree(self, name: str) -> None:
        """Remove every file below the subfolder ``name``."""
        self._storage.delete_folder(self.key(name))

    def age(self, name: str = "") -> float | None:
        """Seconds since the file (or the folder) was last written; None when absent."""
        return self._storage.age(self.key(name))

    def is_link(self, name: str = "") -> bool:
        """Whether it is a symlink, in a registry that is a folder on this machine."""
        root = self._storage.folder
        return root is not None and os.path.islink(os.path.join(root, *self.key(name).split("/")))

    def is_file(self) -> bool:
        """Whether the folder is a plain file instead, in a registry that is a folder on this machine."""
        root = self._storage.folder
        return root is not None and os.path.isfile(os.path.join(root, *self.prefix.split("/")))

    # ------------------------------------------------------ bytes coming in

    def stream_in(self, name: str, source: BinaryIO) -> tuple[int, str]:
        """Create the file from ``source``, streamed and hashed; (size, sha256)."""
        return self._storage.put_stream(self.key(name), source)

    def upload(self, path: str, name: str, progress: Callable[[int, int], None] | None = None) -> tuple[int, str]:
        """Copy the local file ``path`` in as ``name``, byte for byte; (size, sha256).

        Raises:
            BadInput: ``path`` is missing, not a regular file, or changed meanwhile.
        """
        from .artifacts import upload

        return upload(path, self._storage, self.key(name), progress)

    def upload_tree(self, root: str, name: str) -> None:
        """Copy every file of the local folder ``root`` in below ``name``."""
        for folder, _, files in os.walk(root):
            for file in sorted(files):
                path = os.path.join(folder, file)
                self.upload(path, f"{name}/{os.path.relpath(path, root).replace(os.sep, '/')}")

    def move(self, name: str, to: Folder) -> None:
        """Move the file or subfolder ``name`` to the same name in ``to`` (which must not have it)."""
        if self.exists(name):
            self._storage.move(self.key(name), to.key(name))

    # ------------------------------------------------------------- leases

    def claim(self, leases: contextlib.ExitStack) -> Lease | None:
        """Claim the folder by creating its deploy lease, held until ``leases`` closes;
        None (nothing held) when another claimed it first."""
        try:
            return leases.enter_context(self._storage.lease(self.key(DEPLOY_LOCK), claim=True))
        except Precondition:
            return None

    def claimed(self) -> bool:
        """Whether someone ever claimed the folder (its lease file is there)."""
        return self._storage.exists(self.key(DEPLOY_LOCK))

    def alive(self) -> bool:
        """Whether the deploy that claimed the folder still holds its lease; never waits.

        Raises:
            IntegrityError: the lease's file is unsafe (a FIFO, a link).
        """
        try:
            return self._storage.alive(self.key(DEPLOY_LOCK))
        except IntegrityError:
            raise
        except OSError as e:
            raise IntegrityError(f"the deploy lease {self.where(DEPLOY_LOCK)} is {e.strerror}") from None

    def lease_age(self) -> float | None:
        return self.age(DEPLOY_LOCK)

    def log(self) -> Any:
        """The folder's deploy log (``deploylog.DeployLog``), opened for appending."""
        from .deploylog import DeployLog

        return DeployLog(self._storage, self.key(LOG_FILE))
