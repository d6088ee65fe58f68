"""Atomic file IO: what others can see is either the old file or the new one.

Writes go to a temporary file in the same folder, which is flushed, fsynced and
renamed over the target; the folder is then fsynced so the rename survives a
power cut. Files are created with mode 0o666 (0o777 for folders) filtered by
the umask, so a team sharing a registry through a group can all write it.
"""

from __future__ import annotations

import errno
import os
import stat

# Temporary files carry this marker so ``doctor`` can tell them from real files.
TEMP_MARKER = ".tmp-"


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
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def file_key(path: str) -> tuple[int, int, int] | None:
    """What identifies this exact content of a file that is only ever replaced by
    rename (a new inode each time): None when it does not exist."""
    try:
        st = os.lstat(path)
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
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _remove_quietly(tmp)
    fsync_dir(os.path.dirname(path) or ".")
    return True


def publish_dir(staged: str, target: str) -> None:
    """Move the staged folder ``staged`` to ``target``, which must not exist.

    Renaming onto an *empty* folder silently succeeds on Linux, so the check
    comes first; callers hold the lock that makes check-then-rename safe.

    Raises:
        FileExistsError: ``target`` exists.
    """
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists", target)
    os.rename(staged, target)
    fsync_dir(os.path.dirname(target))


def append_line(path: str, line: str, sync: bool = True) -> None:
    """Append one line to a log that readers parse line by line.

    A crash can leave a torn last line; readers ignore a line without its
    ``\\n``, and the next append (made under the same lock) cuts it off first
    so it is never glued to a good line. With ``sync=False`` the caller calls
    ``fsync_file`` later (after releasing its lock); readers see the line at
    once either way.
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size:
            last = os.pread(fd, 1, size - 1)
            if last != b"\n":
                tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
                os.ftruncate(fd, size - len(tail) + tail.rfind(b"\n") + 1)
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Flush a file written earlier (e.g. by ``append_line(..., sync=False)``) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_bytes(path: str, limit: int) -> bytes:
    """Read a regular file, never through a symlink, refusing one over ``limit`` bytes.

    Raises:
        FileNotFoundError: no such file.
        OSError: a symlink (``ELOOP``) or not a regular file.
        ValueError: larger than ``limit``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
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
