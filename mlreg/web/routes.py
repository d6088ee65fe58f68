"""One route table: a path template, the methods it answers and the handler of each.

Everything HTTP says about a path follows from the table, once: a path no route
matches is 404, a method a route does not list is 405 with ``Allow``, ``HEAD``
goes where ``GET`` does, and ``OPTIONS`` answers 204 with ``Allow``. A route has a
name, which the metrics label requests with (never the raw path, whose names and
versions are unbounded).

Templates are datasette's shape: ``/v1/models/{name}/versions/{ref}``; a
``{field}`` matches one path segment (URL-decoded for the handler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import unquote

from .http import HTTPError


@dataclass(frozen=True)
class Route:
    name: str  # for metrics and logs: the template itself
    pattern: re.Pattern[str]
    handlers: dict[str, Callable[..., Any]]  # method -> handler(request, **fields)

    @property
    def allow(self) -> str:
        methods = list(self.handlers)
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        return ", ".join(methods + ["OPTIONS"])


def route(template: str, **handlers: Callable[..., Any]) -> Route:
    """A route from a template and ``GET=..., POST=...`` handlers."""
    pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
    return Route(template, re.compile(pattern), handlers)


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def find(self, method: str, path: str) -> tuple[Route, Callable[..., Any], dict[str, str]] | None:
        """The route, handler and fields for ``method`` on ``path`` (no query); None when no
        route's template matches the path.

        Raises:
            HTTPError: 405 with ``Allow`` for a method the route does not answer; 204 with
                ``Allow`` for OPTIONS.
        """
        for r in self.routes:
            found = r.pattern.match(path)
            if found is None:
                continue
            handler = r.handlers.get("GET" if method == "HEAD" else method)
            if handler is None:
                if method == "OPTIONS":
                    raise HTTPError(204, "", allow=r.allow)
                listed = ", ".join(m for m in r.handlers)
                raise HTTPError(405, f"{method or 'that method'} is not allowed here; use {listed}", allow=r.allow)
            return r, handler, {k: unquote(v) for k, v in found.groupdict().items()}
        return None
