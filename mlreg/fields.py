"""What users attach to versions (SPEC §7): alias names, tags, metrics, params and
the source a version was trained from, parsed and checked before anything is
written, and checked again when read back (a registry's contents are input).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from .errors import UsageError

RESERVED_ALIASES = ("primary", "latest")
# (patterns, compiled on first use by re's own cache: a read command needs neither)
_ALIAS = r"[a-z][a-z0-9_-]{0,31}"
_KEY = r"[A-Za-z0-9_.-]{1,64}"
MAX_VALUE = 256
MAX_FIELDS = 1000  # tags, metrics or params a version may carry, each
SOURCE_KEYS = ("text", "git_commit", "git_dirty", "git_remote")


def is_alias(name: str) -> bool:
    return isinstance(name, str) and re.fullmatch(_ALIAS, name) is not None


def alias_name(text: str) -> str:
    """An alias as given (``champion`` or ``@champion``), checked.

    Raises:
        UsageError: not 1-32 of a-z, 0-9, ``-``, ``_`` starting with a letter, or reserved.
    """
    name = text.strip()
    name = name[1:] if name.startswith("@") else name
    if name in RESERVED_ALIASES:
        raise UsageError(f"@{name} is built in (it always names the {name} version); choose another alias name")
    if not is_alias(name):
        raise UsageError(f"alias {text!r} is not valid: 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter")
    return name


def is_key(key: str) -> bool:
    return isinstance(key, str) and re.fullmatch(_KEY, key) is not None


def is_value(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_VALUE and value.isprintable()


def is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _key(key: str, what: str) -> str:
    if not is_key(key):
        raise UsageError(f"{what} key {key!r} is not valid: 1 to 64 of letters, digits, '_', '.' and '-'")
    return key


def _pairs(items: Iterable[str], what: str, flag: str) -> list[tuple[str, str]]:
    found = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"{flag} {item!r} is not KEY=VALUE")
        found.append((_key(key.strip(), what), value))
    return found


def tags(items: Iterable[str], flag: str = "--tag") -> dict[str, str]:
    """``KEY=VALUE`` items as tags.

    Raises:
        UsageError: a bad key, or a value over 256 characters or not printable.
    """
    found = {}
    for key, value in _pairs(items, "tag", flag):
        if not is_value(value):
            raise UsageError(f"tag {key}: the value must be at most {MAX_VALUE} printable characters")
        found[key] = value
    return _bounded(found, "tags")


def tag_keys(keys: Iterable[str]) -> list[str]:
    return [_key(k.strip(), "tag") for k in keys]


def params(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` items as params (values as text, like tags)."""
    found = {}
    for key, value in _pairs(items, "param", "--param"):
        if not is_value(value):
            raise UsageError(f"param {key}: the value must be at most {MAX_VALUE} printable characters")
        found[key] = value
    return _bounded(found, "params")


def metrics(items: Iterable[str], files: Iterable[str] = ()) -> dict[str, int | float]:
    """``KEY=NUMBER`` items and the metrics of JSON files (an object whose nested
    objects are flattened with ``.``), the items winning.

    Raises:
        UsageError: a value that is not a finite number (booleans, strings and
            null are refused), a bad key, or a file that is not such an object.
    """
    found: dict[str, int | float] = {}
    for path in files:
        found.update(_metrics_file(path))
    for key, value in _pairs(items, "metric", "--metric"):
        found[key] = _number(value.strip(), key)
    return _bounded(found, "metrics")


def _number(text: str, key: str) -> int | float:
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"metric {key}: {text!r} is not a number") from None
    if not is_number(number):
        raise UsageError(f"metric {key}: {text!r} is not a finite number")
    return number


def _metrics_file(path: str) -> dict[str, int | float]:
    import json

    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20).decode("utf-8"))
    except OSError as e:
        raise UsageError(f"--metrics-file {path}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"--metrics-file {path} is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--metrics-file {path} must hold a JSON object of numbers")
    found: dict[str, int | float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif is_number(value):
            found[_key(prefix, "metric")] = value
        else:
            raise UsageError(f"--metrics-file {path}: {prefix} is {json.dumps(value)[:40]}, not a number")

    walk("", data)
    return found


def _bounded(found: dict[str, Any], what: str) -> dict[str, Any]:
    if len(found) > MAX_FIELDS:
        raise UsageError(f"at most {MAX_FIELDS} {what} a version")
    return found


def source_text(text: str) -> dict[str, Any]:
    text = text.strip()
    if not (0 < len(text) <= 1024 and text.isprintable()):
        raise UsageError("--source must be 1 to 1024 printable characters")
    return {"text": text}


def git_source(cwd: str | None = None) -> dict[str, Any] | None:
    """The git commit, dirty flag and ``origin`` URL of the work tree the current
    directory is in; None outside one (or without git). Credentials in the URL
    (``https://user:token@host/...``) are left out: they are no lineage."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    found: dict[str, Any] = {"git_commit": commit, "git_dirty": bool(status)}
    remote = git("remote", "get-url", "origin")
    if remote:
        found["git_remote"] = without_credentials(remote)
    return found


def without_credentials(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


# --------------------------------------------------------- read back

def bad_table(value: Mapping[str, Any], kind: str) -> str | None:
    """Why a table read from a registry is not valid tags, metrics, params or source
    (None when it is)."""
    if kind == "source":
        for key, v in value.items():
            if key not in SOURCE_KEYS:
                return f"source has an unknown key {key!r}"
            if not (isinstance(v, bool) if key == "git_dirty" else isinstance(v, str) and len(v) <= 4096):
                return f"source.{key} is {v!r}"
        return None
    if len(value) > MAX_FIELDS:
        return f"{kind} has more than {MAX_FIELDS} keys"
    check = is_number if kind == "metrics" else is_value
    for key, v in value.items():
        if not is_key(key) or not check(v):
            return f"{kind}.{key[:64]} is {str(v)[:40]!r}"
    return None
