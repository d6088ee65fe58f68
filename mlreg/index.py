"""A per-model cache of version records, so that listing 10,000 versions does not
parse 10,000 TOML files.

The cache is never the truth. Each entry keeps the (inode, size, mtime) of the
``version.toml`` it was read from and is used only while that file is
unchanged; since ``version.toml`` is only ever replaced by a rename, any change
gives it a new inode. A missing, stale or corrupt cache costs time, never
correctness. Whoever lists a model's versions and finds entries stale rewrites
the cache atomically, when it can write (a read-only registry just goes
without); concurrent rewrites carry the same facts, so the last one winning is
fine. Models with few versions have no cache.
"""

from __future__ import annotations

import os
from typing import Any

from . import atomic

INDEX_FILE = "versions.index.json"
MIN_VERSIONS = 32  # below this, parsing the files is as fast as reading a cache
MAX_INDEX_BYTES = 256 << 20


def stat_key(path: str) -> list[int] | None:
    """What identifies this exact version of the file; None when it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def load(path: str) -> dict[str, Any]:
    """The cached entries ``{version folder: {"key": [...], "data": {...}}}``; {} when unusable."""
    import json  # here, not at the top: `versions` of a small model never needs it

    try:
        data = json.loads(atomic.read_bytes(path, MAX_INDEX_BYTES))
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("format") == 1 else None
    return entries if isinstance(entries, dict) else {}


def save(path: str, entries: dict[str, Any]) -> None:
    """Write the cache atomically; give up quietly where the registry cannot be written."""
    import json

    try:
        text = json.dumps({"format": 1, "entries": entries}, separators=(",", ":"))
        atomic.write_atomic(path, text)
    except (OSError, TypeError, ValueError):
        pass
