"""``mlreg serve``: the registry's HTTP JSON API, on the standard library's threading server.

Why the standard library: it adds no dependency, each connection gets its own
thread (so a slow client holds only its thread, and a socket timeout ends it),
and a scikit-learn prediction holds the GIL for most of a request anyway, so
an ASGI stack would add start-up cost and dependencies without more
throughput. Loaded models are kept per version ID by the registry's predictor
(``mlreg.predictor``, as for the CLI and the Python client); each request
re-reads the model's small ``model.toml`` (a cheap check), so a ``promote``
made by anyone is seen by the next request without a restart or a reload, and
a deleted version answers 404 at once.

Routes (bodies and answers are the CLI's JSON)::

    POST /v1/models/{name}/predict                    the primary
    POST /v1/models/{name}/versions/{version}/predict a version number or ID
    POST /v1/versions/{version_id}/predict           ({version}: a number, ID, @alias, @primary, @latest)
    GET  /v1/models   /v1/models/{name}   /v1/models/{name}/versions   /healthz
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence
from urllib.parse import urlsplit

from . import views
from .errors import BadInput, MlregError, PartlyUnreadable, redact
from .registry import Registry
from .web.http import HTTP_OF_EXIT, HTTPError, Reply, Request, parse_json
from .web.routes import Route, Router, route

DEFAULT_MAX_BODY = 10 * 1024 * 1024
# Paths the JSON API answers (with everything below /v1/ and /v2/); the pages answer the rest.
API_PATHS = frozenset({"/healthz", "/v1", "/v2", "/invocations", "/ping", "/health", "/metrics"})
DEFAULT_TIMEOUT = 30.0


def _json_body(body: bytes | None) -> dict[str, Any]:
    if not body:
        raise BadInput("send a JSON object as the body")
    try:
        data = parse_json(body)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise BadInput(f'the body needs "{key}" ({"a string" if kind is str else kind.__name__})')
    return value


def _optional(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BadInput(f'"{key}" must be a string or null')
    return value


def _expect(data: dict[str, Any], key: str) -> str | None:
    """An ``expect`` guard: absent or null is no guard; "none" expects none, as on the CLI."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f'"{key}" must be a version or null')
    return value


def for_http(message: str, path: str) -> str:
    """An error's words for an HTTP client: the CLI's hints (`mlreg models`) become
    the routes that answer the same question."""
    if "`mlreg " not in message:
        return message
    import re

    parts = urlsplit(path).path.strip("/").split("/")
    model = parts[2] if len(parts) > 2 and parts[:2] == ["v1", "models"] else "{name}"
    message = message.replace("see `mlreg models`", "see GET /v1/models")
    message = re.sub(r"see `mlreg versions [^`]*`", f"see GET /v1/models/{model}/versions", message)
    return re.sub(r"[;(]?\s*(?:see |run |use )?`mlreg [^`]*`\)?", "", message)


