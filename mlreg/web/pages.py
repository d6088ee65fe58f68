"""The web pages of ``mlreg serve`` (SPEC §9), rendered on the server with Jinja2
(autoescaped) and readable without JavaScript: every action is a form that posts
and is redirected (303) back to the page, or answered with the page and what went
wrong. Each action is one ``Registry`` call; no rule is decided here."""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .. import render
from ..errors import Conflict, MlregError, NotFound, UsageError, redact
from .http import HTTP_OF_EXIT, HTTPError, Reply, Request
from .routes import Route, Router, route
from ..registry import Registry
from .auth import SESSION_COOKIE, SESSION_IDLE, SESSION_MAX, Denied, Session, WritePolicy
from .markdown import render_markdown

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = {"mlreg.css": "text/css; charset=utf-8", "mlreg.js": "text/javascript; charset=utf-8"}
# Scripts and styles only from this server; nothing inline runs, whatever a README holds.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)
MAX_FLASH = 1000


class Page(Exception):
    """Answer with this page now (an error shown on the page it concerns)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply


class Pages:
    def __init__(self, registry: Registry, policy: WritePolicy) -> None:
        import jinja2

        self.registry = registry
        self.policy = policy
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                                      autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["ago"] = ago
        self.env.filters["exact"] = exact
        self.env.filters["size"] = render.size
        self.env.filters["q"] = lambda text: quote(str(text), safe="")
        self.env.globals["label"] = _label
        self._flash: dict[str, str] = {}
        self._guard = threading.Lock()
        self.router = Router(self._routes())

    # ------------------------------------------------------------- dispatch

    def respond(self, request: Request) -> Reply:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        context = c = _Context(request, query, self._session(request))
        try:
            reply = self._route(context)
        except Page as page:
            reply = page.reply
        except NotFound as e:
            reply = self._page(context, "error.html", status=404, title="Not found", message=redact(str(e)))
        except MlregError as e:
            reply = self._page(context, "error.html", status=HTTP_OF_EXIT.get(e.exit_code, 500), title="Error",
                               message=redact(str(e)))
        except Exception as e:  # one page's failure must not take the server down
            reply = self._page(context, "error.html", status=500, title="Error",
                               message=redact(f"unexpected error: {type(e).__name__}: {e}"))
        headers = reply.headers
        if c.session.send:  # new, renewed, signed in or out
            max_age = SESSION_MAX if c.session.signed_at else SESSION_IDLE
            headers += (("Set-Cookie", f"{SESSION_COOKIE}={self.policy.cookie(c.session)}; Max-Age={max_age}; "
                                       "HttpOnly; SameSite=Strict; Path=/"),)
        return reply._replace(headers=headers)

    def _routes(self) -> list[Route]:
        """Every page and form action: the one place a page's path, methods and handler are named."""
        w = self._writing
        return [
            route("/", GET=self.models_page),
            route("/static/{file}", GET=self.static),
            route("/login", GET=self.login, POST=self.login),
            route("/logout", POST=self.logout),
            route("/models/{folder}", GET=self.model_page),
            route("/models/{folder}/description", POST=w(self.describe)),
            route("/models/{folder}/promote", POST=w(self.promote)),
            route("/models/{folder}/aliases", POST=w(self.set_alias)),
            route("/models/{folder}/aliases/{alias}/delete", POST=w(self.remove_alias)),
            route("/models/{folder}/readme", POST=w(self.save_readme)),
            route("/models/{folder}/readme/preview", POST=w(self.preview)),
            route("/models/{folder}/versions/{ref}", GET=self.version_page),
            route("/models/{folder}/versions/{ref}/tags", POST=w(self.tags)),
            route("/models/{folder}/versions/{ref}/delete", GET=self.confirm_delete, POST=w(self.delete)),
        ]

    def _route(self, c: _Context) -> Reply:
        path = "/" + "/".join(p for p in urlsplit(c.request.path).path.split("/") if p)
        try:  # a model's name and a version's number may need percent-encoding: é, +
            unquote(path, errors="strict")
            found = self.router.find(c.request.method, path)
        except UnicodeDecodeError:
            found = None
        except HTTPError as e:  # 405, or OPTIONS: from the table, with Allow
            headers = (("Allow", e.allow or ""),)
            if e.status == 204:
                return Reply(204, b"", "text/plain", headers)
            return Reply(e.status, json.dumps({"error": str(e)}).encode() + b"\n", "application/json", headers)
        if found is None:
            raise NotFound(f"no page {c.request.path}")
        _, handler, fields = found
        return handler(c, **fields)

    def _writing(self, action: Callable[..., Reply]) -> Callable[..., Reply]:
        """A form action's handler: the write checked (``_write``), then ``action(c, **fields, form=...)``."""
        return lambda c, **fields: self._write(c, lambda form: action(c, **fields, form=form))

    def static(self, c: _Context, file: str) -> Reply:
        if file not in STATIC:
            raise NotFound(f"no page {c.request.path}")
        with open(os.path.join(HERE, "static", file), "rb") as f:
            return Reply(200, f.read(), STATIC[file], (("Cache-Control", "max-age=300"),))

    def logout(self, c: _Context) -> Reply:
        c.session = self.policy.sign_out(c.session)
        return _see("/")

    # ---------------------------------------------------------------- pages

    def models_page(self, c: _Context) -> Reply:
        from ..errors import PartlyUnreadable

        problems: list[str] = []
        try:
            found = self.registry.models()
        except PartlyUnreadable as e:
            found, problems = e.found, e.problems
        rows = []
        for info in found:
            last = info.record.last_deployed_at  # kept in model.toml: no listing of versions per model
            if last is None and info.version_count:  # a model.toml from before it was kept
                try:
                    last = max((v.deployed_at for v in self.registry.versions(info.record.folder)), default=None)
                except MlregError:
                    last = None
            rows.append((info, last))
        q = c.query.get("q", "").strip()
        if q:
            rows = [(i, last) for i, last in rows if q.lower() in f"{i.record.name} {i.record.description}".lower()]
        return self._page(c, "models.html", title="Models", rows=rows, q=q, problems=problems)

    def model_page(self, c: _Context, folder: str, *, status: int = 200, error: str | None = None,
                   readme_draft: str | None = None, readme_expect: str | None = None) -> Reply:
        from ..readme import sha256

        reg = self.registry
        host = c.request.headers.get("host") or "127.0.0.1:8080"
        model = reg.model(folder)  # each of its files read once, for the whole page
        overview = reg.show(model, url=f"http://{host}")
        record = overview.info.record
        tab = c.query.get("tab", "versions")
        if tab not in ("versions", "readme", "history"):
            tab = "versions"
        readme = model.readme
        # A save that lost to a teammate's: their text is shown, and the form still names
        # the README the editor began from, so Save conflicts again; replacing theirs is
        # its own button.
        theirs = readme if readme_expect is not None and readme_expect != sha256(readme) else None
        history = list(reversed(model.history())) if tab == "history" else []
        draft = readme if readme_draft is None else readme_draft
        return self._page(
            c, "model.html", status=status, title=record.name, model=record, info=overview.info,
            versions=list(reversed(overview.versions)), invocation=overview.invocation, tab=tab, error=error,
            readme_html=render_markdown(readme), readme_text=draft, readme_sha256=sha256(readme),
            readme_expect=readme_expect or sha256(readme), theirs=theirs,
            editing=c.query.get("edit") == "readme" or readme_draft is not None, history=history,
            chart=metric_chart(overview.versions, c.query.get("metric")),
            preview_html=render_markdown(readme_draft) if readme_draft is not None else None)

    def version_page(self, c: _Context, folder: str, ref: str, *, status: int = 200,
                     error: str | None = None) -> Reply:
        from ..views import log_entries, signature

        reg = self.registry
        handle = reg.model(folder)  # each of its files read once, for the whole page
        model = handle.record
        v = handle.version(ref)
        log = log_entries(handle.logs(v))
        host = c.request.headers.get("host") or "127.0.0.1:8080"
        invocation = reg.version_invocation(handle, v.version_id, url=f"http://{host}") if v.status == "active" \
            else None
        trust = reg.version_json(v)  # its signatures, each checked, and whether this server would load it
        return self._page(c, "version.html", status=status, title=f"{model.name} {v.version}", model=model, v=v,
                          signatures=trust["signatures"], trusted=trust["trusted"],
                          signature=signature(v.signature), log=log, error=error, invocation=invocation,
                          back=f"/models/{quote(folder)}/versions/{quote(v.version, safe='')}",
                          tags_text="\n".join(f"{k}={t}" for k, t in sorted(v.tags.items())),
                          tags_shown=json.dumps(v.tags, sort_keys=True))

    def confirm_delete(self, c: _Context, folder: str, ref: str, error: str | None = None) -> Reply:
        model = self.registry.model(folder).record
        v = self.registry.version(folder, ref)
        return self._page(c, "delete.html", status=409 if error else 200, title=f"Delete {model.name} {v.version}",
                          model=model, v=v, error=error)

    def login(self, c: _Context) -> Reply:
        if self.policy.token is None:  # nothing to sign in with: writes follow the address alone
            return _see(c.query.get("next") or "/")
        if c.request.method == "POST":
            form = _form(c.request.body)
            try:
                from .auth import cross_site

                cross_site(c.request.headers, "")
            except Denied as e:
                return self._page(c, "error.html", status=403, title="Refused", message=str(e))
            session = self.policy.sign_in(c.session, form.get("token", ""))
            if session is not None:  # a new session: one known before sign-in is worth nothing now
                c.session = session
                return _see(form.get("next") or "/")
            return self._page(c, "login.html", status=403, title="Sign in", error="That is not this server's token.",
                              next=_safe_next(form.get("next")))
        return self._page(c, "login.html", title="Sign in", next=_safe_next(c.query.get("next")))

    # -------------------------------------------------------------- actions

    def _write(self, c: _Context, action: Callable[[dict[str, str]], Reply]) -> Reply:
        form = _form(c.request.body)
        try:
            self.policy.check_page_write(c.request.headers, "", c.session, form.get("csrf"), c.request.local)
        except Denied as e:
            if e.status == 401:  # back to the page the action came from, once signed in
                return _see(f"/login?next={quote(_page_of_action(urlsplit(c.request.path).path), safe='')}")
            return self._page(c, "error.html", status=e.status, title="Refused", message=str(e))
        return action(form)

    def _flash_and_see(self, c: _Context, where: str, text: str) -> Reply:
        with self._guard:
            if len(self._flash) > MAX_FLASH:
                self._flash.clear()
            self._flash[c.session.id] = text
        return _see(where)

    def describe(self, c: _Context, folder: str, form: dict[str, str]) -> Reply:
        try:
            self.registry.describe(folder, form.get("description", ""))
        except UsageError as e:
            raise Page(self.model_page(c, folder, status=400, error=str(e))) from None
        return self._flash_and_see(c, f"/models/{quote(folder)}", "Description saved.")

    def promote(self, c: _Context, folder: str, form: dict[str, str]) -> Reply:
        expected = form.get("expect_primary") or "none"
        try:
            result = self.registry.promote(folder, form.get("version", ""), expect_primary=expected)
        except Conflict as e:
            raise Page(self.model_page(c, folder, status=409, error=f"{e} Reload to see the versions as they are now."
                                       if "primary" in str(e) else str(e))) from None
        return self._flash_and_see(c, form.get("back") or f"/models/{quote(folder)}",
                                   f"{result.record.version} is now the primary (was {result.previous or 'none'}).")

    def set_alias(self, c: _Context, folder: str, form: dict[str, str]) -> Reply:
        back = form.get("back") or f"/models/{quote(folder)}"
        try:
            result = self.registry.set_alias(folder, form.get("alias", ""), form.get("version", ""),
                                             expect=form.get("expect") or None)
        except (Conflict, UsageError, NotFound) as e:
            raise Page(self.model_page(c, folder, status=HTTP_OF_EXIT.get(e.exit_code, 400), error=str(e))) from None
        return self._flash_and_see(c, back, f"@{result.alias} now names {result.record.version}.")

    def remove_alias(self, c: _Context, folder: str, alias: str, form: dict[str, str]) -> Reply:
        try:
            result = self.registry.remove_alias(folder, alias)
        except (NotFound, UsageError) as e:
            raise Page(self.model_page(c, folder, status=HTTP_OF_EXIT.get(e.exit_code, 400), error=str(e))) from None
        return self._flash_and_see(c, f"/models/{quote(folder)}", f"@{result.alias} removed.")

    def tags(self, c: _Context, folder: str, ref: str, form: dict[str, str]) -> Reply:
        from .. import fields

        current = self.registry.version(folder, ref)
        try:
            wanted = fields.tags([line.strip() for line in form.get("tags", "").splitlines() if line.strip()],
                                 flag="tag")
            # What the visitor changed on the page, not the difference to now: a tag a
            # teammate added (or changed) after the page was shown stays theirs.
            shown = _shown_tags(form.get("shown"), current.tags)
            removed = [k for k in shown if k not in wanted and k in current.tags]
            changed = {k: t for k, t in wanted.items() if shown.get(k) != t and current.tags.get(k) != t}
            if changed or removed:
                self.registry.tag(folder, ref, changed, removed)
        except (UsageError, Conflict, MlregError) as e:
            raise Page(self.version_page(c, folder, ref, status=HTTP_OF_EXIT.get(e.exit_code, 400),
                                         error=str(e))) from None
        return self._flash_and_see(c, f"/models/{quote(folder)}/versions/{quote(current.version)}", "Tags saved.")

    def save_readme(self, c: _Context, folder: str, form: dict[str, str]) -> Reply:
        text = form.get("readme", "").replace("\r\n", "\n")
        try:
            self.registry.set_readme(folder, text, expect_sha256=form.get("expect_sha256") or None)
        except (Conflict, UsageError) as e:
            c.query["tab"] = "readme"
            message = str(e)
            if isinstance(e, Conflict):
                message = ("The README was changed by someone else while you were editing it; nothing was saved. "
                           "Their text is below: merge it into yours and save, or replace theirs with yours.")
            raise Page(self.model_page(c, folder, status=HTTP_OF_EXIT.get(e.exit_code, 400), error=message,
                                       readme_draft=text, readme_expect=form.get("expect_sha256") or None)) from None
        return self._flash_and_see(c, f"/models/{quote(folder)}?tab=readme", "README saved.")

    def preview(self, c: _Context, folder: str, form: dict[str, str]) -> Reply:
        text = form.get("readme", "").replace("\r\n", "\n")
        if c.request.headers.get("x-requested-with") == "mlreg":  # the page's script: the fragment alone
            return Reply(200, render_markdown(text).encode("utf-8"), "text/html; charset=utf-8", SECURITY_HEADERS)
        c.query["tab"] = "readme"
        return self.model_page(c, folder, readme_draft=text, readme_expect=form.get("expect_sha256") or None)

    def delete(self, c: _Context, folder: str, ref: str, form: dict[str, str]) -> Reply:
        try:
            gone = self.registry.delete(folder, ref)
        except (Conflict, MlregError) as e:
            if isinstance(e, NotFound):
                raise
            raise Page(self.confirm_delete(c, folder, ref, error=str(e))) from None
        return self._flash_and_see(c, f"/models/{quote(folder)}", f"Deleted {gone.version} ({gone.version_id}).")

    # ------------------------------------------------------------- helpers

    def _session(self, request: Request) -> Session:
        """The visitor's session if this server signed its cookie and it is live, else a new one."""
        for part in request.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == SESSION_COOKIE:
                session = self.policy.session(value)
                if session is not None:
                    return session
        return self.policy.new_session()

    def _page(self, c: _Context, template: str, status: int = 200, **values: Any) -> Reply:
        with self._guard:
            flash = self._flash.pop(c.session.id, None) if c.request.method in ("GET", "HEAD") else None
        writable = self.policy.writable
        signed_in = writable and self.policy.signed_in(c.session)
        html = self.env.get_template(template).render(
            csrf=self.policy.csrf_token(c.session), writable=writable, signed_in=signed_in,
            can_write=writable and signed_in, needs_token=self.policy.token is not None,
            read_only_why=None if writable else self.policy.why_read_only(), flash=flash,
            path=urlsplit(c.request.path).path, **values)
        return Reply(status, html.encode("utf-8"), "text/html; charset=utf-8", SECURITY_HEADERS)


