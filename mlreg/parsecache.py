"""Files parsed before, kept on this machine by their exact bytes.

Every read parses TOML: ``mlreg.toml``, the model's ``model.toml``, a
``version.toml``; listing a model's versions parses its listing cache, JSON.
Importing ``tomllib`` or ``json`` compiles their regular expressions, which
costs a read command more than all of its own work (tomllib about 12 and json
about 5 of the 250 million instructions of ``mlreg status``: docs/performance.md),
and those files rarely change between two commands. So the last few a process
parsed are kept in a file of the per-user cache folder, by their exact bytes:
the same bytes always parse to the same value, so an entry is never stale, only
missing. The bytes are still read from the registry each time; nothing in the
registry decides what is kept.

The file is written with ``marshal`` (built in: nothing to import, and it holds
only the plain values TOML and JSON give) and read only when it is a regular
file of this user's that no one else can write, as ssh treats its keys: only
this user can have put anything in it. A value marshal cannot hold (a TOML
date-time) is not kept. A missing, foreign or corrupt file costs a parse, never
a wrong value.
"""

from __future__ import annotations

import marshal
import os
import sys
import threading
from typing import Any

from . import atomic

MAX_ENTRIES = 32  # a read parses two or three files
MAX_KEPT_BYTES = 16 << 10  # a larger file (a listing cache past about 60 versions) is parsed each time
MAX_NEW_PER_PROCESS = 8  # a process that parses many files (a doctor, a listing without its cache) writes few times
_FILE = f"parsed-{sys.version_info[0]}.{sys.version_info[1]}.marshal"  # another Python may parse otherwise

_entries: dict[bytes, bytes] | None = None  # kind, NUL, exact bytes -> the marshal of their parse
_added = 0
_lock = threading.Lock()  # serve's threads parse side by side


def recall(data: bytes, kind: str = "toml") -> dict[str, Any] | None:
    """The parse of ``data`` (as ``kind``: "toml" or "json") kept from an earlier
    process (a fresh object), or None."""
    if len(data) > MAX_KEPT_BYTES:
        return None  # never kept: not even hashed to look
    found = _kept().get(_key(data, kind))
    if found is None:
        return None
    try:
        value = marshal.loads(found)
    except (ValueError, EOFError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def remember(data: bytes, parsed: dict[str, Any], kind: str = "toml") -> None:
    """Keep ``parsed``, the parse of ``data`` as ``kind``, for later processes (when
    the cache folder can be written; the oldest entries make room)."""
    global _added
    if len(data) > MAX_KEPT_BYTES or _added >= MAX_NEW_PER_PROCESS or not hasattr(os, "getuid"):
        return
    try:
        value = marshal.dumps(parsed)
    except ValueError:
        return  # a date-time, which only a hand could have written
    entries, key = _kept(), _key(data, kind)
    with _lock:
        if key in entries or _added >= MAX_NEW_PER_PROCESS:
            return
        entries[key] = value
        _added += 1
        while len(entries) > MAX_ENTRIES:
            del entries[next(iter(entries))]
        _write(marshal.dumps(entries))


def _key(data: bytes, kind: str) -> bytes:
    return kind.encode() + b"\0" + data  # the same bytes may be read as TOML and as JSON


def _path() -> str:
    from .location import user_folder

    return os.path.join(user_folder("cache"), _FILE)


def _kept() -> dict[bytes, bytes]:
    global _entries
    if _entries is None:
        entries = _read()
        with _lock:
            if _entries is None:
                _entries = entries
    return _entries


def _read() -> dict[bytes, bytes]:
    if not hasattr(os, "getuid"):
        return {}
    try:
        fd = atomic.open_regular(_path())  # no link, no FIFO (a planted one would hang every read)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return {}
        limit = MAX_ENTRIES * (MAX_KEPT_BYTES * 3)  # each entry: its bytes and their parse
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            return {}
        entries = marshal.loads(data)
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    finally:
        os.close(fd)
    if not isinstance(entries, dict) or not all(type(k) is bytes and type(v) is bytes for k, v in entries.items()):
        return {}
    return entries


def _write(data: bytes) -> None:
    """Replace the file whole (a reader sees the old one or the new one), readable by
    this user alone (which registries you read is yours to tell); a cache folder that
    cannot be written goes without. Not ``atomic.write_atomic``: no fsync, since a
    cache a crash loses costs a parse, and never a registry's file."""
    import tempfile

    path = _path()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".parsed-", dir=os.path.dirname(path))  # mode 0600
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