class ModelService:
    """The API without sockets: ``handle(method, path, body)`` -> (status, JSON value)."""

    def __init__(self, registry: Registry, policy: Any = None, host: str = "127.0.0.1",
                 model: str | None = None, refresh: float | None = None) -> None:
        from .web.auth import WritePolicy
        from .web.refresh import Pointers, default_refresh

        self.registry = registry
        self.policy = policy if policy is not None else WritePolicy(host)
        self.host = host
        self.pages: Any = None
        self.model = model  # serve --model NAME[@REF]: the model /invocations answers for
        self.router = Router(self._routes())
        # which version each (model, reference) names, re-read once per refresh window
        self.pointers = Pointers(default_refresh(registry.repo.remote) if refresh is None else refresh)
        from .web.metrics import Metrics

        self.metrics = Metrics(registry)
        registry.predictor.on_load = self.metrics.loaded
        self._current = threading.local()  # the request's route, model and version: its metrics' labels
        self.draining = False  # SIGTERM came: readiness answers 503, every answer closes its connection
        self.in_flight = 0  # requests being answered now (what a drain waits for)
        self._in_flight_guard = threading.Lock()

    def handle(self, method: str, path: str, body: bytes | None,
               headers: dict[str, str] | None = None, local: str = "") -> tuple[int, Any]:
        """The JSON API: (status, JSON value). ``headers`` (lower-case names) and ``local``
        (the address the connection arrived at) are what a write is judged by (see
        ``mlreg.web.auth``)."""
        return self._answer(Request(method, path, body, headers or {}, local=local))[:2]

    def _answer(self, request: Request) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        """(status, JSON value, headers) of an API request, counted in the metrics."""
        started = time.perf_counter()
        current = self._current
        current.route, current.model, current.version = "unmatched", "", ""
        status, answer, headers = self._answer_uncounted(request)
        self.metrics.request(current.route, current.model, current.version, status, time.perf_counter() - started)
        return status, answer, headers

    def _served(self, record: Any, rows: int | None = None) -> None:
        """Label this request's metrics with the version that answers (and count its rows)."""
        self._current.model, self._current.version = record.model, record.version
        if rows is not None:
            self.metrics.predicted(record.model, record.version, rows)

    def _answer_uncounted(self, request: Request) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        try:
            answer = self._route(request)
            if isinstance(answer, Reply):  # bytes of its own (binary tensors)
                return answer.status, answer, answer.headers
            return 200, answer, ()
        except HTTPError as e:
            return e.status, {"error": redact(str(e))}, (("Allow", e.allow),) if e.allow else ()
        except MlregError as e:
            return HTTP_OF_EXIT.get(e.exit_code, 500), {"error": redact(for_http(str(e), request.path))}, ()
        except Exception as e:  # one request's failure must not take the server down
            return 500, {"error": redact(f"unexpected error: {type(e).__name__}: {e}")}, ()

    def respond(self, request: Request) -> Reply:
        """Any request: the JSON API below /v1 and /healthz, else the web pages."""
        route = urlsplit(request.path).path
        if route in API_PATHS or route.startswith(("/v1/", "/v2/")):
            status, payload, headers = self._answer(request)
            if isinstance(payload, Reply):
                return payload
            if status == 204:
                return Reply(204, b"", "application/json", headers)
            return Reply(status, json.dumps(payload, ensure_ascii=False, default=views.json_default).encode("utf-8")
                         + b"\n", "application/json", headers)
        if self.pages is None:
            from .web.pages import Pages

            self.pages = Pages(self.registry, self.policy)
        started = time.perf_counter()
        reply = self.pages.respond(request)
        if request.method not in ("GET", "HEAD"):
            self.pointers.forget()  # a page's write (promote, alias, delete) is seen at once here
        self.metrics.request("pages", "", "", reply.status, time.perf_counter() - started)
        return reply

    def _routes(self) -> list[Route]:
        """Every JSON route: the one place a path, its methods and its handler are named."""
        return [
            route("/healthz", GET=self._healthz),
            route("/v1/models", GET=self._models),
            route("/v1/models/{name}", GET=self._model),
            route("/v1/models/{name}/versions", GET=self._versions),
            route("/v1/models/{name}/predict", POST=self._predict_primary),
            route("/v1/models/{name}/versions/{ref}/predict", POST=self._predict_version),
            route("/v1/versions/{version_id}/predict", POST=self._predict_id),
            route("/v1/models/{name}/promote", POST=self._promote),
            route("/v1/models/{name}/description", PUT=self._describe),
            route("/v1/models/{name}/readme", GET=self._readme, PUT=self._set_readme),
            route("/v1/models/{name}/aliases", GET=self._aliases),
            route("/v1/models/{name}/aliases/{alias}", PUT=self._set_alias, DELETE=self._remove_alias),
            route("/v1/models/{name}/versions/{ref}", GET=self._version, DELETE=self._delete),
            route("/v1/models/{name}/versions/{ref}/tags", PUT=self._tags),
            route("/invocations", POST=self._invocations),
            route("/ping", GET=self._ping),
            route("/health", GET=self._ping),
            route("/metrics", GET=self._metrics),
            route("/v2", GET=self._v2_server),
            route("/v2/health/live", GET=self._v2_live),
            route("/v2/health/ready", GET=self._v2_ready),
            route("/v2/models/{name}", GET=self._v2_model),
            route("/v2/models/{name}/versions/{ref}", GET=self._v2_model),
            route("/v2/models/{name}/ready", GET=self._v2_model_ready),
            route("/v2/models/{name}/versions/{ref}/ready", GET=self._v2_model_ready),
            route("/v2/models/{name}/infer", POST=self._v2_infer),
            route("/v2/models/{name}/versions/{ref}/infer", POST=self._v2_infer),
        ]

    def _route(self, request: Request) -> Any:
        path = "/" + urlsplit(request.path).path.strip("/")  # (a trailing slash names the same route)
        found = self.router.find(request.method, path)
        if found is None:
            raise HTTPError(404, f"no route {request.path}; see GET /v1/models")
        matched, handler, fields = found
        self._current.route = matched.name
        return handler(request, **fields)

    # ------------------------------------------------------------ reads

    def _healthz(self, request: Request) -> Any:
        return views.health(self.registry.path)

    def _models(self, request: Request) -> Any:
        try:
            found = self.registry.models()
        except PartlyUnreadable as e:
            found = e.found  # the unreadable ones answer 500 on their own routes
        return [m.to_json() for m in found]

    def _model(self, request: Request, name: str) -> Any:
        return self.registry.overview_json(self.registry.show(name))

    def _versions(self, request: Request, name: str) -> Any:
        return self.registry.versions_json(self.registry.versions(name))

    def _version(self, request: Request, name: str, ref: str) -> Any:
        return self.registry.version_json(self.registry.version(name, ref))

    def _readme(self, request: Request, name: str) -> Any:
        from .readme import sha256

        text = self.registry.readme(name)
        return views.readme(self.registry.model(name).record.name, text, sha256(text))

    def _aliases(self, request: Request, name: str) -> Any:
        return [a.to_json() for a in self.registry.aliases(name)]

    # ------------------------------------------------------------ predictions

    def _callable(self, name: str, ref: str | None = None) -> Any:
        """The Active version a prediction of ``name`` (at ``ref``, else its primary) uses,
        as read at most ``--refresh`` seconds ago (``web.refresh``)."""
        return self.pointers.resolve((name, ref), lambda: self.registry.callable_version(name, ref))

    def _predict_primary(self, request: Request, name: str) -> Any:
        return self._predict(self._callable(name), request)

    def _predict_version(self, request: Request, name: str, ref: str) -> Any:
        return self._predict(self._callable(name, ref), request)

    def _predict_id(self, request: Request, version_id: str) -> Any:
        def read() -> Any:
            record = self.registry.version_by_id(version_id)
            return self.registry.callable_version(record.model, record.version_id)

        return self._predict(self.pointers.resolve(("", version_id), read), request)

    # ------------------------------------------------------------ writes (SPEC §9)

    def _write(self, request: Request, fn: Any) -> Any:
        """A write: allowed by the write policy (``mlreg.web.auth``), its JSON body given to ``fn``."""
        from .web.auth import Denied

        try:
            self.policy.check_api_write(request.headers, self.host, request.local, request.method)
        except Denied as e:
            raise HTTPError(e.status, str(e)) from None
        try:
            return fn(_json_body(request.body) if request.body else {})
        finally:
            self.pointers.forget()  # this replica sees its own writes at once

    def _promote(self, request: Request, name: str) -> Any:
        return self._write(request, lambda b: self.registry.promote(
            name, _field(b, "version", str), expect_primary=_expect(b, "expect_primary")).to_json())

    def _describe(self, request: Request, name: str) -> Any:
        return self._write(request, lambda b: self.registry.describe(name, _field(b, "description", str)).to_json())

    def _set_readme(self, request: Request, name: str) -> Any:
        reg = self.registry
        return self._write(request, lambda b: {
            "model": reg.model(name).record.name,
            "readme_sha256": reg.set_readme(name, _field(b, "readme", str), _optional(b, "expect_sha256"))})

    def _set_alias(self, request: Request, name: str, alias: str) -> Any:
        return self._write(request, lambda b: self.registry.set_alias(
            name, alias, _field(b, "version", str), expect=_expect(b, "expect")).to_json())

    def _remove_alias(self, request: Request, name: str, alias: str) -> Any:
        return self._write(request, lambda b: self.registry.remove_alias(name, alias).to_json())

    def _delete(self, request: Request, name: str, ref: str) -> Any:
        return self._write(request, lambda b: self.registry.delete(name, ref).to_json())

    def _tags(self, request: Request, name: str, ref: str) -> Any:
        def tags(b: dict[str, Any]) -> Any:
            to_set = b.get("set") or {}
            remove = b.get("remove") or []
            if not isinstance(to_set, dict) or not isinstance(remove, list) or \
                    not all(isinstance(k, str) for k in remove):
                raise BadInput('send {"set": {KEY: VALUE}, "remove": [KEY]}')
            return self.registry.tag(name, ref, {str(k): v for k, v in to_set.items()}, remove).to_json()

        return self._write(request, tags)

    def _predict(self, record: Any, request: Request) -> dict[str, Any]:
        """mlreg's predict answer; the body in mlreg's form or MLflow's (``web.scoring``)."""
        from .web.scoring import payload

        rows, method = payload(request.body or b"", request.headers.get("content-type", ""))
        self._served(record)
        answer = self.registry.predictor.predict(record, rows, method)
        self._served(record, len(answer["predictions"]))
        return answer

    # ------------------------------------------------------------ MLflow's scoring server

    def _invocations(self, request: Request) -> Any:
        """``POST /invocations``: the model ``serve --model NAME[@REF]`` names, MLflow's answer."""
        if self.model is None:
            raise HTTPError(404, "/invocations answers for one model: start the server with --model NAME[@REF]")
        name, _, ref = self.model.partition("@")
        return views.mlflow_predictions(self._predict(self._callable(name, ref or None), request)["predictions"])

    def _ping(self, request: Request) -> Any:
        return views.ping()

    def _metrics(self, request: Request) -> Reply:
        from .web.metrics import CONTENT_TYPE

        return Reply(200, self.metrics.exposition(), CONTENT_TYPE)

    # ------------------------------------------------------------ the Open Inference Protocol (V2)

    def _v2_server(self, request: Request) -> Any:
        from . import __version__

        return views.v2_server(__version__)

    def _v2_live(self, request: Request) -> Any:
        return views.v2_live()

    def _v2_ready(self, request: Request) -> Any:
        if self.draining:
            raise HTTPError(503, "this server is draining (it got SIGTERM): send new requests elsewhere")
        return views.v2_ready()

    def begin(self) -> None:
        with self._in_flight_guard:
            self.in_flight += 1

    def end(self) -> None:
        with self._in_flight_guard:
            self.in_flight -= 1

    def drained(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the requests in flight to be answered; whether they were."""
        deadline = time.monotonic() + seconds
        while self.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.in_flight <= 0

    def _v2_loaded(self, name: str, ref: str | None) -> tuple[Any, Any]:
        record = self._callable(name, ref)
        self._served(record)
        return record, self.registry.predictor.model_for(record)

    def _v2_model(self, request: Request, name: str, ref: str | None = None) -> Any:
        from .predict import METHODS

        record, model = self._v2_loaded(name, ref)
        active = [v.version for v in self.registry.versions(name, "active")]
        return views.v2_model(record, active, [m for m in METHODS if callable(getattr(model, m, None))])

    def _v2_model_ready(self, request: Request, name: str, ref: str | None = None) -> Any:
        record, _ = self._v2_loaded(name, ref)
        return views.v2_model_ready(record)

    def _v2_infer(self, request: Request, name: str, ref: str | None = None) -> Reply:
        from .inputs import Table
        from .predict import call_raw
        from .web.oip import model_input, outputs_asked, read_request, response

        infer = read_request(request.body or b"", request.headers)
        rows = model_input(infer)
        record, model = self._v2_loaded(name, ref)
        results = [(method, binary, call_raw(model, rows, method)) for method, binary in outputs_asked(infer)]
        self._served(record, len(rows.rows) if isinstance(rows, Table) else len(rows))
        body, headers = response(record.model, record.version, infer.get("id"), results)
        return Reply(200, body, "application/json" if not headers else "application/octet-stream",
                     tuple(headers.items()))


class _DeadlineReader(io.RawIOBase):
    """A socket read under one deadline for a whole request.

    A per-read timeout never drops a client that sends a byte every few
    seconds; with enough of them every thread was taken and /healthz stopped
    answering. Each read here gets only the time left until the request's
    deadline, which ``Handler`` sets as each request begins.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = time.monotonic() + DEFAULT_TIMEOUT

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took longer than --timeout")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Writer(io.BufferedIOBase):
    """Answers go out whole (``sendall``), as the standard library's own writer does."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sock.sendall(data)
        return len(data)


def make_handler(service: ModelService, max_body: int, timeout: float, access_log: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        service: ModelService  # set below: what serves its requests
        protocol_version = "HTTP/1.1"
        # Answer a request line too malformed to name a version with headers
        # too (the default, HTTP/0.9, would send the JSON body alone).
        default_request_version = "HTTP/1.1"
        server_version = "mlreg"
        # Set before parse_request runs, so that answering a malformed request
        # line (which never sets them) does not fail in log_request.
        command: str | None = None
        path = ""
        requestline = ""

        def setup(self) -> None:
            self.connection = self.request
            # Headers and body leave in two writes; without this, Nagle's algorithm
            # and the client's delayed ACK add about 40 ms to every response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._reader = _DeadlineReader(self.connection)
            self.rfile = io.BufferedReader(self._reader)
            self.wfile = _Writer(self.connection)  # type: ignore[assignment]

        def handle_one_request(self) -> None:
            # The whole request (line, headers and body) must arrive within --timeout
            # of its start; an idle keep-alive connection gets the same time.
            self._reader.deadline = time.monotonic() + timeout
            self.command, self.path, self.requestline = None, "", ""
            try:
                super().handle_one_request()
            except TimeoutError:
                self.close_connection = True

        def do_GET(self) -> None:
            self._serve(None)

        def _with_body(self) -> None:
            length = self.headers.get("Content-Length")
            if length is None and self.headers.get("Transfer-Encoding") is None:
                self._serve(b"")  # no body (RFC 9112: neither header means none)
                return
            if length is None:
                self._send(411, {"error": "send the body with a Content-Length (chunked bodies are not read)"},
                           close=True)
                return
            if not (length.isascii() and length.strip().isdigit()):
                self._send(400, {"error": "Content-Length must be a number of bytes"}, close=True)
                return
            if int(length) > max_body:
                self._send(413, {"error": f"the body is {length} bytes; the limit is {max_body} (--max-body)"}, close=True)
                return
            self._serve(self.rfile.read(int(length)))

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _with_body

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, PROPFIND, ...) is routed too: a known path
            # answers 405 with Allow, an unknown one 404; never 501.
            if name.startswith("do_") and name[3:].isascii() and name[3:].isalpha():
                return self._with_body
            raise AttributeError(name)

        def do_HEAD(self) -> None:
            self._serve(None)

        def _serve(self, body: bytes | None) -> None:
            service.begin()
            try:
                self._serve_counted(body)
            finally:
                service.end()
                if service.draining:
                    self.close_connection = True

        def _serve_counted(self, body: bytes | None) -> None:
            self._started = time.perf_counter()
            self.connection.settimeout(timeout)  # the answer gets its own time, not what is left
            if self.path.startswith("/v1/"):  # the hot path: no header copy for a predict
                route = self.path.split("?", 1)[0]
                if self.command == "POST" and route.endswith("/predict"):
                    status, payload = service.handle(self.command, self.path, body,
                                                     {"content-type": self.headers.get("Content-Type", "")})
                    self._send(status, payload)
                    return
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = service.respond(Request(self.command or "", self.path, body, headers,
                                            self.connection.getsockname()[0]))
            self._send_reply(reply)

        def _send_reply(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers:
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        def _send(self, status: int, payload: Any, close: bool = False) -> None:
            data = json.dumps(payload, ensure_ascii=False, default=views.json_default).encode("utf-8") + b"\n"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Every answer is JSON, also for a malformed request or an unknown method."""
            try:
                self._send(code, {"error": message or self.responses.get(code, ("error",))[0]}, close=True)
            except OSError:
                self.close_connection = True

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if access_log:
                took = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
                shown = self.requestline if self.command is None else f"{self.command} {self.path}"
                sys.stderr.write(f"{self.address_string()} {shown[:200]!r} {code} {took:.1f}ms\n")

        def log_error(self, format: str, *args: Any) -> None:
            if access_log:
                sys.stderr.write(f"{self.address_string()} error: {(format % args)[:300]}\n")

    Handler.service = service
    return Handler


class Server(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` at once and at most
    ``max_per_client`` from one client address, so that one client (or a few slow
    ones) can never take every thread. A connection past either limit is answered
    503 with ``Retry-After`` once its request has been read (a client still sending
    its body would otherwise see a broken pipe, not the answer), then closed."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    max_connections = 64
    max_per_client = 32
    REFUSING = 16  # connections being answered 503 at once; past that, closed at once
    REFUSE_WITHIN = 2.0  # seconds a refused client has to send its request

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._refusing = threading.BoundedSemaphore(self.REFUSING)
        self._per_client: dict[str, int] = {}
        self._count_guard = threading.Lock()

    def _take(self, client: str) -> str | None:
        """Take a slot for ``client``; None, or why there is none."""
        with self._count_guard:
            if self._per_client.get(client, 0) >= self.max_per_client:
                return f"too many connections from {client} at once (at most {self.max_per_client}); try again"
            if not self._slots.acquire(blocking=False):
                return "too many connections at once; try again"
            self._per_client[client] = self._per_client.get(client, 0) + 1
            return None

    def _give_back(self, client: str) -> None:
        with self._count_guard:
            left = self._per_client.get(client, 1) - 1
            if left > 0:
                self._per_client[client] = left
            else:
                self._per_client.pop(client, None)
            self._slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        why = self._take(client_address[0])
        if why is not None:
            if self._refusing.acquire(blocking=False):
                threading.Thread(target=self._refuse, args=(request, why), daemon=True).start()
            else:
                self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def _refuse(self, request: Any, why: str) -> None:
        """Read the request (within ``REFUSE_WITHIN``, a body up to 1 MiB), then answer 503."""
        try:
            deadline = time.monotonic() + self.REFUSE_WITHIN
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536 and time.monotonic() < deadline:
                    request.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = request.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and value.strip().isdigit():
                        length = min(int(value.strip()), 1 << 20)
                left = length - len(body)
                while left > 0 and time.monotonic() < deadline:
                    request.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = request.recv(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
            answer = json.dumps({"error": why}).encode() + b"\n"
            with contextlib.suppress(OSError):
                request.settimeout(self.REFUSE_WITHIN)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(answer), answer))
            self.shutdown_request(request)
        finally:
            self._refusing.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._give_back(client_address[0])


def make_server(registry: Registry, host: str = "127.0.0.1", port: int = 8080,
                max_body: int = DEFAULT_MAX_BODY, timeout: float = DEFAULT_TIMEOUT,
                access_log: bool = True, max_connections: int = 64, token: str | None = None,
                read_only: bool = False, allow_hosts: Sequence[str] = (),
                max_per_client: int | None = None, model: str | None = None,
                refresh: float | None = None) -> Server:
    """A server bound to ``host:port`` (port 0 picks a free one); call ``serve_forever``.
    ``model`` (``NAME[@REF]``) is the model ``POST /invocations`` answers for; ``refresh``
    how many seconds the version a request names is kept (``web.refresh``; None: the
    registry's default).

    Raises:
        RegistryNotFound, FormatTooNew: the registry is missing or too new.
        OSError: the address is in use or not available.
    """
    # Fail now, not on the first request, when the registry is unusable; one
    # model's bad metadata only fails the requests about that model.
    registry.check()
    from .web.auth import WritePolicy

    service = ModelService(registry, WritePolicy(host, token, read_only, allow_hosts), host, model,
                           refresh)
    per_client = max_per_client if max_per_client is not None else max(1, max_connections // 2)
    server_class = type("Server", (Server,), {"max_connections": max_connections, "max_per_client": per_client})
    return server_class((host, port), make_handler(service, max_body, timeout, access_log))