class _Context:
    __slots__ = ("request", "query", "session")

    def __init__(self, request: Request, query: dict[str, str], session: Session) -> None:
        self.request, self.query, self.session = request, query, session


def _see(where: str) -> Reply:
    """A redirect (303) to ``where``, made safe here for every caller (``_safe_next``)."""
    return Reply(303, b"", "text/plain", (("Location", _safe_next(where)),))


def _safe_next(where: str | None) -> str:
    """Only a path on this server, as ASCII: never ``//host``, a scheme, a backslash,
    or any control character or space (browsers drop TAB and LF, so ``/\t/host``
    is ``//host`` to them, and CR/LF would end the Location header): no open
    redirect, no header injection."""
    if not where or not where.startswith("/") or any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in where):
        return "/"
    if where.startswith("//"):
        return "/"
    return quote(where, safe="/?=&%#:@!$'()*+,;~-._")


def _page_of_action(path: str) -> str:
    """The page a write action's form is on: ``/models/F/promote`` is on ``/models/F``,
    ``/models/F/versions/V/tags`` on ``/models/F/versions/V``; a delete's own page is
    its confirmation page."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] != ["models"] or len(parts) < 2:
        return "/"
    if len(parts) >= 4 and parts[2] == "versions":
        if len(parts) == 5 and parts[4] == "delete":
            return path
        return "/" + "/".join(parts[:4])
    return "/" + "/".join(parts[:2])


def _shown_tags(text: str | None, fallback: dict[str, str]) -> dict[str, str]:
    """The tags a form showed (its ``shown`` field, JSON); a form without it (an older
    page) showed what is there now."""
    if not text:
        return dict(fallback)
    try:
        shown = json.loads(text)
    except ValueError:
        raise UsageError("the form's list of shown tags is not valid; reload the page") from None
    if not isinstance(shown, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in shown.items()):
        raise UsageError("the form's list of shown tags is not valid; reload the page")
    return shown


def _form(body: bytes | None) -> dict[str, str]:
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the form is not UTF-8") from None
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _label(status: str) -> str:
    from ..metadata import STATUS_LABELS

    return STATUS_LABELS.get(status, status)


def _parse(at: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def exact(at: str | None) -> str:
    when = _parse(at or "")
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else (at or "")


def ago(at: str | None, now: _dt.datetime | None = None) -> str:
    """``at`` as a person says it: "just now", "5 minutes ago", "3 days ago"."""
    when = _parse(at or "")
    if when is None:
        return at or "-"
    seconds = ((now or _dt.datetime.now(_dt.timezone.utc)) - when).total_seconds()
    if seconds < 45:
        return "just now"
    for unit, size in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "1 minute ago"


def metric_chart(found: list[Any], chosen: str | None) -> dict[str, Any] | None:
    """An SVG polyline of one metric across the Active versions that carry it."""
    from .. import versions as _versions

    active = sorted((v for v in found if v.status == "active" and v.metrics),
                    key=lambda v: _versions.sort_key(v.version) or ())
    keys = sorted({k for v in active for k in v.metrics})
    if not keys:
        return None
    metric = chosen if chosen in keys else keys[0]
    points = [(v.version, float(v.metrics[metric])) for v in active if metric in v.metrics]
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    span = (high - low) or 1.0
    # A value axis at the left (its lowest and highest values), each point's value above it,
    # each version below: readable without hovering.
    width, height, left, right, top, bottom = 600, 180, 64, 24, 28, 156
    step = (width - left - right) / max(len(points) - 1, 1)
    xy = [(left + 8 + i * step if len(points) > 1 else (left + width - right) / 2,
           bottom - (value - low) / span * (bottom - top)) for i, (_, value) in enumerate(points)]
    return {"metric": metric, "keys": keys, "width": width, "height": height, "left": left, "top": top,
            "bottom": bottom, "line": " ".join(f"{x:.1f},{y:.1f}" for x, y in xy),
            "points": [{"x": x, "y": y, "version": v, "value": value, "label": _number(value)}
                       for (x, y), (v, value) in zip(xy, points)],
            "low": low, "high": high, "low_label": _number(low), "high_label": _number(high)}


def _number(value: float) -> str:
    """A metric as people read it on a chart: 4 significant digits."""
    return f"{value:.4g}"
