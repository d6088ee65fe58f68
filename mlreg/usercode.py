"""A version's own code (``deploy --code``): the modules its pickle needs to load.

A model whose class is defined in the user's project (``from features import
Scaler``) unpickles only where that module can be imported. ``--code`` copies
a ``.py`` file or a package folder into the version's ``code/`` folder; the
deploy check, ``predict``, ``load`` and ``serve`` put that folder first on
``sys.path`` before loading, so the check proves what a later load will do.

The code is covered by the version's ``code_sha256``: a digest over every
file's relative path, size and sha256, in sorted order, checked before every
load. Loading code runs it, so anything but plain files and folders (a
symlink, a FIFO) in ``code/`` is an integrity error, never followed.

No bytecode from the registry ever runs: a code folder is imported through a
finder of its own that compiles each module from its ``.py`` source (covered
by the digest) and neither reads nor writes ``__pycache__``; compiled files
(``.pyc``, extension modules) in a code folder cannot be imported. Every file
outside ``__pycache__`` folders is in the digest, so a planted ``foo.pyc``
(which Python's own finder would import) fails the check as an unrecorded file.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import shutil
import stat

from .errors import BadInput, IntegrityError

_SKIPPED = ("__pycache__",)  # never read (see _SourceOnlyLoader), and an earlier mlreg wrote them


def check_sources(sources: list[str]) -> list[str]:
    """The absolute paths of ``sources``, each a ``.py`` file or a package folder.

    Raises:
        BadInput: a source is missing, neither a ``.py`` file nor a folder, or
            two sources share a name.
    """
    found, seen = [], set()
    for source in sources:
        source = os.path.abspath(os.fspath(source))
        name = os.path.basename(source.rstrip(os.sep))
        if not os.path.exists(source):
            raise BadInput(f"--code {source} does not exist")
        if not (os.path.isdir(source) or (os.path.isfile(source) and source.endswith(".py"))):
            raise BadInput(f"--code {source} is neither a .py file nor a package folder")
        if name in seen:
            raise BadInput(f"--code {source}: another --code is also called {name!r}")
        if os.path.isdir(source):
            _check_links(source)
        seen.add(name)
        found.append(source)
    return found


def _check_links(root: str) -> None:
    """Raises BadInput for a link in the package folder ``root`` that leaves it, or
    that is a folder (which can loop): the copy follows links, so it must end."""
    top = os.path.realpath(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED]
        for name in dirs + files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if os.path.isdir(target):
                raise BadInput(f"--code {root}: {os.path.relpath(path, root)} is a link to a folder; "
                               "copy the folder in, or leave the link out")
            if not (target.startswith(top + os.sep) and os.path.exists(target)):
                raise BadInput(f"--code {root}: {os.path.relpath(path, root)} is a link that leads outside "
                               "the folder (or nowhere); copy the file in, or leave the link out")


def copy_code(sources: list[str], target: str) -> str:
    """Copy each ``.py`` file or package folder of ``sources`` (checked with
    ``check_sources``) into the new folder ``target``; return the digest of what
    was copied."""
    os.mkdir(target, 0o777)
    for source in sources:
        name = os.path.basename(source.rstrip(os.sep))
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(target, name), symlinks=False,
                            ignore=shutil.ignore_patterns(*_SKIPPED, "*.pyc"))
        else:
            shutil.copyfile(source, os.path.join(target, name))
    return digest(target)


def digest(root: str) -> str:
    """The sha256 over every file below ``root``: relative path, size and content hash.

    Raises:
        IntegrityError: something below ``root`` is a symlink or not a regular file or folder.
    """
    from .atomic import UnsafeFile, open_regular

    total = hashlib.sha256()
    for relative in _files(root):
        path = os.path.join(root, relative)
        try:
            fd = open_regular(path)
        except UnsafeFile as e:
            raise IntegrityError(f"code file {path} is {e.strerror}; refusing to use the version's code") from None
        file_hash = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                file_hash.update(chunk)
                size += len(chunk)
        total.update(f"{relative}\0{size}\0{file_hash.hexdigest()}\n".encode("utf-8", "surrogateescape"))
    return total.hexdigest()


def file_digests(root: str) -> dict[str, str]:
    """Each file below ``root`` (relative, with ``/``) and its sha256: what a signature
    lists of a version's code.

    Raises:
        IntegrityError: as ``digest``.
    """
    from .atomic import UnsafeFile, open_regular

    found = {}
    for relative in _files(root):
        try:
            fd = open_regular(os.path.join(root, relative))
        except UnsafeFile as e:
            raise IntegrityError(f"code file {os.path.join(root, relative)} is {e.strerror}; refusing to use "
                                 "the version's code") from None
        file_hash = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                file_hash.update(chunk)
        found[relative.replace(os.sep, "/")] = file_hash.hexdigest()
    return found


def _files(root: str) -> list[str]:
    """Every file below ``root``, relative, sorted; caches of compiled code are left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                raise IntegrityError(f"code folder {os.path.join(folder, name)} is a symlink; "
                                     "refusing to use the version's code")
        for name in files:
            path = os.path.join(folder, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise IntegrityError(f"code file {path} is not a regular file; refusing to use the version's code")
            found.append(os.path.relpath(path, root))
    return sorted(found)


def verify(root: str, expected: str | None) -> str | None:
    """The folder to put on ``sys.path`` for a version whose code digest is
    ``expected`` (None: the version has no code), after checking it.

    Raises:
        IntegrityError: the code is missing or differs from what was deployed.
    """
    if expected is None:
        return None
    if not os.path.isdir(root) or os.path.islink(root):
        raise IntegrityError(f"the version's code folder {root} is missing; refusing to load it")
    if digest(root) != expected:
        compiled = sorted(os.path.relpath(os.path.join(folder, name), root)
                          for folder, dirs, files in os.walk(root) for name in files
                          if name.endswith((".pyc", ".pyo", ".so", ".pyd")))
        if compiled:
            raise IntegrityError(f"the version's code in {root} holds files the deploy did not record "
                                 f"({', '.join(compiled[:3])}{', ...' if len(compiled) > 3 else ''}): compiled "
                                 "code planted after deploy (or code_sha256 mismatch); refusing to load it")
        raise IntegrityError(f"the version's code in {root} changed after deploy (code_sha256 mismatch); "
                             "refusing to load it")
    return root


_CODE_FOLDERS: set[str] = set()


def put_first(folder: str | None) -> None:
    """Put a version's code folder first on ``sys.path`` (once), imported from source only."""
    import sys

    if folder is None:
        return
    folder = os.path.abspath(folder)
    if _source_only not in sys.path_hooks:
        sys.path_hooks.insert(0, _source_only)
    _CODE_FOLDERS.add(folder)
    sys.path_importer_cache.pop(folder, None)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _source_only(path: str) -> object:
    """A path hook: for a version's code folder (and the packages in it), a finder
    that loads ``.py`` sources only; for any other path, not ours (ImportError)."""
    absolute = os.path.abspath(path)
    if not any(absolute == f or absolute.startswith(f + os.sep) for f in _CODE_FOLDERS):
        raise ImportError("not a version's code folder")
    return importlib.machinery.FileFinder(path, (_SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from its source every time: no bytecode is read or written."""

    def get_code(self, fullname: str) -> object:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:
        return None
