"""The storage interface: get, put (overwrite, create, or update if unchanged), a
streamed put that hashes as it writes, list, delete, where, and a deploy's liveness
lease are what a backend must write (as ``object_store`` asks of its stores); the
rest (exists, children, stamps, append, move, delete_folder, local copies, age)
have default methods made of those, which a backend overrides where it can do
better (a folder renames; a bucket lists with a delimiter). The compare-and-swap
loop is written once on top.

Like ``object_store``'s ``PutMode::{Overwrite, Create, Update(version)}``: a create
fails if the key exists, an update fails unless the key still has the version token
that was read, and either failure is ``Precondition`` ("lost a race"), which the
caller answers by reading again. Tokens are opaque strings (an ETag on S3, a hash
of the content here).
"""

from __future__ import annotations

import abc
import contextlib
import os
from typing import Any, BinaryIO, Callable, Iterator, NamedTuple

from ..leases import Lease

OVERWRITE = "overwrite"
CREATE = "create"


class Update(NamedTuple):
    """Replace the key only while it still has version ``token``.

    A token may be derived from the content (a folder uses its sha256), so a key
    written back to the very bytes that were read counts as unchanged there; an
    object store's ETag changes on every write."""

    token: str


class Precondition(Exception):
    """A create of a key that exists, or an update of a key that changed (or went)."""


class AlreadyExists(Precondition):
    """A create of a key that exists (``object_store``'s ``AlreadyExists``): told apart
    from an update that lost its race, which is the other ``Precondition``."""


class Object:
    """A key's bytes and its version token (what ``Update`` is given back). A backend
    that derives the token from the bytes (a folder: their sha256) may give a function
    of the bytes instead: it runs when the token is first asked for, which a read
    never does."""

    __slots__ = ("data", "_token")

    def __init__(self, data: bytes, token: str | Callable[[bytes], str]) -> None:
        self.data = data
        self._token = token

    @property
    def token(self) -> str:
        if callable(self._token):
            self._token = self._token(self.data)
        return self._token

    def __repr__(self) -> str:
        return f"Object({len(self.data)} bytes)"


def cas_attempts(limit: int = 1000, first: float = 0.001, cap: float = 0.05) -> Iterator[int]:
    """The retry policy of every compare-and-swap loop (``Storage.update`` and
    ``Repository.update``): the first attempt at once, each later one after a
    pause drawn at random below a bound that doubles from ``first`` seconds up to
    ``cap`` ("full jitter": racers that lost together do not come back together),
    ``limit`` attempts in all; the caller raises when they run out."""
    import random
    import time

    for attempt in range(limit):
        if attempt:
            time.sleep(random.uniform(0, min(cap, first * (1 << min(attempt, 16)))))
        yield attempt


