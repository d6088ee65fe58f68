"""A model's history: every deploy outcome, change of primary, alias, tag and delete,
oldest first (``Repository.history(folder)`` hands it out).

Each event is an object of its own (``history/TIME-RANDOM.json``), created and never
replaced, so that writers need no lock and lose no update; an earlier mlreg
appended lines to ``history.jsonl``, which is read first (a torn last line is
skipped) and never written.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple, Sequence

from .errors import IntegrityError, NotWritable
from .layout import HISTORY_FILE, history_key, model_key
from .metadata import HistoryEvent, now
from .storage.base import CREATE, Precondition

MAX_HISTORY_BYTES = 256 << 20
MAX_EVENT_BYTES = 64 << 10


class Carried(NamedTuple):
    """A model's history as bytes, to carry to another registry whole."""

    old: bytes | None  # history.jsonl, as an earlier mlreg wrote it
    events: list[tuple[str, bytes]]  # (name, bytes) of history/*.json


class History:
    def __init__(self, repo: Any, folder: str) -> None:  # a ``repo.Repository``
        self._repo = repo
        self._storage = repo.storage
        self.folder = folder

    def where(self) -> str:
        return self._repo.where(history_key(self.folder))

    def _names(self) -> list[str]:
        try:
            found = self._storage.children(history_key(self.folder))
        except OSError as e:
            raise IntegrityError(f"{self.where()} is {e.strerror}; refusing to read it") from None
        return sorted(n for n in found if n.endswith(".json") and not n.startswith("."))

    def events(self) -> list[HistoryEvent]:
        """Every event, oldest first: the lines of history.jsonl, then one object per
        event in the order of their keys (their time).

        Raises:
            IntegrityError: a file of it unreadable (a link, too large).
        """
        data = self._repo.raw(model_key(self.folder, HISTORY_FILE), MAX_HISTORY_BYTES, what="history")
        lines = [] if data is None else data.decode("utf-8", "replace").split("\n")[:-1]  # after the last newline: torn
        found = [e for e in map(HistoryEvent.from_line, lines) if e is not None]
        for name in self._names():
            event = self._repo.raw(history_key(self.folder, name), MAX_EVENT_BYTES, what="history event")
            if event is not None and (parsed := HistoryEvent.from_line(event.decode("utf-8", "replace"))):
                found.append(parsed)
        return found

    def check(self) -> None:
        """Fail before a change when its history could not be recorded (a history
        folder that is a symlink or a file).

        Raises:
            IntegrityError: naming it; nothing was changed.
        """
        if self._storage.remote:
            return  # keys, not folders: nothing there can be a link
        try:
            self._storage.children(history_key(self.folder))
        except OSError as e:
            raise IntegrityError(f"history {self.where()} is {e.strerror}; nothing was changed") from None

    def record(self, events: Sequence[HistoryEvent], *, strict: bool = False) -> None:
        """Add events, each an object of its own (created, never replaced).

        A write that fails once the change it records took effect (a full disk)
        is a warning, not an error: the change is done, a script must be able to
        trust the exit code, and `doctor --fix` restores the lost event. With
        ``strict`` it raises (NotWritable).
        """
        for place, event in enumerate(events):
            while True:
                # Keys sort by time, then by place among the events of one change.
                key = history_key(self.folder, f"{_compact(event.at)}-{place:02d}{os.urandom(4).hex()}.json")
                try:
                    self._storage.put(key, event.to_line().encode("utf-8"), CREATE)
                    break
                except Precondition:
                    continue  # the same instant and the same random name: draw again
                except OSError as e:
                    if strict:
                        raise NotWritable(f"cannot write the history {self.where()}: {e.strerror}") from None
                    warnings.warn(f"the change was made, but its history event could not be written to "
                                  f"{self.where()} ({e.strerror}); `mlreg doctor --fix` restores it",
                                  RuntimeWarning, stacklevel=4)
                    return

    # ------------------------------------------------- carried, and mended

    def carried(self) -> Carried:
        """The whole history as bytes (an export's, an import's).

        Raises:
            IntegrityError: a file of it too large or unreadable (naming it).
        """
        old = self._repo.raw(model_key(self.folder, HISTORY_FILE), MAX_HISTORY_BYTES, what="history")
        found = []
        for name in self._names():
            data = self._repo.raw(history_key(self.folder, name), MAX_EVENT_BYTES, what=f"history event {name}")
            if data is not None:
                found.append((name, data))
        return Carried(old, found)

    def replace(self, carried: Carried) -> None:
        """Make the history what ``carried`` holds (a model new to this registry)."""
        self._storage.delete_folder(history_key(self.folder))
        if carried.old is not None:
            self._storage.put(model_key(self.folder, HISTORY_FILE), carried.old)
        for name, data in carried.events:
            self._storage.put(history_key(self.folder, name), data)

    def torn(self) -> bool | None:
        """Whether history.jsonl ends in a torn line (a writer killed mid-append);
        None when there is none.

        Raises:
            OSError, ValueError: unreadable (doctor's walk reports it).
        """
        try:
            data = self._storage.get(model_key(self.folder, HISTORY_FILE), MAX_HISTORY_BYTES).data
        except (FileNotFoundError, NotADirectoryError):
            return None
        return bool(data) and not data.endswith(b"\n")

    def mend_torn(self) -> None:
        """Cut history.jsonl's torn last line (readers skip it already), by compare-and-swap."""
        self._storage.update(model_key(self.folder, HISTORY_FILE),
                             lambda now: None if now is None or now.data.endswith(b"\n")
                             else now.data[:now.data.rfind(b"\n") + 1], limit=MAX_HISTORY_BYTES)

    def old_where(self) -> str:
        return self._repo.where(model_key(self.folder, HISTORY_FILE))


def _compact(at: str) -> str:
    """An event's time as the sortable start of its key: 20261202T031500123456Z."""
    compact = "".join(c for c in at if c.isalnum())
    return compact if len(compact) == 22 and compact.isascii() else now().replace("-", "").replace(":", "").replace(".", "")
