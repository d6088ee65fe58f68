"""Where the registry is: ``--registry PATH`` > ``MLREG_REGISTRY`` > a per-user data folder."""

from __future__ import annotations

import os

from .errors import UsageError

ENV_REGISTRY = "MLREG_REGISTRY"
ENV_LOCK_TIMEOUT = "MLREG_LOCK_TIMEOUT"
ENV_TRUST_FILE = "MLREG_TRUST_FILE"
DEFAULT_LOCK_TIMEOUT = 30.0


def default_registry() -> str:
    """The per-user data folder, e.g. ``~/.local/share/mlreg`` on Linux."""
    return user_folder("data")


_XDG = {"data": ("XDG_DATA_HOME", ".local/share"), "config": ("XDG_CONFIG_HOME", ".config"),
        "cache": ("XDG_CACHE_HOME", ".cache")}


def user_folder(kind: str) -> str:
    """mlreg's per-user folder of ``kind`` ("data", "config" or "cache"), as platformdirs
    names it: on Linux and the BSDs the XDG base directories, read here directly
    (importing platformdirs costs more than a signature check); elsewhere platformdirs."""
    import sys

    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        variable, default = _XDG[kind]
        base = os.environ.get(variable, "").strip() or os.path.join(os.path.expanduser("~"), default)
        return os.path.join(base, "mlreg")
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_dir")("mlreg", appauthor=False)


def resolve_registry(path: str | os.PathLike[str] | None = None) -> str:
    """The registry location chosen by SPEC §1's order: an absolute path, or an
    ``s3://BUCKET[/PREFIX]`` URL as given (SPEC §8)."""
    chosen = os.fspath(path) if path else os.environ.get(ENV_REGISTRY) or default_registry()
    if is_url(chosen):
        return chosen.rstrip("/")
    return os.path.abspath(os.path.expanduser(chosen))


def is_url(location: str) -> bool:
    """Whether a registry location names an object store rather than a folder."""
    return location.startswith("s3://")


def resolve_lock_timeout(timeout: float | None = None) -> float:
    """Seconds to wait for a lock: the argument, else ``MLREG_LOCK_TIMEOUT``, else 30.

    Raises:
        UsageError: ``MLREG_LOCK_TIMEOUT`` is not a number.
    """
    if timeout is not None:
        return float(timeout)
    text = os.environ.get(ENV_LOCK_TIMEOUT)
    if text:
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{ENV_LOCK_TIMEOUT}={text!r} is not a number of seconds") from None
    return DEFAULT_LOCK_TIMEOUT
