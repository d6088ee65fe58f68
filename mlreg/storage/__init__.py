"""Where a registry's bytes live: one small interface (``base.Storage``), shaped like
the Rust ``object_store`` crate's ``ObjectStore``, with a folder on this machine
(``local``), an S3-compatible bucket (``s3``) and an in-process store for tests
(``memory``) behind it.

Keys are ``/``-separated paths relative to the registry (``models/m/model.toml``);
every read-modify-write of shared state is a compare-and-swap on a key's version
token (``Storage.update``), never a lock held across a read and a write.
"""

from .base import AlreadyExists, Object, Precondition, Storage, Update

__all__ = ["AlreadyExists", "Object", "Precondition", "Storage", "Update", "open_storage"]


def open_storage(location: str, lock_timeout: float) -> Storage:
    """The storage of a registry location: ``s3://BUCKET[/PREFIX]``, else a folder.

    Raises:
        UsageError: an ``s3://`` location without the S3 client installed, or malformed.
    """
    if location.startswith("s3://"):
        import importlib.util

        if importlib.util.find_spec("obstore") is None:
            from ..errors import UsageError

            raise UsageError(f"{location} is on S3, which needs the S3 client: pip install 'mlreg[s3]'")
        from .s3 import S3Storage

        return S3Storage(location)
    from .local import LocalStorage

    return LocalStorage(location, lock_timeout)
