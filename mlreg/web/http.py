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
    client: str = "127.0.0.1"
    local: str = ""  # the address the connection arrived at (a Host that names it is this server)


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


