"""A registry in a folder on this machine: today's semantics, behind the interface.

Writes go to a temporary file in the same folder, fsynced, then renamed (or linked,
for a create, since ``link`` fails on an existing name where ``rename`` would
replace it). An update compares the key's token under an ``flock`` on the folder's
``.lock`` (never deleted; the kernel releases it when its holder dies, so it is
never stale), held only around the compare and the rename. A token is the sha256
of the content: an inode number can be reused and some filesystems keep mtimes to
the second, so neither can say "unchanged". A lease is an ``flock`` held on the
key's file for as long as its holder lives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

from .. import atomic
from ..layout import LOCK_FILE
from ..leases import HELD, Lease
from .base import CREATE, OVERWRITE, AlreadyExists, Object, Precondition, Storage, Update

if TYPE_CHECKING:
    from .. import lock

_CHUNK = 1 << 20
_MAX_COMPARED = 256 << 20  # keys updated by compare-and-swap are small metadata


def token_of(data: bytes) -> str:
    """A file's version token: its bytes' sha256 (made only for an update; hashlib's
    import is about 3 ms of a read command's start)."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


class LocalStorage(Storage):
    """Keys are paths below ``root``; no component may be a symlink or ``..``."""

    def __init__(self, root: str, lock_timeout: float = 30.0) -> None:
        self.root = os.path.abspath(root)
        self.folder = self.root
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"LocalStorage({self.root!r})"

    def path(self, key: str) -> str:
        """The file of ``key``, refusing a key that could leave the root.

        Raises:
            ValueError: an empty, absolute or ``..`` component.
        """
        if not key:
            return self.root  # the registry's own folder (for exists, children, age)
        parts = key.split("/")
        if any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise ValueError(f"not a storage key: {key!r}")
        return os.path.join(self.root, *parts)

    def safe_path(self, key: str, *, folder: bool = False) -> str:
        """The file of ``key``, none of whose folders below the root is a symlink (the
        file itself is opened with ``O_NOFOLLOW``), so a planted link cannot
        redirect a read or a write. With ``folder``, ``key`` is a folder, checked too.

        Raises:
            UnsafeFile: a folder on the way is a symlink.
        """
        if not key and not folder:
            raise ValueError("not a storage key: ''")
        path = self.path(key)
        current = self.root
        parts = key.split("/") if key else []
        for part in parts if folder else parts[:-1]:
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise atomic.UnsafeFile(errno.ELOOP, "a symlink; mlreg never follows links inside a registry",
                                        current)
        return path

    def where(self, key: str) -> str:
        return self.path(key) if key else self.root

    def get(self, key: str, limit: int) -> Object:
        path = self.safe_path(key)
        for attempt in range(50):
            try:
                data = atomic.read_bytes(path, limit)
                return Object(data, token_of)
            except atomic.UnsafeFile as e:
                # A create links its complete temporary file to the key, then removes the
                # temporary name: for that instant the file has two names. A hard link
                # that stays is refused.
                if e.errno != errno.EMLINK or attempt == 49:
                    raise
                time.sleep(0.001)
        raise AssertionError("unreachable")

    def put(self, key: str, data: bytes, mode: str | Update = OVERWRITE) -> str:
        path = self.safe_path(key)
        if isinstance(mode, Update) and not os.path.isfile(path):
            raise Precondition(f"{key} is gone")  # never made again by an update (a deleted version)
        atomic.make_dirs(os.path.dirname(path))
        if mode == OVERWRITE:
            atomic.write_atomic(path, data)
        elif mode == CREATE:
            if not atomic.create_exclusive(path, data):
                raise AlreadyExists(f"{key} exists")
        else:
            try:
                tmp = atomic.stage(path, data)  # fsynced before the lock: it covers only the compare and the rename
            except FileNotFoundError:
                raise Precondition(f"{key} is gone") from None
            try:
                with self._folder_lock(path):
                    try:
                        current = atomic.read_bytes(path, _MAX_COMPARED)
                    except FileNotFoundError:
                        raise Precondition(f"{key} is gone") from None
                    if token_of(current) != mode.token:
                        raise Precondition(f"{key} changed")
                    try:
                        os.replace(tmp, path)
                    except FileNotFoundError:
                        raise Precondition(f"{key} is gone") from None
            finally:
                atomic.discard(tmp)
            atomic.fsync_dir(os.path.dirname(path))
        return token_of(data)

    def put_stream(self, key: str, source: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        import hashlib

        path = self.safe_path(key)
        atomic.make_dirs(os.path.dirname(path))
        tmp = atomic.temp_name(path)
        digest = hashlib.sha256()
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            try:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                    size += len(chunk)
                    if progress is not None:
                        progress(size)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise AlreadyExists(f"{key} exists") from None
        finally:
            atomic.discard(tmp)
        atomic.fsync_dir(os.path.dirname(path))
        return size, digest.hexdigest()

    def list(self, prefix: str) -> list[str]:
        base = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        found = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in files:
                if name == LOCK_FILE or atomic.TEMP_MARKER in name:
                    continue
                found.append(os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/"))
        return sorted(found)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.safe_path(key))

    def local_path(self, key: str, sha256: str | None = None) -> str:
        path = self.safe_path(key)
        os.close(atomic.open_regular(path))  # exists, and is a plain file of its own
        return path

    @contextlib.contextmanager
    def lease(self, key: str, *, claim: bool = False) -> Iterator[Lease]:
        from .. import lock  # (imported by the writes that need it, not by every read)

        path = self.safe_path(key)
        atomic.make_dirs(os.path.dirname(path))
        try:
            fd = lock.hold(path, new=claim)
        except FileExistsError:
            raise AlreadyExists(f"{key} exists") from None
        try:
            yield HELD
        finally:
            lock.release_held(fd)

    def alive(self, key: str) -> bool:
        from .. import lock

        return lock.is_held(self.safe_path(key))

    def exists(self, key: str) -> bool:
        return os.path.lexists(self.path(key))

    def children(self, prefix: str) -> list[str]:
        try:
            return os.listdir(self.safe_path(prefix, folder=True))
        except (FileNotFoundError, NotADirectoryError):
            return []

    @contextlib.contextmanager
    def _below(self, prefix: str) -> Iterator[tuple[int, list[str]]]:
        """The folder ``prefix``, open, and the names just below it (none when it is absent),
        refusing a link. What lies below each is then looked up from the open folder: a
        path's components are not walked again for each name (a tenth of listing 10,000
        versions)."""
        try:
            fd = os.open(self.safe_path(prefix, folder=True), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            yield -1, []
            return
        try:
            names = []
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_symlink():
                        raise atomic.UnsafeFile(errno.ELOOP, "a symlink; mlreg never follows links inside a "
                                                "registry", os.path.join(self.where(prefix), entry.name))
                    names.append(entry.name)
            yield fd, names
        finally:
            os.close(fd)

    def stamps(self, prefix: str, leaf: str) -> dict[str, Any]:
        with self._below(prefix) as (fd, names):
            return {name: list(key) for name in names
                    if (key := atomic.file_key(f"{name}/{leaf}", dir_fd=fd)) is not None}

    def holding(self, prefix: str, name: str) -> set[str]:
        # (access: a bool, where lexists raises and catches for each folder without it)
        with self._below(prefix) as (fd, names):
            return {below for below in names
                    if os.access(f"{below}/{name}", os.F_OK, dir_fd=fd, follow_symlinks=False)}

    def append(self, key: str, data: bytes, sync: bool = True) -> None:
        path = self.safe_path(key)
        try:
            fd = atomic.open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except FileNotFoundError:  # its folder too is new
            atomic.make_dirs(os.path.dirname(path))
            fd = atomic.open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def move(self, src: str, dst: str) -> None:
        target = self.safe_path(dst)
        atomic.make_dirs(os.path.dirname(target))
        os.rename(self.safe_path(src), target)

    def delete_folder(self, prefix: str) -> None:
        import shutil

        path = self.safe_path(prefix, folder=True)
        if not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)

    def local_folder(self, prefix: str, name: str | None = None) -> str | None:
        path = self.safe_path(prefix, folder=True)
        return path if os.path.isdir(path) and not os.path.islink(path) else None

    def age(self, key: str) -> float | None:
        try:
            return time.time() - os.lstat(self.path(key)).st_mtime
        except FileNotFoundError:
            return None

    def _folder_lock(self, path: str) -> lock.Lock:
        from .. import lock

        folder = os.path.dirname(path)
        return lock.Lock(os.path.join(folder, LOCK_FILE), self.lock_timeout, what=f"{folder}")
