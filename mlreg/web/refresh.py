"""Which version answers, re-read at most once per ``serve --refresh SECONDS``.

On a remote registry, reading a model's pointers (its primary, aliases and
deletions) for every request costs a store round trip per prediction. ``serve``
keeps the version each (model, reference) resolved to for ``refresh`` seconds
instead: a loaded model then answers with no round trip, and a promote, alias
change or delete made by anyone is seen by every replica within ``refresh``
seconds. ``refresh`` 0 reads the pointers for every request (a folder's default).

Only answers are kept, never errors (a model deployed a moment ago answers at
once), and a write through this server forgets everything it kept, so a replica
sees its own writes at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable

MAX_KEPT = 4096  # (model, reference) pairs kept at once; past it, everything is forgotten


class Pointers:
    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._kept: dict[Hashable, tuple[float, Any]] = {}
        self._guard = threading.Lock()

    def resolve(self, key: Hashable, read: Callable[[], Any]) -> Any:
        """``read()``'s answer, or the one kept for ``key`` if read less than ``refresh``
        seconds ago. Errors ``read`` raises pass through and are not kept."""
        if self.refresh <= 0:
            return read()
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        value = read()
        with self._guard:
            if len(self._kept) >= MAX_KEPT:
                self._kept.clear()
            self._kept[key] = (now + self.refresh, value)
        return value

    def forget(self) -> None:
        """Forget every answer kept (after a write through this server)."""
        with self._guard:
            self._kept.clear()


def default_refresh(remote: bool) -> float:
    """``--refresh``'s default: 1 second on a remote registry, 0 (every request) on a folder."""
    return 1.0 if remote else 0.0
