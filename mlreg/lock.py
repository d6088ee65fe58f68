"""Locks on lock files that are never deleted, taken with ``flock``.

The kernel releases an ``flock`` when its holder dies, even by SIGKILL, so a
lock is never stale. Deleting a lock file would let two processes hold locks
on two different inodes of one name, so lock files stay forever.

Two uses:
- ``Lock``: a model's lock, held for the short read-modify-write of its
  shared state (next version, primary, README, description, history).
- ``hold`` / ``is_held``: a deploy holds a lock on its own version for as long
  as its process lives; a reader probes it without waiting to tell a live
  deploy from an interrupted one.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from . import atomic
from .errors import IntegrityError, LockTimeout

FOREVER = -1.0
# Benchmarks set MLREG_LOCK_TRACE to a file that gets one line per release:
# how long the lock was held, in milliseconds, and what it guarded.
_TRACE = os.environ.get("MLREG_LOCK_TRACE", "")


def _open(path: str, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    # The holder's details are written into the lock file: a symlink or a hard
    # link planted there must not redirect that write into a file elsewhere,
    # and a FIFO must not hang us.
    try:
        return atomic.open_regular(path, flags)
    except atomic.UnsafeFile as e:
        raise IntegrityError(f"lock file {path} is {e.strerror}; refusing to use it") from None


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder_of(path: str) -> str:
    """What the lock file says about its holder, for error messages."""
    try:
        text = atomic.read_bytes(path, 4096).decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    return " ".join(text.split())[:500]


class Lock:
    """An exclusive lock on ``path``; a context manager. Not re-entrant.

    ``timeout`` is in seconds; ``FOREVER`` (-1) waits for ever.
    """

    def __init__(self, path: str, timeout: float = 30.0, what: str = "") -> None:
        self.path = path
        self.timeout = timeout
        self.what = what or path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Raises: LockTimeout naming the holder when not had within ``timeout``."""
        fd = _open(self.path)
        try:
            if self.timeout is not None and self.timeout < 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            elif not _try(fd):
                self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._since = time.perf_counter()
        # The holder's details are written only once the lock is won.
        note = f"pid {os.getpid()} on {os.uname().nodename} ({_command()}) since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode("utf-8"), 0)
        except OSError:
            pass

    def _wait(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            if _try(fd):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = holder_of(self.path)
                raise LockTimeout(
                    f"{self.what} is locked"
                    + (f" by {holder}" if holder else "")
                    + f"; gave up after {self.timeout:g}s (raise --lock-timeout, or -1 to wait)"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
            if _TRACE:
                held = (time.perf_counter() - self._since) * 1000
                with open(_TRACE, "a") as f:
                    f.write(f"{held:.3f} {self.what}\n")

    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold(path: str, new: bool = False) -> int:
    """Create ``path`` (with ``new``, only if it does not exist) and lock it for the
    life of this process; return the descriptor.

    The descriptor is close-on-exec, so child processes (the deploy check) do
    not inherit it: the lock means "this deploy's own process is alive".

    Raises:
        FileExistsError: ``new`` and ``path`` exists.
    """
    fd = _open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL) if new else _open(path)
    if not _try(fd):
        os.close(fd)
        raise RuntimeError(f"{path} is already held")
    return fd


def release_held(fd: int) -> None:
    """Release a lock taken with ``hold``."""
    try:
        os.close(fd)
    except OSError:
        pass


def is_held(path: str) -> bool:
    """True while some live process holds the lock on ``path``; never waits.

    A missing lock file counts as not held.

    Raises:
        IntegrityError: the lock file is a symlink, a FIFO, or hard-linked.
    """
    try:
        fd = _open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        if _try(fd):
            return False
        return True
    finally:
        os.close(fd)


def _command() -> str:
    argv = [os.path.basename(sys.argv[0] or "python")] + sys.argv[1:3]
    return " ".join(argv)
