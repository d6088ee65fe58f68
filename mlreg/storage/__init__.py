"""Where a registry's bytes live: one small interface (``base.Storage``), shaped like
the Rust ``object_store`` crate's ``ObjectStore``, with a folder on this machine
(``local``) and an in-process store for tests (``memory``) behind it.

Keys are ``/``-separated paths relative to the registry (``models/m/model.toml``);
every read-modify-write of shared state is a compare-and-swap on a key's version
token (``Storage.update``), never a lock held across a read and a write.
"""

from .base import Object, Precondition, Storage, Update

__all__ = ["Object", "Precondition", "Storage", "Update"]
