"""Who may write through ``mlreg serve`` (SPEC §9), and the CSRF check of the pages.

- ``--read-only`` turns every write off (403).
- With a token (``--token`` or ``MLREG_SERVE_TOKEN``), a write needs
  ``Authorization: Bearer TOKEN``, or a page session that was given the token
  once (``/login``) and keeps it as an HttpOnly, SameSite=Strict cookie.
- Without a token, only a server bound to loopback accepts writes; bound to
  anything else it is read-only.
- Every write must name this server in its ``Host`` header (a loopback name,
  the bound address, the address the connection arrived at, or a name given
  with ``--allow-host``): a page on another site that rebinds its own name to
  127.0.0.1 (DNS rebinding) sends its own name, and is refused.

Page sessions live in the visitor's cookie, not in server memory: a random
session ID, when it signed in and when it was last seen, signed with
``itsdangerous`` under a secret derived from the token (so every replica that
shares the token accepts the cookie, and a restart signs nobody out; without a
token, a secret of this process). A session expires ``SESSION_IDLE`` seconds
after it was last seen (the cookie is renewed as it is used) and a sign-in
``SESSION_MAX`` seconds after it was made; a new ID is issued at sign-in and at
sign-out; a cookie this server's secret did not sign is ignored, so nobody can
choose a victim's session. Changing the token ends every session.

Browsers add what makes cross-site writes refusable: a page write carries a
CSRF token (an HMAC of the visitor's session ID with the same secret), and a
write from another site
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
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

SESSION_COOKIE = "mlreg_session"
SESSION_IDLE = 12 * 3600  # a session unused this long is over
SESSION_MAX = 7 * 86400  # a sign-in lasts at most this long
SESSION_RENEW = 60  # a session's cookie is sent again, with a new "last seen", at most this often
CLOCK_SKEW = 300  # a cookie "seen" this far in the future (another replica's clock) still counts
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class Session:
    """A visitor of the pages, as its signed cookie says."""

    id: str
    signed_at: float  # when it signed in with the token (time.time()); 0.0: not signed in
    seen: float  # when it was last seen (time.time())
    send: bool = False  # the cookie must be (re)sent with this answer


class Denied(Exception):
    """A write that may not happen: ``status`` is 401 (log in) or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def host_name(header: str) -> str:
    """The name in a ``Host`` header, lower-case, without its port or brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WritePolicy:
    def __init__(self, host: str = "127.0.0.1", token: str | None = None, read_only: bool = False,
                 allow_hosts: Iterable[str] = ()) -> None:
        self.token = token or None
        self.read_only = read_only
        self.loopback = is_loopback(host)
        bound = host_name(host)
        self.hosts = frozenset(LOOPBACK_NAMES | {host_name(h) for h in allow_hosts if h.strip()}
                               | ({bound} if bound not in ("", "0.0.0.0", "::") else set()))
        # One secret signs the session cookies and the CSRF tokens: derived from the
        # token (every replica sharing it accepts the cookies), else this process's own.
        self._secret = (hmac.new(self.token.encode(), b"mlreg page sessions v1", hashlib.sha256).digest()
                        if self.token else secrets.token_bytes(32))
        self._signer: Any = None

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

    def token_ok(self, token: str) -> bool:
        return self.token is not None and hmac.compare_digest(token.strip().encode(), self.token.encode())

    # ------------------------------------------------------------ sessions

    @property
    def signer(self) -> Any:
        if self._signer is None:
            from itsdangerous import URLSafeSerializer

            self._signer = URLSafeSerializer(self._secret, salt="mlreg-session")
        return self._signer

    def session(self, cookie: str | None) -> Session | None:
        """The session ``cookie`` holds if this server's secret signed it and it has not
        expired (renewed when last seen more than ``SESSION_RENEW`` ago), else None."""
        if not cookie:
            return None
        from itsdangerous import BadData

        try:
            data = self.signer.loads(cookie)
            sid, signed_at, seen = data["i"], float(data["s"]), float(data["t"])
        except (BadData, KeyError, TypeError, ValueError):
            return None
        now = time.time()
        if not isinstance(sid, str) or seen > now + CLOCK_SKEW or now - seen > SESSION_IDLE:
            return None
        if signed_at and now - signed_at > SESSION_MAX:
            return None
        session = Session(sid, signed_at, seen)
        if now - seen > SESSION_RENEW:
            session.seen, session.send = now, True
        return session

    def new_session(self, signed_in: bool = False) -> Session:
        """A new session ID, signed out unless ``signed_in``; its cookie is to be sent."""
        now = time.time()
        return Session(secrets.token_urlsafe(18), now if signed_in else 0.0, now, send=True)

    def cookie(self, session: Session) -> str:
        """The signed cookie value that carries ``session``."""
        return self.signer.dumps({"i": session.id, "s": session.signed_at, "t": session.seen})

    def signed_in(self, session: Session | None) -> bool:
        if self.token is None:
            return True
        return session is not None and session.signed_at > 0.0 and time.time() - session.signed_at <= SESSION_MAX

    def sign_in(self, session: Session | None, token: str) -> Session | None:
        """With the right token, a NEW signed-in session replacing ``session`` (so
        that a session ID known before sign-in is worth nothing after); else None."""
        if not self.token_ok(token):
            return None
        return self.new_session(signed_in=True)

    def sign_out(self, session: Session | None) -> Session:
        """A new, signed-out session to replace ``session`` in the visitor's cookie."""
        return self.new_session()

    # ------------------------------------------------------------ CSRF

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._secret, session.id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        return bool(session and given) and hmac.compare_digest(self.csrf_token(session), given or "")

    # ----------------------------------------------------------- checks

    def check_host(self, headers: Mapping[str, str], local: str = "") -> None:
        """Raises Denied unless the request's ``Host`` names this server."""
        given = headers.get("host")
        if given is None:
            return  # HTTP/1.0 without Host: not a browser
        name = host_name(given)
        if name in self.hosts or (local and name == host_name(local)):
            return
        raise Denied(403, f"Host {given[:100]!r} is not this server's address, so the write is refused "
                          f"(a page on another site may have rebound its name to this server); if it is this "
                          f"server's name, restart mlreg serve with --allow-host {name[:100]}")

    def check_api_write(self, headers: Mapping[str, str], host: str, local: str = "", method: str = "") -> None:
        """Raises Denied unless a JSON API write may proceed. A DELETE needs no
        ``Content-Type``: a browser must ask (preflight) before sending one cross-site."""
        if self.read_only or not self.writable:
            raise Denied(403, self.why_read_only())
        self.check_host(headers, local)
        cross_site(headers, host)
        if self.token is not None:
            if "authorization" not in headers:
                raise Denied(401, "this server needs Authorization: Bearer TOKEN for writes")
            if not self.bearer_ok(headers):
                raise Denied(403, "the bearer token is wrong: it is not this server's --token")
            return
        if method != "DELETE" and headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Denied(403, "a write needs Content-Type: application/json")

    def check_page_write(self, headers: Mapping[str, str], host: str, session: Session | None, csrf: str | None,
                         local: str = "") -> None:
        """Raises Denied unless a form post from the pages may proceed."""
        if self.read_only or not self.writable:
            raise Denied(403, self.why_read_only())
        self.check_host(headers, local)
        cross_site(headers, host)
        if not (self.signed_in(session) or self.bearer_ok(headers)):
            raise Denied(401, "sign in with the server's token first")  # to the sign-in page: nothing changes
        if not self.csrf_ok(session, csrf):
            raise Denied(403, "the form's CSRF token is missing or stale; reload the page and try again")


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

