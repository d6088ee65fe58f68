"""A lease: how a writer says "I am still here" to readers on any host, and asks
before it publishes whether it still is (a fence: a process paused past its lease
must not act as its holder). Each storage backend makes its own (a folder's
``flock``, held while the process lives; an object store's key, renewed before it
expires); every holder asks them the same one question."""

from __future__ import annotations


class Lease:
    """A held lease. A lock held by the process (a folder's ``flock``) is held for as
    long as the process lives; a lease that expires says so here once it may have."""

    def held(self) -> bool:
        return True


HELD = Lease()  # a lease that cannot be lost (nothing to wait for, or held by the process itself)
