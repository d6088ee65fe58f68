"""Output for people and scripts: rich tables on a terminal, plain text when piped, JSON.

stdout carries results only; errors and notes go to stderr. rich is imported
only when a terminal will see a table, so piped commands start fast.
Text from the registry (names, descriptions, logs) is cleaned of control
characters before it reaches a terminal, so it can never move the cursor or
change colours.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

from .metadata import STATUS_LABELS
from .views import json_default

# C0 and C1 controls (but tab and newline) and the bidirectional overrides, each
# mapped to its escape, as the unicode_escape codec writes it (spelt out: that codec's
# import is a quarter of a millisecond of every start). A translate table, not a
# regular expression: compiling that was half a millisecond of every command's start-up.
_ESCAPES = {
    code: "\\r" if code == 0x0D else f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F,
                 *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def clean(text: Any, newlines: bool = False) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), never raw."""
    text = "" if text is None else str(text)
    if not newlines:
        text = text.replace("\n", "\\n").replace("\t", " ")
    return text.translate(_ESCAPES)


def is_terminal() -> bool:
    return sys.stdout.isatty()


_last_shown: Any = None


def emit_json(data: Any) -> None:
    """One JSON document on stdout. A list puts one item on each line: readable, and
    written by json's C encoder (``indent`` would use the slow pure-Python one)."""
    import json

    global _last_shown
    if isinstance(data, list) and data:
        sys.stdout.write("[\n  " + ",\n  ".join(map(item_encoder(), data)) + "\n]\n")
        # Kept until the next: the console script leaves without tearing down
        # (cli._exit), so 10,000 versions shown are not freed one by one (10-20 ms).
        _last_shown = data
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=json_default) + "\n")


def item_encoder() -> Any:
    """A function giving each item's JSON text, as ``json.dumps(item, ensure_ascii=False)``
    does: json's C encoder made once for all (``JSONEncoder.encode`` makes one each
    call, a third of the time of writing 10,000 versions), where Python has it."""
    import json
    from json import encoder

    plain = json.JSONEncoder(ensure_ascii=False, default=json_default)
    if encoder.c_make_encoder is None:
        return plain.encode
    # (the arguments JSONEncoder.iterencode gives it; no markers: these items hold no cycles)
    make = encoder.c_make_encoder(None, json_default, encoder.encode_basestring, None, ": ", ", ",
                                  False, False, True)
    return lambda item: "".join(make(item, 0))


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str, end: str = "\n") -> None:
    """Write a message to stderr, with any URL's credentials hidden."""
    from .errors import redact

    sys.stderr.write(redact(text) + end)
    sys.stderr.flush()


# Statuses as people see them, and their colour on a terminal (rich leaves colour
# out where NO_COLOR is set).
STATUS_STYLES = {STATUS_LABELS["active"]: "green", STATUS_LABELS["failed"]: "red", STATUS_LABELS["deploying"]: "yellow"}


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          no_wrap: Sequence[str] = (), status: str | None = None, words: Sequence[str] = (),
          optional: Sequence[str] = (), shorter: dict[str, Any] | None = None) -> None:
    """A table: rich on a terminal, aligned plain columns with a header when piped.

    Columns named in ``no_wrap`` (versions, IDs, dates, statuses) are never
    broken across lines, whatever the terminal's width; the free-text columns
    wrap instead, and those in ``words`` (aliases, tags) only between their
    words, each kept whole. On a terminal too narrow for every column, the
    ``optional`` ones are left out first, in that order, then the columns of
    ``shorter`` (name -> a function of a cell) are shortened. The ``status``
    column is coloured by status.
    """
    cells = [[clean(c) for c in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = Console()
        shown = list(range(len(columns)))

        def natural() -> int:  # each column's widest cell (a word, for ``words``), and a space between
            return sum(max([len(columns[i])] + [len(w) if columns[i] in words else len(r[i])
                                                for r in cells for w in (r[i].split() or [""])]) + 1 for i in shown)

        for name in optional:
            if natural() > console.width and name in columns:
                shown.remove(list(columns).index(name))
        for name, shorten in (shorter or {}).items():
            if natural() > console.width and name in columns:
                at = list(columns).index(name)
                cells = [[shorten(c) if i == at else c for i, c in enumerate(row)] for row in cells]
        columns = [columns[i] for i in shown]
        cells = [[row[i] for i in shown] for row in cells]
        t = Table(title=escape(title) if title else None, header_style="bold", box=None, pad_edge=False,
                  collapse_padding=True)
        for i, c in enumerate(columns):
            fixed = c in no_wrap or c == status
            longest = max([len(w) for row in cells for w in row[i].split()] + [len(c)]) if c in words else None
            t.add_column(c, no_wrap=fixed, min_width=min(longest, 32) if longest else None,
                         overflow="fold" if c in words else "ellipsis")
        at = list(columns).index(status) if status in columns else -1
        for row in cells:
            styled = [escape(c) for c in row]
            if at >= 0:
                colour = STATUS_STYLES.get(row[at].split(" (")[0])
                if colour:
                    styled[at] = f"[{colour}]{styled[at]}[/{colour}]"
            t.add_row(*styled)
        console.print(t)
        return
    if title:
        out(title)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    for row in [list(columns)] + cells:
        out("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def markdown(text: str) -> None:
    """Markdown rendered by rich on a terminal, with control characters cleaned."""
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(clean(text, newlines=True)))


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``key: value`` lines, the key bold on a terminal."""
    width = max(len(k) for k, _ in pairs)
    styled = is_terminal() and not os.environ.get("NO_COLOR")
    for key, value in pairs:
        label = f"{key + ':':<{width + 1}}"
        out((f"\x1b[1m{label}\x1b[0m" if styled else label) + " " + clean(value))


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def when(iso: str | None) -> str:
    """``2026-11-27T12:00:00.123456Z`` as ``2026-11-27 12:00:00Z``."""
    if not iso:
        return ""
    return iso[:19].replace("T", " ") + "Z"
