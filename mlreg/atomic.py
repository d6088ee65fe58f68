"""Atomic file IO: what others can see is either the old file or the new one.

Writes go to a temporary file in the same folder, which is flushed, fsynced and
renamed over the target; the folder is then fsynced so the rename survives a
power cut. Files are created with mode 0o666 (0o777 for folders) filtered by
the umask, so a team sharing a registry through a group can all write it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

# Temporary files carry this marker so ``doctor`` can tell them from real files.
TEMP_MARKER = ".tmp-"


class UnsafeFile(OSError):
    """A registry path that is not a plain file of its own: a symlink, a FIFO, a
    device, a folder, or a hard link to a file that also lives elsewhere."""


def open_regular(path: str, flags: int = os.O_RDONLY, *, links_ok: bool = False) -> int:
    """Open a registry file and return its descriptor, refusing anything but a
    regular file that only this name points to.

    Every registry file is opened through here. ``O_NOFOLLOW`` refuses a
    symlink; ``O_NONBLOCK`` makes opening a FIFO return at once instead of
    waiting for a writer (a planted FIFO used to hang every reader, and `serve`
    with them); ``fstat`` on the open descriptor then refuses what is not a
    regular file, and a second hard link, which would let a write to the
    registry land in a file elsewhere. ``links_ok`` is for files that mlreg
    itself creates by ``link`` (``create_exclusive``), which have two names
    for a moment.

    Raises:
        FileNotFoundError: no such file (and ``flags`` has no ``O_CREAT``).
        UnsafeFile: a symlink, not a regular file, or hard-linked.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeFile(errno.ELOOP, "a symlink; mlreg never follows links inside a registry", path) from None
        if e.errno in (errno.ENXIO, errno.EISDIR):
            raise UnsafeFile(e.errno, "not a regular file", path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(errno.EINVAL, "not a regular file", path)
        if info.st_nlink > (2 if links_ok else 1):
            raise UnsafeFile(errno.EMLINK, f"a hard link ({info.st_nlink} names for one file)", path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def temp_name(path: str) -> str:
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}{TEMP_MARKER}{os.urandom(4).hex()}")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content."""
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_dir(os.path.dirname(path) or ".")


def stage(path: str, data: bytes | str) -> str:
    """Write ``data`` to a new temporary file beside ``path``, flushed and fsynced,
    and return its name: ``os.replace(tmp, path)`` then publishes it atomically.

    Writers that hold a lock stage their files before taking it, so that the
    lock covers only the renames (an fsync can take tens of milliseconds).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def file_key(path: str, dir_fd: int | None = None) -> tuple[int, int, int] | None:
    """What identifies this exact content of a file that is only ever replaced by
    rename (a new inode each time): None when it does not exist. (``dir_fd``: ``path``
    is relative to that open folder.)"""
    try:
        st = os.lstat(path, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def discard(path: str) -> None:
    """Remove a staged file that will not be published (quietly)."""
    _remove_quietly(path)


def create_exclusive(path: str, data: bytes | str) -> bool:
    """Create ``path`` holding ``data`` only if it does not exist; return whether it did.

    The content is complete before the name appears: it is written to a
    temporary file that is then hard-linked to ``path`` (``link`` fails if the
    name exists, atomically, unlike ``rename``).
    """
    tmp = stage(path, data)  # removes its temporary file itself when a write fails (a full disk)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _remove_quietly(tmp)
    fsync_dir(os.path.dirname(path) or ".")
    return True


def read_bytes(path: str, limit: int, *, links_ok: bool = False) -> bytes:
    """Read a regular file (see ``open_regular``), refusing one over ``limit`` bytes.

    Raises:
        FileNotFoundError: no such file.
        UnsafeFile: a symlink, not a regular file, or hard-linked.
        ValueError: larger than ``limit``.
    """
    fd = open_regular(path, links_ok=links_ok)
    try:
        info = os.fstat(fd)
        if info.st_size > limit:
            raise ValueError(f"{path} is {info.st_size} bytes, more than the {limit} allowed")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            if sum(map(len, chunks)) > limit:
                raise ValueError(f"{path} is larger than the {limit} bytes allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)


def make_dirs(path: str) -> None:
    """``mkdir -p`` with modes from the umask (group-writable where the umask allows)."""
    os.makedirs(path, mode=0o777, exist_ok=True)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