class Storage(abc.ABC):
    """A registry's bytes, by key. Implementations provide the primitives; the
    policy (the compare-and-swap loop) is written once, here."""

    # Declared capabilities, asked instead of sniffing the backend's type:
    # ``remote``: an object store, where every read is a request and ``move`` a copy of
    # every byte; a deploy then streams its artifact straight into the version it
    # claimed (not through a staging folder), and listings read through the cache at
    # any size. ``folder``: the folder on this machine that holds the keys (None
    # elsewhere), for what only a filesystem can hold (links, FIFOs: doctor's walk).
    remote = False
    folder: str | None = None

    @abc.abstractmethod
    def get(self, key: str, limit: int) -> Object:
        """The key's bytes and version token.

        Raises:
            FileNotFoundError: no such key.
            ValueError: larger than ``limit`` bytes.
            OSError: the key is unsafe to read (``atomic.UnsafeFile`` on a folder).
        """

    @abc.abstractmethod
    def put(self, key: str, data: bytes, mode: str | Update = OVERWRITE) -> str:
        """Write ``data`` at ``key`` atomically (readers see the old bytes or the new);
        return the new version token.

        Raises:
            Precondition: ``mode`` is CREATE and the key exists, or ``Update(token)``
                and the key no longer has that token.
        """

    @abc.abstractmethod
    def put_stream(self, key: str, source: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        """Create ``key`` from ``source``, streamed and hashed in the same pass, never
        whole in memory; return (size, sha256).

        Raises:
            Precondition: the key exists.
        """

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key below ``prefix`` (a folder, ending in ``/``), sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    def local_path(self, key: str, sha256: str | None = None) -> str:
        """A path on this machine holding the key's bytes, to load from (the file
        itself for a folder; for a remote store, a copy in a cache, found by
        ``sha256`` when given: readers verify size and hash before every load).

        Raises:
            FileNotFoundError: no such key.
        """
        import hashlib
        import tempfile

        found = self.get(key, 1 << 62)
        copies = self._copies()
        path = os.path.join(copies, hashlib.sha256(found.data).hexdigest())
        if not os.path.isfile(path):
            fd, tmp = tempfile.mkstemp(dir=copies)
            with os.fdopen(fd, "wb") as f:
                f.write(found.data)
            os.replace(tmp, path)
        return path

    @abc.abstractmethod
    def lease(self, key: str, *, claim: bool = False) -> contextlib.AbstractContextManager[Lease]:
        """Hold ``key``'s liveness lease for as long as the block runs: a deploy's
        way of saying "my process is alive" to readers on any host. With ``claim``
        the lease's key must be new: its creation is how a deploy claims a version
        number (the key stays after the lease ends, dead). The block gets a
        ``Lease``: whoever publishes under it asks ``held()`` first (a fence: a
        process paused past its lease must not act as its holder).

        Raises:
            Precondition: ``claim`` and the key exists.
        """

    @abc.abstractmethod
    def alive(self, key: str) -> bool:
        """Whether someone holds ``key``'s lease now; never waits."""

    @abc.abstractmethod
    def where(self, key: str) -> str:
        """The key as a person finds it (a path, or a URL), for messages."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a key, or a folder of keys (anything below ``key/``)."""
        if self.list(key):
            return True
        return key in self.list(key.rpartition("/")[0])

    def children(self, prefix: str) -> list[str]:
        """The names just below the folder ``prefix`` (files and folders), unsorted;
        [] when there is none. Never follows a link.

        Raises:
            OSError: ``prefix`` is unsafe to read (``atomic.UnsafeFile`` on a folder).
        """
        return list(self.keys(prefix + "/" if prefix else ""))

    def stamps(self, prefix: str, leaf: str) -> dict[str, Any]:
        """For each folder just below ``prefix`` that holds ``leaf``, a stamp of
        ``prefix/NAME/leaf`` (JSON-able) that changes whenever that key is
        replaced: what a cache of many small records is keyed by, taken in one
        listing rather than one read each.

        Raises:
            OSError: a folder below ``prefix`` is a link (``atomic.UnsafeFile``).
        """
        found = {}
        for key in self.list(prefix):
            name, _, rest = key[len(prefix) + 1:].partition("/")
            if rest == leaf:
                with contextlib.suppress(FileNotFoundError):
                    found[name] = self.get(key, 1 << 62).token
        return found

    def holding(self, prefix: str, name: str) -> set[str]:
        """The folders just below ``prefix`` that hold ``name`` (a key, or a folder of
        keys), found in one listing rather than by asking each folder.

        Raises:
            OSError: a folder below ``prefix`` is a link (``atomic.UnsafeFile``).
        """
        found = set()
        for key in self.list(prefix):
            child, _, rest = key[len(prefix) + 1:].partition("/")
            if rest == name or rest.startswith(name + "/"):
                found.add(child)
        return found

    def append(self, key: str, data: bytes, sync: bool = True) -> None:
        """Add ``data`` at the end of ``key`` (created if absent). Only for keys that
        one writer owns at a time (a deploy's log): on an object store it is a
        read and a rewrite."""
        try:
            current = self.get(key, 1 << 62).data
        except FileNotFoundError:
            current = b""
        self.put(key, current + data)

    def move(self, src: str, dst: str) -> None:
        """Move the key, or the folder of keys, ``src`` to ``dst``, which the caller
        owns and which must not exist (a copy on an object store)."""
        for key in [src] + self.list(src):
            try:
                found = self.get(key, 1 << 62)
            except FileNotFoundError:
                continue
            self.put(dst + key[len(src):], found.data, CREATE)
            self.delete(key)

    def delete_folder(self, prefix: str) -> None:
        """Remove every key below the folder ``prefix``."""
        for key in self.list(prefix):
            self.delete(key)

    def local_folder(self, prefix: str, name: str | None = None) -> str | None:
        """A folder on this machine holding the keys below ``prefix`` (None when it
        holds none), to load code from; ``name`` (a digest of the content) lets a
        remote store's cache find a copy it made before."""
        import tempfile

        keys = self.list(prefix)
        if not keys:
            return None
        folder = tempfile.mkdtemp(prefix="code-", dir=self._copies())
        for key in keys:
            path = os.path.join(folder, *key[len(prefix) + 1:].split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(self.get(key, 1 << 62).data)
        return folder

    def _copies(self) -> str:
        """A folder of this process's own (mode 0700) for the default ``local_path`` and
        ``local_folder``'s copies, made on first use and removed with this storage, or
        when the process ends."""
        held = self.__dict__.get("_copies_folder")
        if held is None:
            import tempfile

            held = self.__dict__["_copies_folder"] = tempfile.TemporaryDirectory(prefix="mlreg-copies-")
        return held.name

    def age(self, key: str) -> float | None:
        """Seconds since ``key`` (or the folder ``key``) was last written; None when absent."""
        return 0.0 if self.exists(key) else None

    def check_conditional_writes(self) -> None:
        """Refuse a store whose creates and updates do not fail as they must (an object
        store that ignores the conditional headers). A folder's are the kernel's
        (``link``, ``flock``): nothing to check.

        Raises:
            MlregError: naming the condition the store ignored (exit 1).
        """

    # ------------------------------------------------------- written once

    def update(self, key: str, change: Callable[[Object | None], bytes | None], *, limit: int = 1 << 20,
               attempts: int = 1000) -> Object | None:
        """Read ``key``, let ``change`` make its new bytes from what was read (None:
        leave it), and write them only if the key is still what was read (created
        if it was absent); on a lost race read again and retry. Returns what is
        there when it stops: the new object, or the unchanged one.

        Raises:
            Precondition: still losing after ``attempts`` tries.
        """
        for _ in cas_attempts(attempts):
            try:
                current: Object | None = self.get(key, limit)
            except FileNotFoundError:
                current = None
            data = change(current)
            if data is None:
                return current
            try:
                token = self.put(key, data, CREATE if current is None else Update(current.token))
            except Precondition:
                continue
            return Object(data, token)
        raise Precondition(f"{key}: lost the race {attempts} times in a row")

    def create_once(self, key: str, data: bytes) -> None:
        """Create ``key``, a key the caller owns (it holds a claim on its folder). A client
        that retries a create whose answer was lost (an object store's, after a
        timeout) is then refused although its create was made: the bytes there
        being the caller's own is success.

        Raises:
            Precondition: the key holds other bytes.
        """
        try:
            self.put(key, data, CREATE)
        except AlreadyExists:
            try:
                there = self.get_or_none(key, len(data))
            except ValueError:  # larger: not these bytes
                there = None
            if there is None or there.data != data:
                raise

    def get_or_none(self, key: str, limit: int) -> Object | None:
        try:
            return self.get(key, limit)
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> Iterator[str]:
        """The names just below ``prefix`` (its files and folders), sorted, each once."""
        seen: list[str] = []
        for key in self.list(prefix):
            name = key[len(prefix):].split("/", 1)[0]
            if not seen or seen[-1] != name:
                seen.append(name)
        return iter(seen)
