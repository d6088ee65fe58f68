"""A per-model cache of version records, so that listing 10,000 versions does not
parse 10,000 TOML files.

The cache is never the truth. Each entry keeps the stamp of the
``version.toml`` it was read from (``Storage.stamps``: on a folder its inode,
size and mtime, on an object store its ETag) and is used only while that file
is unchanged; since ``version.toml`` is only ever replaced whole (a rename, a
new object), any change gives it a new stamp. A missing, stale or corrupt cache costs time, never
correctness. Whoever lists a model's versions and finds entries stale rewrites
the cache atomically, when it can write (a read-only registry just goes
without); concurrent rewrites carry the same facts, so the last one winning is
fine. Models with few versions have no cache.

The cache is JSON, never pickle: a registry may be shared, and reading it must
not run anyone's code.
"""

from __future__ import annotations

from typing import Any

INDEX_FILE = "versions.index.json"
FORMAT = 3
MIN_VERSIONS = 32  # below this, parsing the files is as fast as reading a cache
MAX_INDEX_BYTES = 256 << 20

Entries = dict[str, tuple[Any, dict[str, Any]]]


def load(data: bytes) -> Entries:
    """The cached entries ``{version folder: (stamp, parsed version.toml)}`` in the
    cache's bytes ``data``; {} when unusable.

    Values that many versions share (the environment, the signature, the model's
    name, often the artifact's digest) are stored once and shared by the records
    read here: treat them as read-only, as the records themselves are.
    """
    import json  # here, not at the top: `versions` of a small model never needs it

    try:
        data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        columns = [tuple(keys) for keys in data["columns"]]
        if not all(type(key) is str for keys in columns for key in keys):
            return {}
        value = data["values"].__getitem__
        entries = {}
        for vfolder, (stamp, shape, row) in data["entries"].items():
            keys = columns[shape]
            if len(row) != len(keys):
                return {}  # (any value of the table is checked as the file's would be)
            entries[vfolder] = (stamp, dict(zip(keys, map(value, row))))
        return entries
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def dump(entries: Entries) -> bytes:
    """The cache's bytes (the caller writes them atomically, or goes without).

    Each distinct value is written once, in ``values``, and each distinct set of
    keys once, in ``columns``; an entry is its stamp, its columns' place and its
    values' places: a cache of 10,000 versions of one model is a quarter of the
    size of one holding each version's table, and decodes twice as fast.
    """
    import json

    values: list[Any] = []
    places: dict[Any, int] = {}
    columns: list[list[str]] = []
    shapes: dict[tuple[str, ...], int] = {}
    out = {}
    for vfolder, (stamp, data) in entries.items():
        keys = tuple(data)
        shape = shapes.setdefault(keys, len(columns))
        if shape == len(columns):
            columns.append(list(keys))
        row = []
        for value in data.values():
            kind = type(value)
            # by type and text: True is not 1, 0.0 is not -0.0, and tables compare by content
            mark = (kind, json.dumps(value, sort_keys=True) if kind in (dict, list) or kind is float else value)
            place = places.setdefault(mark, len(values))
            if place == len(values):
                values.append(value)
            row.append(place)
        out[vfolder] = [stamp, shape, row]
    return json.dumps({"format": FORMAT, "columns": columns, "values": values, "entries": out},
                      separators=(",", ":")).encode()
