"""The software a version was deployed with, compared with what runs now.

Only the libraries that decide whether an artifact unpickles and predicts the
same are compared; ``importlib.metadata`` answers without importing them, so
``status`` stays fast.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import sys
from typing import Any

WATCHED = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "xgboost", "lightgbm",
           "catboost", "torch", "tensorflow", "keras", "statsmodels")


def python_version() -> str:
    return platform.python_version()


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None.

    Read from the ``Version:`` header near the top of its METADATA file, found by a
    look at the ``*.dist-info`` folders on ``sys.path``: importing ``importlib.metadata``
    alone cost a `status` about 20 ms (it brings the email and zip packages), and its
    ``version`` parses the whole file, long description included. A distribution this
    look does not find (a zipped one, an egg) is asked of ``importlib.metadata``.
    """
    for folder in _metadata_folders(_normalized(distribution)):
        for name in ("METADATA", "PKG-INFO"):
            try:
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line[len("Version:"):].strip()
                        if not line.strip():
                            break  # the headers end at the first empty line
            except OSError:
                continue
    from importlib import metadata

    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    return found.version


def _normalized(name: str) -> str:
    """A distribution's name as its metadata folder spells it, folded (PEP 503 and 427)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.lru_cache(maxsize=64)
def _listing(folder: str) -> tuple[str, ...]:
    """A folder's entries, read once a process (``drift`` asks for a dozen libraries)."""
    try:
        return tuple(os.listdir(folder))
    except OSError:
        return ()


def _metadata_folders(normalized: str) -> list[str]:
    """The ``NAME-VERSION.dist-info`` (or ``.egg-info``) folders of that distribution, in
    ``sys.path`` order (the first is the one imports find)."""
    return _distributions(tuple(sys.path)).get(normalized, [])


@functools.lru_cache(maxsize=4)
def _distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    """Each distribution's metadata folders, by normalized name, from the first folder of
    ``path`` that holds any: one pass over the path for all the libraries ``drift`` asks
    about (a pass each cost a `status` 5 ms in a folder of 5,000 entries)."""
    found: dict[str, list[str]] = {}
    for entry in path:
        here: dict[str, list[str]] = {}
        for name in _listing(entry or "."):
            if name.endswith((".dist-info", ".egg-info")):
                stem = name.rpartition(".")[0]
                here.setdefault(_normalized(stem.split("-", 1)[0]), []).append(os.path.join(entry or ".", name))
        for normalized, folders in here.items():
            found.setdefault(normalized, folders)
    return found


def drift(environment: dict[str, Any]) -> list[str]:
    """One sentence per watched library whose version here differs from the deploy's."""
    found = []
    recorded = environment.get("libraries")
    if isinstance(recorded, dict):
        for name in WATCHED:
            then = recorded.get(name)
            if not isinstance(then, str):
                continue
            now = installed_version(name)
            if now != then:
                found.append(f"{name} {then} at deploy, {now or 'not installed'} here")
    then_py = environment.get("python")
    if isinstance(then_py, str) and then_py.rsplit(".", 1)[0] != python_version().rsplit(".", 1)[0]:
        found.append(f"Python {then_py} at deploy, {python_version()} here")
    return found
