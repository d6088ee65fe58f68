"""Python's cyclic garbage collector, held off while many lasting objects are built."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector while many objects that hold no cycles are built:
    the modules, classes and functions of start-up (``mlreg.__main__``), the records
    of a listing.

    Else, every few hundred new objects, the collector walks the growing heap:
    about 30 walks and 5-7 ms of a `mlreg status`'s start-up, about a tenth of
    listing 10,000 versions. What was made meanwhile then joins the oldest
    generation unexamined (a freeze and a thaw move it there; not when a program
    froze objects of its own, which a thaw would release): else the first
    allocation after the pause walked all of it at once (14 ms at 10,000
    versions). The next full collection still examines it, so garbage among it
    is still collected, in a long `serve` as anywhere.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
