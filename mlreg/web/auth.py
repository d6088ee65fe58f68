"""Who may write through ``mlreg serve`` (SPEC §9), and the CSRF check of the pages.

- ``--read-only`` turns every write off (403).
- With a token (``--token`` or ``MLREG_SERVE_TOKEN``), a write needs
  ``Authorization: Bearer TOKEN``, or a page session that was given the token
  once (``/login``) and keeps it as an HttpOnly, SameSite=Strict cookie.
- Without a token, only a server bound to loopback accepts writes; bound to
  anything else it is read-only.

Browsers add what makes cross-site writes refusable: a page write carries a
CSRF token (an HMAC of the visitor's session cookie with this server's
secret, which lives only in memory), and a write from another site
(``Sec-Fetch-Site: cross-site``, or an ``Origin`` that is not this server) is
refused (403) whatever it carries. The JSON write API, when not authorised by
a bearer token, also needs ``Content-Type: application/json``: a browser
cannot send that cross-site without a preflight, which is never granted.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from typing import Mapping

SESSION_COOKIE = "mlreg_session"
MAX_SESSIONS = 10_000


class Denied(Exception):
    """A write that may not happen: ``status`` is 401 (log in) or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WritePolicy:
    def __init__(self, host: str = "127.0.0.1", token: str | None = None, read_only: bool = False) -> None:
        self.token = token or None
        self.read_only = read_only
        self.loopback = is_loopback(host)
        self._secret = secrets.token_bytes(32)
        self._signed_in: set[str] = set()
        self._guard = threading.Lock()

    # ------------------------------------------------------------ who

    @property
    def writable(self) -> bool:
        """Whether anyone can write at all through this server."""
        return not self.read_only and (self.token is not None or self.loopback)

    def why_read_only(self) -> str:
        if self.read_only:
            return "this server is read-only (--read-only)"
        return ("this server is bound to a non-loopback address without --token, so it is read-only; "
                "restart it with --token (or MLREG_SERVE_TOKEN) to allow writes")

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return (self.token is not None and scheme.lower() == "bearer"
                and hmac.compare_digest(value.strip().encode(), self.token.encode()))

    def signed_in(self, session: str | None) -> bool:
        return self.token is None or (session is not None and session in self._signed_in)

    def sign_in(self, session: str, token: str) -> bool:
        if self.token is None or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return False
        with self._guard:
            if len(self._signed_in) >= MAX_SESSIONS:
                self._signed_in.clear()
            self._signed_in.add(session)
        return True

    def sign_out(self, session: str | None) -> None:
        with self._guard:
            self._signed_in.discard(session or "")

    # ------------------------------------------------------------ CSRF

    def csrf_token(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, given: str | None) -> bool:
        return bool(session and given) and hmac.compare_digest(self.csrf_token(session), given or "")

    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(24)

    # ----------------------------------------------------------- checks

    def check_api_write(self, headers: Mapping[str, str], host: str) -> None:
        """Raises Denied unless a JSON API write may proceed."""
        if self.read_only or not self.writable:
            raise Denied(403, self.why_read_only())
        cross_site(headers, host)
        if self.token is not None:
            if not self.bearer_ok(headers):
                raise Denied(401 if "authorization" not in headers else 403,
                             "this server needs Authorization: Bearer TOKEN for writes")
            return
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Denied(403, "a write needs Content-Type: application/json")

    def check_page_write(self, headers: Mapping[str, str], host: str, session: str | None, csrf: str | None) -> None:
        """Raises Denied unless a form post from the pages may proceed."""
        if self.read_only or not self.writable:
            raise Denied(403, self.why_read_only())
        cross_site(headers, host)
        if not self.csrf_ok(session, csrf):
            raise Denied(403, "the form's CSRF token is missing or stale; reload the page and try again")
        if not (self.signed_in(session) or self.bearer_ok(headers)):
            raise Denied(401, "sign in with the server's token first")


def cross_site(headers: Mapping[str, str], host: str) -> None:
    """Refuse a request a browser marks as coming from another site."""
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Denied(403, "a cross-site request may not write")
    origin = headers.get("origin")
    if origin and origin != "null":
        from urllib.parse import urlsplit

        if urlsplit(origin).netloc.lower() != (headers.get("host") or host).lower():
            raise Denied(403, "a request from another origin may not write")
    elif origin == "null":
        raise Denied(403, "a request from an opaque origin may not write")

