"""A README as HTML that no script runs from (SPEC §9).

markdown-it-py (already installed with rich) renders CommonMark with raw HTML
turned off, so ``<script>``, ``<img onerror=...>`` and every other tag in a
README come out as text; its link check refuses ``javascript:``, ``vbscript:``,
``file:`` and ``data:`` URLs (but images of data:image/...). The pages also
send a Content-Security-Policy that allows no inline script, a second wall
should anything slip through.
"""

from __future__ import annotations

from typing import Any

_renderer: Any = None


def render_markdown(text: str) -> str:
    global _renderer
    if _renderer is None:
        from markdown_it import MarkdownIt

        _renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    return _renderer.render(text or "")
