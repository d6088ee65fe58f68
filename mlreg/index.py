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
fine. A model of one version has no cache.

The cache is JSON, never pickle: a registry may be shared, and reading it must
not run anyone's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import parsecache

FORMAT = 3
# The name carries the format: a release that writes another keeps its own file, so a team
# whose members run different releases does not rewrite one cache back and forth (each
# rewrite parses every version.toml). Releases before format 3 wrote versions.index.json.
INDEX_FILE = f"versions.index{FORMAT}.json"
MIN_VERSIONS = 2  # one version: its file is read as fast as a cache (10 files: 4.2 ms, their cache 0.4)
MAX_INDEX_BYTES = 256 << 20

Entries = dict[str, tuple[Any, list[Any]]]


def load(data: bytes, keys: Sequence[str]) -> Entries:
    """The cached entries ``{version folder: (stamp, values)}`` in the cache's bytes
    ``data``: each version's values of ``keys`` in their order (None where its file
    lacks one), then a dict of any other keys it holds. {} when unusable, or written
    for other keys (by another mlreg).

    Values that many versions share (the environment, the signature, the model's
    name, often the artifact's digest) are stored once and shared by the records
    read here: treat them as read-only, as the records themselves are.
    """
    try:
        table = parsecache.recall(data, "json")
        if table is None:
            import json  # here: a listing whose cache is unchanged since the last one needs none

            table = json.loads(data)
            if isinstance(table, dict):
                parsecache.remember(data, table, "json")
        if not isinstance(table, dict) or table.get("format") != FORMAT or table.get("keys") != list(keys):
            return {}
        value = table["values"].__getitem__
        return {vfolder: (stamp, list(map(value, row))) for vfolder, (stamp, row) in table["entries"].items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def dump(keys: Sequence[str], entries: Entries) -> bytes:
    """The cache's bytes (the caller writes them atomically, or goes without).

    Each distinct value is written once, in ``values`` (null first: a key a file
    lacks), and an entry is its stamp and its values' places: a cache of 10,000
    versions of one model is a fifth of the size of one holding each version's
    table, and decodes in a third of the time.
    """
    import json

    values: list[Any] = [None]
    places: dict[Any, int] = {(type(None), None): 0}
    out = {}
    for vfolder, (stamp, row) in entries.items():
        found = []
        for value in row:
            kind = type(value)
            # by type and text: True is not 1, 0.0 is not -0.0, and tables compare by content
            mark = (kind, json.dumps(value, sort_keys=True) if kind in (dict, list, float) else value)
            place = places.setdefault(mark, len(values))
            if place == len(values):
                values.append(value)
            found.append(place)
        out[vfolder] = [stamp, found]
    data = json.dumps({"format": FORMAT, "keys": list(keys), "values": values, "entries": out},
                      separators=(",", ":")).encode()
    if len(data) <= parsecache.MAX_KEPT_BYTES:  # so that the next listing finds it parsed
        parsecache.remember(data, json.loads(data), "json")
    return data
