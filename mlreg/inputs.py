"""Turn prediction input into what a model's methods take.

Accepted: a JSON list of rows (``[[5.1, 3.5, 1.4, 0.2]]``), ``{"inputs": [...]}``,
a list of strings (text pipelines), a list of objects keyed by feature name when
the model knows its feature names, and CSV with a header row (``Table``).
numpy and pandas are imported only when input is converted, never at start-up.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from .errors import BadInput


@dataclass(frozen=True)
class Table:
    """Rows read from CSV: column names from the header row, then values."""

    columns: list[str]
    rows: list[list[Any]]


def parse_json(text: str, what: str = "input") -> Any:
    """Raises: BadInput naming where the JSON breaks."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise BadInput(f"{what} is not valid JSON: {e}") from None
    except RecursionError:
        raise BadInput(f"{what} is JSON nested too deeply") from None


def parse_csv(text: str) -> Table:
    """CSV with a header row; cells that read as numbers become numbers.

    Raises:
        BadInput: no header, no rows, or rows of the wrong length.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput("the CSV input is empty; it needs a header row, then rows") from None
    columns = [c.strip() for c in header]
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(columns):
            raise BadInput(f"CSV line {number} has {len(row)} values; the header has {len(columns)}")
        rows.append([_number_or_text(cell) for cell in row])
    if not rows:
        raise BadInput("the CSV input has a header but no rows")
    return Table(columns, rows)


def _number_or_text(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def rows_of(payload: Any) -> list:
    """The list of rows in a predict payload.

    Raises:
        BadInput: neither a list nor ``{"inputs": [...]}``, or empty.
    """
    if isinstance(payload, Table):
        return payload.rows
    if isinstance(payload, dict):
        if "inputs" not in payload:
            raise BadInput('input must be a JSON list of rows or {"inputs": [...]}')
        payload = payload["inputs"]
    if not isinstance(payload, list):
        raise BadInput(f'input must be a JSON list of rows or {{"inputs": [...]}}, not {type(payload).__name__}')
    if not payload:
        raise BadInput("input holds no rows")
    return payload


def feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_number_or_missing(value: Any) -> bool:
    """A number, or ``null``: JSON has no NaN, so null is a missing value (NaN) in a
    numeric row; a model that cannot take NaN says so itself."""
    return value is None or _is_number(value)


def as_frame(X: Any, names: list[str]) -> Any:
    """Numeric rows as a pandas DataFrame with the model's feature names, for a model
    that selects its columns by name (a ColumnTransformer); None without pandas."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas.DataFrame(X, columns=names)


def to_model_input(payload: Any, model: Any) -> Any:
    """Convert a predict payload for ``model``.

    Raises:
        BadInput: with what the model expects (e.g. "expects 4 features, got 3").
    """
    rows = rows_of(payload)
    names = feature_names(model)
    expected = getattr(model, "n_features_in_", None)
    if isinstance(payload, Table):
        if names is not None:
            rows = [dict(zip(payload.columns, row)) for row in payload.rows]
        elif expected is not None and len(payload.columns) != int(expected):
            raise BadInput(f"the model expects {int(expected)} features, got {len(payload.columns)} CSV columns")
    if all(isinstance(row, dict) for row in rows):
        return _named_rows(rows, names)
    if all(isinstance(row, str) for row in rows):
        return rows
    if not all(isinstance(row, list) for row in rows):
        raise BadInput("input must be a list of rows, each a list of values (e.g. [[5.1, 3.5, 1.4, 0.2]])")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise BadInput(f"rows have different lengths ({', '.join(map(str, sorted(widths)))})")
    width = widths.pop()
    if expected is not None and width != int(expected):
        raise BadInput(f"the model expects {int(expected)} features, got {width}")
    values = [v for row in rows for v in row]
    if all(_is_number_or_missing(v) for v in values):
        try:
            import numpy
        except ImportError:  # a custom model in an environment without numpy
            return [[float("nan") if v is None else float(v) for v in row] for row in rows]
        return numpy.asarray(rows, dtype=float)
    if names is not None:
        return _named_rows([dict(zip(names, row)) for row in rows], names)
    bad = next(v for v in values if not _is_number(v))
    raise BadInput(f"the model expects numbers, got {bad!r}")


def _named_rows(rows: list[dict], names: list[str] | None) -> Any:
    """Rows keyed by feature name, in the model's feature order."""
    if names is None:
        raise BadInput("rows keyed by feature name need a model that records its feature names; send lists of values")
    known = set(names)
    for i, row in enumerate(rows):
        # The unknown name first: a misspelt key is the cause, the "missing" one its effect.
        unknown = [str(k) for k in row if k not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], [n for n in names if n not in row] or names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadInput(f"row {i} has feature(s) the model does not know: {', '.join(unknown)}{hint}; "
                           f"it expects {', '.join(names)}")
        missing = [n for n in names if n not in row]
        if missing:
            raise BadInput(f"row {i} lacks feature(s) {', '.join(missing)}; the model expects {', '.join(names)}")
    ordered = [[row[n] for n in names] for row in rows]
    numeric = all(_is_number_or_missing(v) for row in ordered for v in row)
    try:
        import pandas
    except ImportError:
        pandas = None
    if pandas is not None:
        if numeric:  # null as NaN in a float column, whatever else the column holds
            import numpy

            return pandas.DataFrame(numpy.asarray(ordered, dtype=float), columns=names)
        return pandas.DataFrame(ordered, columns=names)
    if numeric:
        import numpy

        return numpy.asarray(ordered, dtype=float)
    raise BadInput("rows with text values keyed by feature name need pandas: pip install 'mlreg[pandas]'")
