"""What ``mlreg serve`` speaks: a request, a reply, an HTTP error and the statuses of
mlreg's exit codes (shared by the JSON API in ``mlreg.server`` and the pages)."""

from __future__ import annotations

from typing import NamedTuple

# Exit codes (SPEC §3) as HTTP statuses (SPEC §2).
HTTP_OF_EXIT = {1: 500, 2: 400, 3: 404, 4: 409, 5: 409, 6: 409, 7: 500, 8: 409}


class Request(NamedTuple):
    """One HTTP request: ``headers`` with lower-case names."""

    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    local: str = ""  # the address the connection arrived at (a Host that names it is this server)


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class HTTPError(Exception):
    """An answer other than 200; ``allow`` (for 405, and 204 to OPTIONS) lists the methods."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow


def has_lone_surrogate(value: object) -> bool:
    """Whether a parsed JSON value holds a string with a lone UTF-16 surrogate
    (``"\\ud800"``): valid JSON, but not text, and no UTF-8 can carry it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


def parse_json(body: bytes) -> object:
    """The JSON value of a request body.

    Raises:
        ValueError: not JSON, nested too deeply, or a string that is not text.
    """
    import json

    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError("the body is JSON nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"the body is not valid JSON: {e}") from None
    if b"\\u" in body and has_lone_surrogate(value):  # only a \u escape can make one
        raise ValueError("the body's JSON holds a lone UTF-16 surrogate (a \\udXXX escape alone), which is not text")
    return value


