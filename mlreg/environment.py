"""The software a version was deployed with, compared with what runs now.

Only the libraries that decide whether an artifact unpickles and predicts the
same are compared; ``importlib.metadata`` answers without importing them, so
``status`` stays fast.
"""

from __future__ import annotations

import platform
from typing import Any

WATCHED = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "xgboost", "lightgbm",
           "catboost", "torch", "tensorflow", "keras", "statsmodels")


def python_version() -> str:
    return platform.python_version()


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None.

    Read from the ``Version:`` header near the top of its METADATA file:
    ``importlib.metadata.version`` parses the whole file (the long description
    included) with the email parser, which made a `status` 3 ms slower.
    """
    from importlib import metadata

    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    for line in (found.read_text("METADATA") or found.read_text("PKG-INFO") or "").splitlines():
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
        if not line:
            break  # the headers end at the first empty line
    return found.version


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
