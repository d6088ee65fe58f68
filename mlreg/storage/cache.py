"""The local copies of a remote registry's artifacts and code: a folder of this user's
(``~/.cache/mlreg/artifacts``, mode 0700), each copy named by the sha256 of its
bytes (an artifact) or the digest of its files (a code folder), so that a version
loads without a download once it has been loaded here. An entry is only a guess:
every reader verifies size and sha256 (or the code digest) before a load, and a
copy that disagrees is fetched again. Only a backend whose every read is a request
(``Storage.remote``) keeps one; a folder registry is read in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from typing import Callable, Iterable

from ..errors import MlregError


def _is_digest(text: str | None) -> bool:
    return bool(text) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class LocalCache:
    """Copies by content, in one folder."""

    def __init__(self, folder: str | None = None) -> None:
        self._folder = folder

    @property
    def folder(self) -> str:
        if self._folder is None:
            from ..location import user_folder

            self._folder = os.path.join(user_folder("cache"), "artifacts")
        os.makedirs(self._folder, mode=0o700, exist_ok=True)
        return self._folder

    def artifact(self, sha256: str | None) -> str | None:
        """The copy named ``sha256`` (a plain file, never a link), or None."""
        if not _is_digest(sha256):
            return None
        path = os.path.join(self.folder, sha256)  # type: ignore[arg-type]
        return path if os.path.isfile(path) and not os.path.islink(path) else None

    def add_artifact(self, chunks: Iterable[bytes]) -> str:
        """Write ``chunks`` as a copy named by their sha256 (replacing one of that name); its path."""
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".download-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    digest.update(chunk)
                    f.write(chunk)
            target = os.path.join(self.folder, digest.hexdigest())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target

    def code(self, name: str | None) -> str | None:
        """The code folder named ``name`` (a code digest; a folder, never a link), or None."""
        if not _is_digest(name):
            return None
        path = os.path.join(self.folder, f"code-{name}")
        return path if os.path.isdir(path) and not os.path.islink(path) else None

    def add_code(self, files: Iterable[tuple[str, Callable[[], bytes]]], name: str | None = None) -> str:
        """Write a code folder of ``files`` ((relative path, its bytes)) and keep it under
        ``name`` (else under the digest of what was written); its path. A folder that
        is not plain files is returned as it is, uncached: the reader refuses it."""
        folder = tempfile.mkdtemp(prefix=".code-", dir=self.folder)
        for relative, read in files:
            path = os.path.join(folder, *relative.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(read())
        if not _is_digest(name):  # named by what was written, so that copies never pile up
            from ..usercode import digest

            try:
                name = digest(folder)
            except MlregError:
                return folder
        cached = os.path.join(self.folder, f"code-{name}")
        if os.path.isdir(cached):
            shutil.rmtree(folder, ignore_errors=True)
            return cached
        try:
            os.rename(folder, cached)
        except OSError:  # another process cached it meanwhile
            shutil.rmtree(folder, ignore_errors=True)
        return cached
